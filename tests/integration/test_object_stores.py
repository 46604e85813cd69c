"""The ObjectStore protocol, run against every implementation that can start here (S3 through moto's server); the
local store's file modes are tested in tests/unit/test_object_stores.py."""

import pytest

from stores.errors import StoreError
from stores.objects import LocalObjectStore, ObjectStore, S3ObjectStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    from mathlabel.services import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, monkeypatch) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    import boto3

    endpoint = request.getfixturevalue("moto_endpoint")
    for key, value in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}.items():
        monkeypatch.setenv(key, value)
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    bucket = f"b{abs(hash(str(tmp_path))) % 10**8}"
    client.create_bucket(Bucket=bucket)
    return S3ObjectStore(client, bucket=bucket, prefix="mathlabel")


def test_write_read_list_and_size(store):
    store.write_bytes("incoming/a.jsonl", b"{}\n")
    store.write_bytes("incoming/sub/b.csv", b"id,text\n")
    store.write_bytes("processed/c.jsonl", b"x")
    assert store.list("incoming") == ["incoming/a.jsonl", "incoming/sub/b.csv"]
    assert store.read_bytes("incoming/sub/b.csv") == b"id,text\n"
    assert store.size("incoming/a.jsonl") == 3
    assert store.list("incoming/a.jsonl") == ["incoming/a.jsonl"]
    assert store.list("nothing-here") == []


def test_move_leaves_exactly_one_copy(store):
    store.write_bytes("incoming/a.jsonl", b"data")
    store.move("incoming/a.jsonl", "processing/run1/a.jsonl")
    assert not store.exists("incoming/a.jsonl")
    assert store.read_bytes("processing/run1/a.jsonl") == b"data"


def test_missing_objects_raise_store_errors(store):
    with pytest.raises(StoreError):
        store.read_bytes("incoming/none.jsonl")
    with pytest.raises(StoreError):
        store.move("incoming/none.jsonl", "processing/x.jsonl")


@pytest.mark.parametrize("key", ["../escape", "/abs/path", "", "folder/"])
def test_unsafe_keys_are_refused(store, key):
    with pytest.raises(StoreError, match="invalid object key"):
        store.write_bytes(key, b"x")


def test_uri_names_the_object(store):
    store.write_bytes("reports/r.json", b"{}")
    assert store.uri("reports/r.json").endswith("reports/r.json")


def test_modified_time_is_when_the_object_was_written(store):
    import time

    before = time.time()
    store.write_bytes("incoming/a.jsonl", b"x")
    assert before - 5 <= store.modified("incoming/a.jsonl") <= time.time() + 5
    with pytest.raises(StoreError):
        store.modified("incoming/none.jsonl")


def test_an_object_is_claimed_by_one_claimant_only(store):
    store.write_bytes("incoming/a.jsonl", b"a")
    assert store.claim("incoming/a.jsonl", "processing/run-1/a.jsonl", "run-1") is True
    assert store.claim("incoming/a.jsonl", "processing/run-2/a.jsonl", "run-2") is False  # gone: skipped, no error
    assert store.list("processing") == ["processing/run-1/a.jsonl"]
    assert store.read_bytes("processing/run-1/a.jsonl") == b"a"
    assert store.unsafe("incoming") == {}  # plain objects only


def test_create_writes_a_key_once_only(store):
    assert store.create("reports/r1.alert.json", b"first") is True
    assert store.create("reports/r1.alert.json", b"second") is False  # already there: left as it was
    assert store.read_bytes("reports/r1.alert.json") == b"first"
    assert store.list("reports") == ["reports/r1.alert.json"]  # no temporary file left beside it


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_a_claim_marker_left_by_a_dead_claimant_is_finished_by_its_retry_or_taken_over_once_stale(store, monkeypatch):
    import stores.objects

    for key in ("incoming/a.jsonl", "incoming/b.jsonl"):
        store.write_bytes(key, b"x")
        assert store._mark(store._marker(key, store._head(key)), "run-1")  # run-1 died here, before moving
    assert store.claim("incoming/a.jsonl", "processing/run-2/a.jsonl", "run-2") is False  # run-1 holds it
    assert store.claim("incoming/a.jsonl", "processing/run-1/a.jsonl", "run-1") is True  # run-1's retry finishes
    monkeypatch.setattr(stores.objects, "STALE_CLAIM_SECONDS", 0)
    assert store.claim("incoming/b.jsonl", "processing/run-2/b.jsonl", "run-2") is True  # stale: taken over
    assert store.list("processing") == ["processing/run-1/a.jsonl", "processing/run-2/b.jsonl"]  # markers gone
