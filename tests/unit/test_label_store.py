"""The label store contract, run against the embedded SQLite store and, when MONGO_URI names a server (a replica
set or a standalone mongod), against MongoDB with the same assertions."""

import os
import uuid
from datetime import UTC, datetime

import pytest

from stores.labels import EmbeddedLabelStore, MongoLabelStore


def doc(problem_id: str, label: str, **extra) -> dict:
    return {"_id": f"{problem_id}@v1", "problem_id": problem_id, "labels": [label], "run_id": "r1"} | extra


@pytest.fixture(params=["embedded", pytest.param("mongo", marks=pytest.mark.integration)])
def store(request, tmp_path):
    if request.param == "embedded":
        store = EmbeddedLabelStore.open(str(tmp_path / "labels"))
        yield store
        store.close()
        return
    uri = os.environ.get("MONGO_URI")
    if not uri:
        pytest.skip("MONGO_URI is not set: no MongoDB server to test against")
    from pymongo import MongoClient

    client = MongoClient(uri, serverSelectionTimeoutMS=5000)
    name = f"mathlabel_test_{uuid.uuid4().hex[:8]}"
    store = MongoLabelStore(client[name])
    store.ensure_indexes()
    yield store
    client.drop_database(name)


def test_upsert_is_keyed_by_id_and_keeps_created_at(store):
    first = store.upsert_labels([doc("p1", "9수01-01"), doc("p2", "9수01-02")])
    created = store.get_label("p1@v1")["created_at"]
    again = store.upsert_labels([doc("p1", "9수01-03")])
    assert (first.inserted, first.updated, again.inserted, again.updated) == (2, 0, 0, 1)
    assert store.count_labels() == 2 and store.ping()
    stored = store.get_label("p1@v1")
    assert stored["labels"] == ["9수01-03"] and stored["created_at"] == created
    assert isinstance(stored["updated_at"], datetime) and stored["updated_at"].tzinfo is not None


def test_store_survives_reopening(tmp_path):
    EmbeddedLabelStore.open(str(tmp_path / "labels")).upsert_labels([doc("p1", "9수01-01")])
    reopened = EmbeddedLabelStore.open(str(tmp_path / "labels"))
    assert [d["problem_id"] for d in reopened.find_labels({"run_id": "r1"})] == ["p1"]


def test_get_labels_returns_only_stored_documents(store):
    store.upsert_labels([doc(f"p{i}", "9수01-01") for i in range(1200)])
    found = store.get_labels(["p3@v1", "p1199@v1", "missing@v1", "p3@v1"])
    assert sorted(found) == ["p1199@v1", "p3@v1"] and found["p3@v1"]["problem_id"] == "p3"


def test_queries_follow_mongodb_semantics(store):
    store.upsert_labels(
        [
            doc("a", "x", decision={"status": "auto_accepted"}, score=0.9),
            doc("b", "x", decision={"status": "needs_review"}, score=0.4, run_id="r2"),
            doc("c", "x", score=None),
        ]
    )

    def ids(query):
        return sorted(d["problem_id"] for d in store.find_labels(query))

    assert ids({"decision.status": "needs_review"}) == ["b"]
    assert ids({"decision.status": {"$ne": "needs_review"}}) == ["a", "c"]  # a missing field is "not equal"
    assert ids({"run_id": {"$in": ["r1"]}, "score": {"$gte": 0.5}}) == ["a"]
    assert ids({"score": None}) == ["c"] and ids({"decision": {"$exists": False}}) == ["c"]
    assert ids({"problem_id": {"$nin": ["a", "b"]}}) == ["c"]
    assert ids({"updated_at": {"$lte": datetime.now(UTC)}}) == ["a", "b", "c"]
    assert store.count_labels({"run_id": "r2"}) == 1


def test_regex_matches_a_string_or_any_string_of_an_array(store):
    store.upsert_labels(
        [
            doc("a", "x", decision={"reasons": ["top score 0.40 is below", "the record's labels say 9수01-01"]}),
            doc("b", "x", decision={"reasons": ["top score 0.90 ≥ 0.60"]}, curriculum="kr-2022,kr-2015"),
            doc("c", "x", curriculum="kr-2015"),
        ]
    )

    def ids(query):
        return sorted(d["problem_id"] for d in store.find_labels(query))

    assert ids({"decision.reasons": {"$regex": "record's labels"}}) == ["a"]
    assert ids({"decision.reasons": {"$regex": "TOP SCORE", "$options": "i"}}) == ["a", "b"]
    assert ids({"decision.reasons": {"$regex": "TOP SCORE"}}) == []
    assert ids({"curriculum": {"$regex": "(^|,)kr-2015(,|$)"}}) == ["b", "c"]
    assert ids({"_id": {"$regex": "^c@"}}) == ["c"]


def test_sort_and_limit(store):
    scores = [("a", 0.5, 3), ("b", 0.9, 1), ("c", 0.1, 4), ("d", None, 2)]
    store.upsert_labels([doc(p, "x", score=s, at=datetime(2025, 1, day, tzinfo=UTC)) for p, s, day in scores])

    def ids(**options):
        return [d["problem_id"] for d in store.find_labels({}, **options)]

    assert ids(sort=[("score", -1)]) == ["b", "a", "c", "d"]
    assert ids(sort=[("score", 1)], limit=2) == ["d", "c"]  # a missing value sorts first, as in MongoDB
    assert ids(sort=[("at", -1)]) == ["c", "a", "d", "b"]
    assert ids(limit=3) and len(ids(limit=3)) == 3
    with pytest.raises(ValueError, match="label store"):
        store.find_labels({}, sort=[("score", 0)])


@pytest.mark.parametrize(
    "query",
    [
        {"$or": [{"run_id": "r1"}]},
        {"labels": ["x"]},
        {"run_id": {"$regex": "r", "$options": "u"}},
        {"run_id": {"$regex": "("}},
        {"run_id": {"$options": "i"}},
        {"a'); DROP": 1},
    ],
)
def test_queries_it_cannot_answer_like_mongodb_are_refused(tmp_path, query):
    store = EmbeddedLabelStore.open(str(tmp_path / "labels"))
    with pytest.raises(ValueError, match="label store"):
        store.find_labels(query)


def test_a_failed_batch_writes_nothing(tmp_path):
    store = EmbeddedLabelStore.open(str(tmp_path / "labels"))
    with pytest.raises(TypeError, match="cannot store"):
        store.upsert_labels([doc("ok", "x"), doc("bad", "x", blob=object())])
    assert store.count_labels() == 0


def test_the_reader_reads_and_refuses_writes(store):
    store.upsert_labels([doc("p1", "x")])
    reader = store.reader()
    assert [d["problem_id"] for d in reader.find_labels({"run_id": "r1"})] == ["p1"]
    with pytest.raises(Exception, match=r"read-only|readonly"):
        reader.upsert_labels([doc("p2", "x")])
    assert store.count_labels() == 1
