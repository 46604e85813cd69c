"""The label store contract, run against the embedded SQLite store and, when MONGO_URI names a server (a replica
set or a standalone mongod), against MongoDB with the same assertions."""

import json
import sqlite3
import threading
from datetime import UTC, datetime

import pytest

from labeling.documents import review_queue
from stores.errors import LabelNotFound, StoreError, VersionConflict
from stores.labels import SCHEMA_VERSION, EmbeddedLabelStore, MongoLabelStore
from tests.label_stores import label_store


def doc(problem_id: str, label: str, **extra) -> dict:
    return {"_id": f"{problem_id}@v1", "problem_id": problem_id, "labels": [label], "run_id": "r1"} | extra


@pytest.fixture(params=["embedded", pytest.param("mongo", marks=pytest.mark.integration)])
def store(request, tmp_path):
    with label_store(request.param, tmp_path) as store:
        yield store


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


def _indexes(store) -> set[str]:
    if isinstance(store, EmbeddedLabelStore):
        rows = store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('labels', 'label_events')"
        )
        return {name for (name,) in rows if not name.startswith("sqlite_autoindex")}
    return (set(store.labels.index_information()) | set(store.events.index_information())) - {"_id_"}


def test_ensure_indexes_is_idempotent_and_covers_the_review_queue(store):
    store.upsert_labels([doc("p1", "x")])
    first = store.ensure_indexes()
    assert store.ensure_indexes() == first and _indexes(store) == set(first)
    assert len(first) == len(set(first)) >= 5
    assert store.count_labels() == 1


def test_a_numeric_part_of_a_field_is_an_array_index(store):
    store.upsert_labels([doc("a", "x", candidates=[{"score": 0.9}, {"score": 0.1}]), doc("b", "x", candidates=[]),
                         doc("c", "x", candidates=[{"score": 0.3}])])  # fmt: skip
    assert sorted(d["problem_id"] for d in store.find_labels({"candidates.0.score": {"$gte": 0.2}})) == ["a", "c"]
    assert [d["problem_id"] for d in store.find_labels({"candidates.1.score": {"$lt": 0.5}})] == ["a"]


def _walk(store, query, **options) -> list[str]:
    """Every page of ``find_page``, checking that each but the last is full."""
    ids, cursor = [], None
    while True:
        page = store.find_page(query, cursor=cursor, **options)
        ids += [d["problem_id"] for d in page.docs]
        if page.cursor is None:
            return ids
        assert len(page.docs) == options["limit"]
        cursor = page.cursor


def test_pages_walk_every_document_once_in_order_with_missing_values_first(store):
    margins = {"a": 0.3, "b": None, "c": 0.1, "d": 0.3, "e": None, "f": 0.0, "g": 0.1}
    store.upsert_labels([doc(p, "x", **({} if m is None else {"margin": m})) for p, m in margins.items()])
    assert _walk(store, {}, key="margin", limit=2) == ["b", "e", "f", "c", "g", "a", "d"]
    assert _walk(store, {}, key="margin", descending=True, limit=3) == ["d", "a", "g", "c", "f", "e", "b"]
    assert _walk(store, {"margin": {"$gte": 0.1}}, key="margin", limit=1) == ["c", "g", "a", "d"]
    assert _walk(store, {}, key="margin", limit=7) == ["b", "e", "f", "c", "g", "a", "d"]  # one full page, no more


def test_a_cursor_only_fits_its_own_order_and_pages_are_bounded(store):
    store.upsert_labels([doc(p, "x", margin=0.5) for p in "abc"])
    cursor = store.find_page({}, key="margin", limit=1).cursor
    assert cursor and store.find_page({}, key="margin", limit=1, cursor=cursor).docs[0]["problem_id"] == "b"
    for options in ({"key": "created_at"}, {"key": "margin", "descending": True}):
        with pytest.raises(ValueError, match="cursor"):
            store.find_page({}, limit=1, cursor=cursor, **options)
    with pytest.raises(ValueError, match="cursor"):
        store.find_page({}, key="margin", limit=1, cursor="not-a-cursor")
    with pytest.raises(ValueError, match="page holds"):
        store.find_page({}, key="margin", limit=0)


