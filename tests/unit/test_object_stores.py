"""The local object store's files (the ObjectStore protocol runs against every store in
tests/integration/test_object_stores.py)."""

import pytest

from stores.errors import StoreError
from stores.objects import LocalObjectStore


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)], ids=["umask-022", "umask-027"])
def test_local_objects_get_the_mode_the_umask_gives(tmp_path, umask, mode):
    import os

    store = LocalObjectStore(tmp_path / "objects")
    old = os.umask(umask)
    try:
        store.write_bytes("reports/r.json", b"{}")
        store.write_bytes("reports/r.json", b"{}")  # an overwrite too
    finally:
        os.umask(old)
    assert (tmp_path / "objects/reports/r.json").stat().st_mode & 0o777 == mode


@pytest.fixture
def linked(tmp_path):
    """A store whose incoming/ holds a plain file and links: to a file outside, a folder outside, /etc/hostname, and
    a file inside the store."""
    import os

    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "secret.txt").write_text("outside the store")
    (outside / "folder" / "inner.txt").write_text("also outside")
    store = LocalObjectStore(tmp_path / "objects")
    store.ensure_layout()
    store.write_bytes("incoming/good.jsonl", b"{}\n")
    store.write_bytes("processed/old.jsonl", b"old")
    incoming = tmp_path / "objects" / "incoming"
    os.symlink(outside / "secret.txt", incoming / "secret.jsonl")
    os.symlink(outside / "folder", incoming / "folder")
    os.symlink("/etc/hostname", incoming / "hostname.csv")
    os.symlink("../processed/old.jsonl", incoming / "inside.jsonl")
    return store, outside


def test_links_are_never_objects_and_never_followed(linked):
    store, outside = linked
    assert store.list("incoming") == ["incoming/good.jsonl"]
    assert store.unsafe("incoming") == {
        "incoming/folder": f"a symbolic link (to {str(outside / 'folder')!r})",
        "incoming/hostname.csv": "a symbolic link (to '/etc/hostname')",
        "incoming/inside.jsonl": "a symbolic link (to '../processed/old.jsonl')",
        "incoming/secret.jsonl": f"a symbolic link (to {str(outside / 'secret.txt')!r})",
    }
    for key in ("incoming/secret.jsonl", "incoming/hostname.csv", "incoming/inside.jsonl", "incoming/folder/inner.txt"):
        assert not store.exists(key)
        for refused in (store.read_bytes, store.size, store.modified, lambda k: store.move(k, "processing/r/x")):
            with pytest.raises(StoreError, match=r"symbolic link|no object"):
                refused(key)
    with pytest.raises(StoreError, match="symbolic link"):
        store.read_bytes("incoming/folder/inner.txt")  # through a linked folder
    with pytest.raises(StoreError, match="symbolic link"):
        store.claim("incoming/secret.jsonl", "processing/r/secret.jsonl", "r")
    with pytest.raises(StoreError, match="symbolic link"):
        store.list("incoming/folder")
    assert store.list("processing") == []


def test_deleting_or_overwriting_a_link_never_touches_its_target(linked):
    store, outside = linked
    with pytest.raises(StoreError, match="symbolic link"):
        store.delete("incoming/folder/inner.txt")
    with pytest.raises(StoreError, match="symbolic link"):
        store.write_bytes("incoming/folder/new.txt", b"x")
    store.delete("incoming/secret.jsonl")
    store.delete("incoming/folder")
    store.write_bytes("incoming/inside.jsonl", b"new")  # replaces the link itself
    assert (outside / "secret.txt").read_text() == "outside the store"
    assert sorted(p.name for p in (outside / "folder").iterdir()) == ["inner.txt"]
    assert (outside / "folder" / "inner.txt").read_text() == "also outside"
    assert store.read_bytes("processed/old.jsonl") == b"old"
    assert store.read_bytes("incoming/inside.jsonl") == b"new"
    assert store.unsafe("incoming") == {"incoming/hostname.csv": "a symbolic link (to '/etc/hostname')"}


def test_a_claim_lost_to_another_claimant_is_false_not_an_error(tmp_path):
    store = LocalObjectStore(tmp_path / "objects")
    store.write_bytes("incoming/a.jsonl", b"a")
    assert store.claim("incoming/a.jsonl", "processing/run-1/a.jsonl", "run-1") is True
    assert store.claim("incoming/a.jsonl", "processing/run-2/a.jsonl", "run-2") is False
    assert store.list("processing") == ["processing/run-1/a.jsonl"]
