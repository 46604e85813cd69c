"""The local object store's files (the ObjectStore protocol runs against every store in
tests/integration/test_object_stores.py)."""

import pytest

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