def test_values_are_counted_once_per_document(store):
    store.upsert_labels([
        doc("a", "x", decision={"status": "needs_review", "reason_kinds": ["low_score", "llm_concern", "llm_concern"]}),
        doc("b", "x", decision={"status": "needs_review", "reason_kinds": ["low_score"]}),
        doc("c", "x", decision={"status": "auto_accepted", "reason_kinds": ["confident"]}),
        doc("d", "x", decision={"status": "needs_review", "reason_kinds": []}),
    ])  # fmt: skip
    review = {"decision.status": "needs_review"}
    assert store.count_values("decision.reason_kinds", review) == {"low_score": 2, "llm_concern": 1}
    assert store.count_values("decision.status") == {"needs_review": 3, "auto_accepted": 1}
    assert store.count_values("run_id", {"problem_id": "a"}) == {"r1": 1}


def test_counts_from_a_virtual_column_follow_json_each(tmp_path):
    """``count_values`` of a field with a virtual column (grouped by it) counts as ``json_each`` over the document."""
    store = EmbeddedLabelStore.open(str(tmp_path / "labels"))
    shapes = [["a", "b", "a"], "a", [], None, [1, True, None, ["x"], {"k": "v"}, 2.5], {"k": "b"}, "[not json", ""]
    store.upsert_labels([doc(f"p{i}", "x", decision={"status": "s", "reason_kinds": v, "other": v})
                         for i, v in enumerate(shapes)] + [doc("none", "x", decision={"status": "s"})])  # fmt: skip
    assert "decision.reason_kinds" in store.generated and "decision.other" not in store.generated
    counted = store.count_values("decision.reason_kinds", {"decision.status": "s"})
    assert counted == store.count_values("decision.other", {"decision.status": "s"})
    assert counted == {"a": 2, "b": 2, 1: 1, 2.5: 1, "[not json": 1, "": 1}


def test_a_file_from_before_the_virtual_columns_gets_them_and_answers_alike(tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    old = sqlite3.connect(folder / "mathlabel.sqlite3")
    old.execute("CREATE TABLE labels (_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, doc TEXT NOT NULL)")
    old.execute("CREATE INDEX labels_run_id ON labels (json_extract(doc, '$.run_id'))")
    old.execute("PRAGMA user_version = 1")
    docs = [_machine("torn", 0.01, 0.5, "low_score"), _machine("sure", 0.6, 0.9, "metadata_conflict"),
            _machine("gone", 0.0, 0.3, "low_score", current=False),
            _machine("r2", 0.2, 0.4, "low_score", run_id="r2")]  # fmt: skip
    rows = [(d["_id"], "2025-01-01T00:00:00+00:00", json.dumps({k: v for k, v in d.items() if k not in ("_id", "at")}
            | {"version": 1, "problem_key": d["problem_id"]})) for d in docs]  # fmt: skip
    old.executemany("INSERT INTO labels VALUES (?, ?, ?)", rows)
    old.commit()
    old.close()

    def answers(store):
        queue = review_queue(store, run_id="r1")
        return [d["problem_id"] for d in queue.docs], queue.total, queue.reasons, store.count_values("run_id")

    before = EmbeddedLabelStore(str(folder / "mathlabel.sqlite3"), read_only=True)
    assert before.generated == {}  # a reader of a file no writable store has opened: json_extract, as before
    store = EmbeddedLabelStore.open(str(folder))
    assert store.generated == EmbeddedLabelStore.GENERATED and store.reader().generated == store.generated
    assert "labels_run_id" not in _indexes(store) and _indexes(store) == set(store.ensure_indexes())
    assert answers(store) == answers(before) == (["torn", "sure"], 2, {"low_score": 1, "metadata_conflict": 1},
                                                 {"r1": 3, "r2": 1})  # fmt: skip


def _machine(problem_id: str, margin: float, score: float, *kinds: str, day: int = 1, **extra) -> dict:
    return doc(problem_id, "9수01-01", margin=margin, candidates=[{"code": "9수01-01", "score": score}],
               decision={"status": "needs_review", "reason_kinds": list(kinds)}, curriculum="kr-2022",
               at=datetime(2025, 1, day, tzinfo=UTC)) | extra  # fmt: skip


def test_the_review_queue_filters_orders_by_uncertainty_and_counts_reasons(store):
    page = {"page": {"page": 1, "crop": "c.png"}, "ocr": {"confidence": 0.7}}
    store.upsert_labels([
        _machine("sure", 0.6, 0.9, "metadata_conflict"),
        _machine("torn", 0.01, 0.5, "low_score", "llm_disagrees"),
        _machine("page", 0.2, 0.4, "low_score", "low_ocr_confidence", input=page),
        _machine("other-run", 0.0, 0.3, "low_score", run_id="r2"),
        _machine("english", 0.0, 0.3, "low_score", curriculum="us-ccss"),
        _machine("reviewed", 0.0, 0.3, "low_score", current=False),  # superseded by a verification
        doc("fine", "x", margin=0.0, decision={"status": "auto_accepted", "reason_kinds": ["confident"]}),
    ])  # fmt: skip

    def ids(**filters):
        return [d["problem_id"] for d in review_queue(store, counts=False, **filters).docs]

    assert ids(curriculum="kr-2022", run_id="r1") == ["torn", "page", "sure"]
    assert ids(curriculum="kr-2022", reason="low_score") == ["other-run", "torn", "page"]
    assert ids(curriculum="kr-2022", source="page") == ["page"]
    assert ids(curriculum="kr-2022", source="text", min_score=0.45) == ["torn", "sure"]
    assert ids(max_score=0.4, run_id="r1", curriculum="kr-2022") == ["page"]
    assert ids(status=None, run_id="r1", curriculum="kr-2022") == ["torn", "page", "sure"]
    assert ids(status="auto_accepted") == ["fine"]
    queue = review_queue(store, curriculum="kr-2022", reason="low_score", limit=2)
    assert queue.total == 3 and len(queue.docs) == 2 and queue.cursor
    assert queue.reasons == {"low_score": 3, "llm_disagrees": 1, "low_ocr_confidence": 1, "metadata_conflict": 1}
    rest = review_queue(store, curriculum="kr-2022", reason="low_score", limit=2, cursor=queue.cursor)
    assert [d["problem_id"] for d in rest.docs] == ["page"] and rest.cursor is None
    with pytest.raises(ValueError, match="source"):
        review_queue(store, source="scan")
    with pytest.raises(ValueError, match="order"):
        review_queue(store, order="random")


def test_the_review_queue_by_age_takes_the_oldest_or_the_newest_first(store):
    store.upsert_labels([_machine("first", 0.5, 0.5)])
    if isinstance(store, EmbeddedLabelStore):  # created_at is the store's clock, to the second: set it apart
        store.conn.execute("UPDATE labels SET created_at = '2020-01-01T00:00:00+00:00'")
    else:
        store.labels.update_many({}, {"$set": {"created_at": datetime(2020, 1, 1, tzinfo=UTC)}})
    store.upsert_labels([_machine("second", 0.1, 0.5), _machine("third", 0.9, 0.5)])
    oldest = [d["problem_id"] for d in review_queue(store, order="oldest").docs]
    assert oldest[0] == "first" and set(oldest[1:]) == {"second", "third"}
    newest = review_queue(store, order="newest", limit=1)
    following = review_queue(store, order="newest", limit=2, cursor=newest.cursor)
    assert [d["problem_id"] for d in newest.docs + following.docs][-1] == "first" and following.cursor is None


# ------------------------------------------------------------------------------ versions, updates and the audit trail


def _twin(store):
    """A second store object on the same file or database, as a second API process has."""
    return EmbeddedLabelStore(store.path) if isinstance(store, EmbeddedLabelStore) else MongoLabelStore(store.db)


def _store_as_before_versions(store, docs: list[dict]) -> None:
    """Write ``docs`` as a store from before versions and problem keys did, and leave it to be migrated."""
    if isinstance(store, EmbeddedLabelStore):
        rows = [(d["_id"], "2025-01-01T00:00:00+00:00", json.dumps({k: v for k, v in d.items() if k != "_id"}))
                for d in docs]  # fmt: skip
        store.conn.executemany("INSERT INTO labels (_id, created_at, doc) VALUES (?, ?, ?)", rows)
        store.conn.execute("PRAGMA user_version = 0")
    else:
        store.labels.insert_many([d | {"created_at": datetime(2025, 1, 1, tzinfo=UTC)} for d in docs])


def _reopen(store):
    return EmbeddedLabelStore(store.path) if isinstance(store, EmbeddedLabelStore) else MongoLabelStore.open(store.db)


OLD_SHAPES = [
    {"_id": "7@v1", "problem_id": "7", "batch_id": "a.jsonl", "labels": ["x"]},  # a text record: namespaced
    {"_id": "scan.pdf#p1-2@v1", "problem_id": "scan.pdf#p1-2", "batch_id": "scan.pdf", "labels": []},  # a page
    {"_id": "q@v1", "problem_id": "q", "labels": []},  # no batch: the id alone
    {"_id": "n@v1", "problem_id": "n", "batch_id": "c.jsonl", "problem_key": None},
    {"_id": "k@v1", "problem_id": "k", "batch_id": "b.jsonl", "problem_key": "kept", "version": 4},
]
MIGRATED = {"7@v1": (1, "a.jsonl#7"), "scan.pdf#p1-2@v1": (1, "scan.pdf#p1-2"), "q@v1": (1, "q"), "k@v1": (4, "kept"),
            "n@v1": (1, "c.jsonl#n")}  # fmt: skip


def test_versions_start_at_one_and_every_upsert_adds_one(store):
    store.upsert_labels([doc("p1", "x"), doc("p2", "x")])
    assert {d["_id"]: d["version"] for d in store.find_labels()} == {"p1@v1": 1, "p2@v1": 1}
    store.upsert_labels([doc("p1", "y", version=7)])  # a version in the document is the store's, not the caller's
    store.upsert_labels([doc("p1", "z"), doc("p3", "x", version=9)])
    assert {d["_id"]: d["version"] for d in store.find_labels()} == {"p1@v1": 3, "p2@v1": 1, "p3@v1": 1}


def test_opening_migrates_documents_from_before_versions(store):
    _store_as_before_versions(store, OLD_SHAPES)
    reopened = _reopen(store)
    migrated = {d["_id"]: (d["version"], d["problem_key"]) for d in reopened.find_labels()}
    assert migrated == MIGRATED
    again = _reopen(store)  # idempotent
    assert {d["_id"]: (d["version"], d["problem_key"]) for d in again.find_labels()} == MIGRATED
    assert again.count_labels({"problem_key": "a.jsonl#7"}) == 1


def test_an_embedded_file_from_before_versions_is_migrated_once(tmp_path):
    folder = tmp_path / "labels"
    folder.mkdir()
    old = sqlite3.connect(folder / "mathlabel.sqlite3")
    old.execute("CREATE TABLE labels (_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, doc TEXT NOT NULL)")
    rows = [(d["_id"], "2025-01-01T00:00:00+00:00", json.dumps({k: v for k, v in d.items() if k != "_id"}))
            for d in OLD_SHAPES]  # fmt: skip
    old.executemany("INSERT INTO labels VALUES (?, ?, ?)", rows)
    old.commit()
    old.close()

    store = EmbeddedLabelStore.open(str(folder))
    assert {d["_id"]: (d["version"], d["problem_key"]) for d in store.find_labels()} == MIGRATED
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert store.count_events() == 0 and store.find_labels()[0]["created_at"] == datetime(2025, 1, 1, tzinfo=UTC)
    # user_version records the migration: a later open scans nothing (a row written behind its back stays as is)
    store.conn.execute("INSERT INTO labels VALUES ('late@v1', '2025-01-01T00:00:00+00:00', '{\"problem_id\": 1}')")
    assert "version" not in EmbeddedLabelStore.open(str(folder)).get_label("late@v1")


def test_update_label_writes_only_on_the_version_it_was_based_on(store):
    store.upsert_labels([doc("p1", "x", decision={"status": "needs_review"})])
    created = store.get_label("p1@v1")["created_at"]
    decision = {"status": "verified", "reviewer": "ana", "at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)}
    updated = store.update_label("p1@v1", {"decision": decision, "labels": ["y"]}, expected_version=1)
    assert updated["version"] == 2 and updated["decision"] == decision and updated["labels"] == ["y"]
    assert updated["problem_id"] == "p1" and updated["created_at"] == created and updated["updated_at"].tzinfo
    assert store.get_label("p1@v1") == updated

    with pytest.raises(VersionConflict) as stale:
        store.update_label("p1@v1", {"labels": ["z"]}, expected_version=1)
    assert stale.value.current == updated and stale.value.expected == 1 and isinstance(stale.value, StoreError)
    assert store.get_label("p1@v1") == updated  # nothing written

    anyway = store.update_label("p1@v1", {"labels": ["z"]}, expected_version=None)
    assert anyway["version"] == 3 and anyway["labels"] == ["z"] and anyway["decision"] == decision

    with pytest.raises(LabelNotFound) as missing:
        store.update_label("nope@v1", {"labels": ["z"]}, expected_version=None)
    assert isinstance(missing.value, LookupError) and isinstance(missing.value, StoreError)
    for changes in ({"version": 9}, {"decision.status": "verified"}, {"_id": "x"}, {"created_at": None}):
        with pytest.raises(ValueError, match="top-level"):
            store.update_label("p1@v1", changes, expected_version=3)
    assert store.get_label("p1@v1")["version"] == 3


def test_of_two_updates_based_on_one_version_exactly_one_wins(store):
    store.upsert_labels([doc("p1", "x")])
    start, outcomes = threading.Barrier(2), {}

    def review(name: str, client) -> None:
        start.wait()
        try:
            client.update_label("p1@v1", {"labels": [name]}, expected_version=1, event={"action": "pick", "who": name})
            outcomes[name] = "won"
        except VersionConflict as exc:
            outcomes[name] = exc.current["labels"]

    threads = [threading.Thread(target=review, args=(n, c)) for n, c in (("ana", store), ("bo", _twin(store)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (winner,) = [name for name, outcome in outcomes.items() if outcome == "won"]
    (loser,) = set(outcomes) - {winner}
    assert outcomes[loser] == [winner]  # the loser is shown the winner's label
    stored = store.get_label("p1@v1")
    assert stored["labels"] == [winner] and stored["version"] == 2
    assert [e["who"] for e in store.events_for(["p1@v1"])] == [winner]


def test_an_update_appends_its_event_once(store):
    store.upsert_labels([doc("p1", "x"), doc("p2", "x")])
    before = {"labels": ["x"], "at": datetime(2026, 1, 1, tzinfo=UTC)}
    event = {"action": "accept", "who": "ana", "before": before, "after": {"labels": ["y"]}}
    updated = store.update_label("p1@v1", {"labels": ["y"]}, expected_version=1, event=event)
    (stored,) = store.events_for(["p1@v1"])
    assert stored == event | {"_id": "p1@v1#v2", "doc_id": "p1@v1", "version": 2, "at": updated["updated_at"]}
    assert store.append_events([stored]) == 0 and store.count_events({"doc_id": "p1@v1"}) == 1  # idempotent

    with pytest.raises(VersionConflict):
        store.update_label("p1@v1", {"labels": ["z"]}, expected_version=1, event=event | {"who": "bo"})
    later = {"action": "reject", "who": "bo", "at": datetime(2030, 1, 1, tzinfo=UTC)}
    store.update_label("p1@v1", {"labels": []}, expected_version=2, event=later)
    store.update_label("p2@v1", {"labels": []}, expected_version=1, event={"action": "accept", "who": "bo"})
    assert [e["_id"] for e in store.events_for(["p1@v1"])] == ["p1@v1#v2", "p1@v1#v3"]
    assert [e["_id"] for e in store.events_for(["p2@v1", "p1@v1"])] == ["p1@v1#v2", "p2@v1#v2", "p1@v1#v3"]
    assert store.count_events() == 3 and store.count_events({"who": "bo"}) == 2 and not store.count_events({"who": "x"})


def test_append_events_inserts_only_new_ids(store):
    at = datetime(2026, 3, 1, tzinfo=UTC)
    events = [
        {"_id": "a#v2", "doc_id": "a", "version": 2, "action": "accept", "at": at},
        {"_id": "a#v3", "doc_id": "a", "version": 3, "action": "reject", "at": datetime(2026, 3, 2, tzinfo=UTC)},
        {"_id": "b#v2", "doc_id": "b", "version": 2, "action": "accept"},  # at: now
    ]
    assert store.append_events(events[:1]) == 1 and store.append_events(events) == 2
    assert store.append_events(events) == 0 and store.append_events([]) == 0
    assert [e["action"] for e in store.events_for(["a"])] == ["accept", "reject"] and store.events_for([]) == []
    assert store.events_for(["a"])[0]["at"] == at and store.events_for(["b"])[0]["at"].tzinfo is not None
    assert store.count_events({"action": "accept"}) == 2
    with pytest.raises(ValueError, match="_id and doc_id"):
        store.append_events([{"doc_id": "a", "action": "accept"}])


def test_a_failed_event_writes_no_update(tmp_path):
    store = EmbeddedLabelStore.open(str(tmp_path / "labels"))
    store.upsert_labels([doc("p1", "x")])
    with pytest.raises(TypeError, match="cannot store"):
        store.update_label("p1@v1", {"labels": ["y"]}, expected_version=1, event={"blob": object()})
    assert store.get_label("p1@v1")["version"] == 1 and store.count_events() == 0


def test_the_reader_refuses_updates_and_events(store):
    store.upsert_labels([doc("p1", "x")])
    store.update_label("p1@v1", {"labels": ["y"]}, expected_version=1, event={"action": "accept"})
    reader = store.reader()
    assert [e["_id"] for e in reader.events_for(["p1@v1"])] == ["p1@v1#v2"] and reader.count_events() == 1
    with pytest.raises(PermissionError, match="read-only"):
        reader.update_label("p1@v1", {"labels": ["z"]}, expected_version=2)
    with pytest.raises(PermissionError, match="read-only"):
        reader.append_events([{"_id": "p1@v1#v9", "doc_id": "p1@v1"}])
    assert store.get_label("p1@v1")["version"] == 2 and store.count_events() == 1
