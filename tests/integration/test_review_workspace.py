"""What a reviewer notices, through ``review.workspace.ReviewWorkspace`` over each label store: the embedded SQLite
store always, and MongoDB when MONGO_URI names a server (a replica set or a standalone mongod), with the same
assertions. The documents are a real batch's over the seeded graph; the API tests cover the HTTP side on the embedded
store only, since the plugin builds its stores from the settings."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from labeling.batch import CurriculumIndex, run_batch
from labeling.evaluate import VersionedLabeler
from labeling.index import current_verified
from labeling.intake import claim_files
from mathlabel.config import get_settings
from mathlabel.runs import batch_config
from review.errors import DocumentNotFound, InvalidReview, StaleVersion
from review.vocabulary import MAX_BULK, BulkItem
from review.workspace import ReviewWorkspace
from stores.labels import EmbeddedLabelStore, MongoLabelStore
from tests.label_stores import KINDS, label_store

pytestmark = pytest.mark.integration

RUN = "run-workspace"
RECORDS = [
    {"id": "q1", "text": "180을 소인수분해하여 거듭제곱을 사용한 곱으로 나타내시오."},
    {"id": "q2", "text": "삼각형의 세 내각의 크기의 합을 구하시오."},
    {"id": "q3", "text": "일차방정식 $2x + 3 = 7$ 의 해를 구하시오."},
    {"id": "q4", "text": "두 수 $\\frac{1}{2}$ 와 $\\frac{1}{3}$ 의 합을 구하시오."},
    {"id": "q5", "text": "정비례 관계 $y = 3x$ 의 그래프를 좌표평면 위에 그리시오."},
]


# ------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(params=KINDS)
def store(request, tmp_path):
    """An empty label store of each kind, its own for each test."""
    with label_store(request.param, tmp_path) as store:
        yield store


@pytest.fixture(scope="module")
def index(seeded_graph):
    return CurriculumIndex(seeded_graph, "kr-2022")


def _label(objects, labels, index, run_id: str = RUN, model_version: str | None = None) -> None:
    """Run the batch over ``RECORDS`` (``incoming/set.jsonl``) into ``labels``, as its own model version if given."""
    objects.write_bytes(
        "incoming/set.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS).encode()
    )
    cfg = batch_config(get_settings(), run_id)
    if model_version:
        cfg = dataclasses.replace(cfg, model_version=model_version)
    run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg)


@pytest.fixture
def labeled(store, clean_objects, index):
    """The store holding a batch run's label documents of ``RECORDS`` (run ``RUN``)."""
    _label(clean_objects, store, index)
    assert store.count_labels({"run_id": RUN}) == len(RECORDS)
    return store


def _workspace(labels, graph, objects, **options) -> ReviewWorkspace:
    return ReviewWorkspace(labels, graph, objects, **options)


@pytest.fixture
def ws(labeled, seeded_graph, clean_objects) -> ReviewWorkspace:
    return _workspace(labeled, seeded_graph, clean_objects)


def _twin(store):
    """A second store object on the same file or database, as a second API process has."""
    return EmbeddedLabelStore(store.path) if isinstance(store, EmbeddedLabelStore) else MongoLabelStore(store.db)


def _doc(store, problem_id: str, model_version: str | None = None) -> dict[str, Any]:
    (doc,) = store.find_labels(
        {"problem_id": problem_id, "model_version": model_version or get_settings().labeling.model_version}
    )
    return doc


def _snapshot(store) -> list[dict[str, Any]]:
    """The current verifications the next nightly training snapshot reads (on MongoDB from the primary: a test's
    write may not have reached a secondary yet)."""
    return current_verified(store.reader() if isinstance(store, EmbeddedLabelStore) else store, "kr-2022")


def _other_codes(doc: dict[str, Any]) -> list[str]:
    """The doc's candidates other than its chosen label."""
    return [c["code"] for c in doc["candidates"] if c["code"] not in doc["labels"]]


def _all_pages(ws: ReviewWorkspace, limit: int, **filters) -> list[dict[str, Any]]:
    rows, cursor = [], None
    while True:
        page = ws.queue(limit=limit, cursor=cursor, **filters)
        assert len(page["items"]) <= limit
        rows += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


# ------------------------------------------------------------------------------------------------ reviews


def test_accept_verifies_the_label_bumps_the_version_and_writes_one_audit_event(ws, labeled):
    doc = _doc(labeled, "q1")
    assert doc["version"] == 1 and doc["labels"]
    view = ws.accept(doc["_id"], version=1, reviewer="ana", note="looks right")
    assert (view["status"], view["version"], view["labels"]) == ("verified", 2, doc["labels"])
    assert view["review"]["by"] == "ana" and view["review"]["action"] == "accept"

    stored = labeled.get_label(doc["_id"])
    assert (stored["decision"]["status"], stored["decision"]["by"], stored["version"]) == ("verified", "ana", 2)
    assert stored["current"] is True and stored["verification"]["based_on"] == doc["_id"]
    assert stored["reviewed_from"] == {"status": doc["decision"]["status"], "labels": doc["labels"], "version": 1,
                                       "reasons": doc["decision"]["reasons"]}  # fmt: skip
    assert stored["candidates"] == doc["candidates"] and stored["created_at"] == doc["created_at"]

    (event,) = labeled.events_for([doc["_id"]])
    assert labeled.count_events() == 1
    assert (event["_id"], event["doc_id"], event["by"], event["action"], event["note"]) == (
        f"{doc['_id']}#v2", doc["_id"], "ana", "accept", "looks right")  # fmt: skip
    assert event["before"] == {"status": doc["decision"]["status"], "labels": doc["labels"], "version": 1}
    assert event["after"] == {"status": "verified", "labels": doc["labels"], "curriculum": "kr-2022", "version": 2}
    assert event["at"] == stored["verification"]["at"] and event["problem_key"] == "set.jsonl#q1"
    assert [h["action"] for h in ws.view(doc["_id"])["history"]] == ["accept"]


def test_correct_verifies_other_candidates_as_the_labels(ws, labeled):
    doc = _doc(labeled, "q2")
    others = _other_codes(doc)[:2]
    assert len(others) == 2
    view = ws.correct(doc["_id"], version=1, reviewer="bo", codes=others)
    assert (view["status"], view["version"], view["labels"]) == ("verified", 2, others)
    assert view["review"]["action"] == "correct" and view["reasons"] == ["corrected by bo"]
    stored = labeled.get_label(doc["_id"])
    assert stored["labels"] == others and stored["curriculum"] == "kr-2022"
    (event,) = labeled.events_for([doc["_id"]])
    assert (event["action"], event["before"]["labels"], event["after"]["labels"]) == ("correct", doc["labels"], others)
    # choosing the label it had is an accept, whatever the button
    again = _doc(labeled, "q3")
    assert ws.correct(again["_id"], version=1, reviewer="bo", codes=again["labels"])["review"]["action"] == "accept"


@pytest.mark.parametrize(
    ("codes", "curriculum", "message"),
    [
        (["K.CC.A.1"], None, "K.CC.A.1 is not in kr-2022"),  # another curriculum's code
        (["9수99-99"], None, "9수99-99 is not in kr-2022"),  # no such standard
        (["K.CC.A.1"], "us-ccss", "was labeled for kr-2022"),  # a curriculum the document was not labeled for
        ([], None, "at least one standard"),
    ],
)
def test_a_code_not_in_the_curriculum_is_refused_and_nothing_is_written(ws, labeled, codes, curriculum, message):
    doc = _doc(labeled, "q4")
    with pytest.raises(InvalidReview, match=message):
        ws.correct(doc["_id"], version=1, reviewer="bo", codes=codes, curriculum=curriculum)
    assert labeled.get_label(doc["_id"]) == doc
    assert labeled.count_events() == 0 and labeled.count_labels({"decision.status": "verified"}) == 0


def test_a_missing_document_or_reason_is_refused(ws, labeled):
    with pytest.raises(DocumentNotFound):
        ws.accept("set.jsonl#nope@x", version=1, reviewer="ana")
    doc = _doc(labeled, "q1")
    with pytest.raises(InvalidReview, match="reason 'boring'"):
        ws.reject(doc["_id"], version=1, reviewer="ana", reason="boring")
    with pytest.raises(InvalidReview, match="empty"):
        ws.edit_text(doc["_id"], version=1, reviewer="ana", text="   ")
    assert labeled.get_label(doc["_id"]) == doc and labeled.count_events() == 0


def test_reject_takes_the_problem_out_of_the_queue_with_no_labels(ws, labeled):
    queued = ws.queue()["items"]  # the documents that need review
    assert queued, "the batch sent nothing to review"
    doc = labeled.get_label(queued[0]["id"])
    view = ws.reject(doc["_id"], version=1, reviewer="ana", reason="not_math")
    assert (view["status"], view["labels"], view["version"]) == ("rejected", [], 2)
    assert view["reasons"] == ["not a math problem by ana"]
    stored = labeled.get_label(doc["_id"])
    assert stored["labels"] == [] and stored["decision"]["reject_reason"] == "not_math"
    assert doc["_id"] not in {row["id"] for row in _all_pages(ws, 2)}  # the needs_review queue
    assert doc["_id"] not in {row["id"] for row in _all_pages(ws, 2, status="verified")}
    assert [row["id"] for row in ws.queue(status="rejected")["items"]] == [doc["_id"]]
    assert _snapshot(labeled) == []  # never trained on
    (event,) = labeled.events_for([doc["_id"]])
    assert (event["action"], event["after"]["status"], event["after"]["labels"]) == ("reject", "rejected", [])


def _race(reviews: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run each reviewer's review at the same moment: what each one got ("won", or the exception)."""
    start, outcomes = threading.Barrier(len(reviews)), {}

    def review(name: str) -> None:
        start.wait()
        try:
            reviews[name]()
            outcomes[name] = "won"
        except Exception as exc:  # a StaleVersion is expected of the loser; anything else fails the test below
            outcomes[name] = exc

    threads = [threading.Thread(target=review, args=(name,)) for name in reviews]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.parametrize("processes", [1, 2], ids=["one-api-process", "two-api-processes"])
def test_of_two_reviewers_on_one_version_exactly_one_wins_and_the_other_sees_the_current_document(
    ws, labeled, seeded_graph, clean_objects, processes
):
    # One process: the plugin's one workspace (one store object) serves both reviewers' request threads.
    other = ws if processes == 1 else _workspace(_twin(labeled), seeded_graph, clean_objects)
    for doc in labeled.find_labels({"run_id": RUN}):
        first, second = (c["code"] for c in doc["candidates"][:2])
        for version in (1, 2, 3, 4):  # Ana accepts as Bo rejects; then both change their minds at once, again
            if version == 1:
                ana = partial(ws.accept, doc["_id"], version=1, reviewer="ana")
                bo = partial(other.reject, doc["_id"], version=1, reviewer="bo", reason="other")
            else:
                ana = partial(ws.correct, doc["_id"], version=version, reviewer="ana", codes=[first])
                bo = partial(other.correct, doc["_id"], version=version, reviewer="bo", codes=[second])
            outcomes = _race({"ana": ana, "bo": bo})
            winners = [name for name, outcome in outcomes.items() if outcome == "won"]
            assert len(winners) == 1, outcomes
            (loser,) = set(outcomes) - set(winners)
            stale = outcomes[loser]
            assert isinstance(stale, StaleVersion), repr(stale)
            assert stale.current["version"] == version + 1 and stale.current["verification"]["by"] == winners[0]
            assert f"by {winners[0]}" in str(stale)
        stored = labeled.get_label(doc["_id"])
        events = labeled.events_for([doc["_id"]])
        assert stored["version"] == 5 and len(events) == 4  # one write per race, each with its event
        assert stored["verification"]["by"] == events[-1]["by"] and stored["labels"] == events[-1]["after"]["labels"]
        assert events[0]["action"] in {"accept", "reject"} and stored["labels"] in ([first], [second])


def test_bulk_accept_writes_current_versions_and_reports_conflicts_missing_and_refusals(ws, labeled):
    q1, q2, q3, q4 = (_doc(labeled, p) for p in ("q1", "q2", "q3", "q4"))
    ws.accept(q1["_id"], version=1, reviewer="ana")
    ws.reject(q4["_id"], version=1, reviewer="ana", reason="duplicate")
    items = [BulkItem(id=d["_id"], version=1) for d in (q1, q2, q3)]
    items += [BulkItem(id=q4["_id"], version=2), BulkItem(id="gone@x", version=1)]
    result = ws.bulk_accept(items, reviewer="bo", note="spot-checked")
    assert sorted(result["accepted"]) == sorted([q2["_id"], q3["_id"]])
    assert result["conflicts"] == [{"id": q1["_id"], "version": 2}] and result["missing"] == ["gone@x"]
    assert [r["id"] for r in result["refused"]] == [q4["_id"]] and "no label" in result["refused"][0]["reason"]
    assert labeled.count_labels({"decision.status": "verified"}) == 3
    assert labeled.get_label(q1["_id"])["verification"]["by"] == "ana"  # the conflict was not written
    for doc in (q2, q3):
        (event,) = labeled.events_for([doc["_id"]])
        assert (event["by"], event["action"], event["note"]) == ("bo", "bulk_accept", "spot-checked")
    assert labeled.count_events() == 4
    with pytest.raises(InvalidReview, match=f"at most {MAX_BULK}"):
        ws.bulk_accept([BulkItem(id=f"d{i}", version=1) for i in range(MAX_BULK + 1)], reviewer="bo")


def test_a_review_supersedes_the_problems_other_documents(ws, labeled, clean_objects, index):
    _label(clean_objects, labeled, index, run_id="run-champion", model_version="text-labeler-v7")
    cold, champion = _doc(labeled, "q2"), _doc(labeled, "q2", "text-labeler-v7")
    assert cold["problem_key"] == champion["problem_key"] == "set.jsonl#q2" and cold["_id"] != champion["_id"]
    assert sum(row["problem_id"] == "q2" for row in _all_pages(ws, 3, status=None)) == 2  # both until reviewed

    ws.accept(cold["_id"], version=1, reviewer="ana")
    shown = [row for row in _all_pages(ws, 3, status=None) if row["problem_id"] == "q2"]
    assert [row["id"] for row in shown] == [cold["_id"]]
    assert all(row["problem_id"] != "q2" for row in _all_pages(ws, 3))  # nothing of q2 needs review
    superseded = labeled.get_label(champion["_id"])
    assert superseded["current"] is False and superseded["superseded_by"] == cold["_id"]
    assert superseded["version"] == 2 and superseded["decision"] == champion["decision"]
    verified = [d for d in _snapshot(labeled) if d["problem_key"] == "set.jsonl#q2"]
    assert [d["_id"] for d in verified] == [cold["_id"]]
    view = ws.view(cold["_id"])
    assert [(v["id"], v["current"]) for v in view["versions"]] == [(champion["_id"], False)]

    # a reviewer who saw the champion's document before it was superseded is told so, and may still decide on it
    with pytest.raises(StaleVersion) as stale:
        ws.correct(champion["_id"], version=1, reviewer="bo", codes=_other_codes(cold)[:1])
    assert stale.value.current["superseded_by"] == cold["_id"] and f"superseded by {cold['_id']!r}" in str(stale.value)
    ws.correct(champion["_id"], version=2, reviewer="bo", codes=_other_codes(cold)[:1])
    assert labeled.get_label(cold["_id"])["current"] is False
    assert labeled.get_label(cold["_id"])["superseded_by"] == champion["_id"]
    verified = [d for d in _snapshot(labeled) if d["problem_key"] == "set.jsonl#q2"]
    assert [(d["_id"], d["labels"]) for d in verified] == [(champion["_id"], _other_codes(cold)[:1])]
    shown = [row["id"] for row in _all_pages(ws, 3, status=None) if row["problem_id"] == "q2"]
    assert shown == [champion["_id"]]
    history = ws.view(champion["_id"])["history"]  # both documents' events
    assert [(h["doc_id"], h["action"]) for h in history] == [(cold["_id"], "accept"), (champion["_id"], "correct")]


def test_edit_text_keeps_the_document_in_the_queue_with_the_new_text_and_an_event(ws, labeled):
    row = ws.queue(limit=1)["items"][0]
    doc = labeled.get_label(row["id"])
    view = ws.edit_text(doc["_id"], version=1, reviewer="ana", text="  일차방정식 $3x - 1 = 8$ 의 해를 구하시오. ")
    assert (view["text"], view["version"], view["status"]) == (
        "일차방정식 $3x - 1 = 8$ 의 해를 구하시오.", 2, doc["decision"]["status"])  # fmt: skip
    stored = labeled.get_label(doc["_id"])
    assert stored["input"]["text_corrected_by"] == "ana" and stored["labels"] == doc["labels"]
    (queued,) = [r for r in _all_pages(ws, 2) if r["id"] == doc["_id"]]  # still needs review
    assert queued["preview"] == view["text"] and queued["version"] == 2
    (event,) = labeled.events_for([doc["_id"]])
    assert event["action"] == "edit_text" and event["before"] == {"text": doc["input"]["text"], "version": 1}
    assert event["after"] == {"text": view["text"], "version": 2}
    with pytest.raises(StaleVersion):
        ws.accept(doc["_id"], version=1, reviewer="bo")
    ws.accept(doc["_id"], version=2, reviewer="bo")
    assert [h["action"] for h in ws.view(doc["_id"])["history"]] == ["edit_text", "accept"]
    (verified,) = _snapshot(labeled)
    assert verified["input"]["text"] == view["text"]  # the text the next training snapshot learns from


# ------------------------------------------------------------------------------------------------ the queue


def _queue_order(docs: list[dict[str, Any]], descending_age: bool = False) -> list[str]:
    """The ids in the queue's order: by margin (missing first) then id; or newest first, then id descending."""
    if descending_age:
        return [d["_id"] for d in sorted(docs, key=lambda d: (d["created_at"], d["_id"]), reverse=True)]
    return [d["_id"] for d in sorted(docs, key=lambda d: (d.get("margin") is not None, d.get("margin") or 0, d["_id"]))]


def test_the_queue_counts_reasons_and_pages_with_a_cursor(ws, labeled):
    for status in ("needs_review", None):
        docs = labeled.find_labels({"decision.status": status} if status else {})
        reasons = Counter(kind for d in docs for kind in set(d["decision"]["reason_kinds"]))
        first = ws.queue(status=status, limit=2)
        assert first["total"] == len(docs) and first["reasons"] == dict(reasons)
        assert list(first["reasons"].values()) == sorted(first["reasons"].values(), reverse=True)  # commonest first
        assert [row["id"] for row in _all_pages(ws, 2, status=status)] == _queue_order(docs)
        assert [row["id"] for row in _all_pages(ws, 2, status=status, order="newest")] == _queue_order(docs, True)
        for kind, count in reasons.items():
            filtered = _all_pages(ws, 2, status=status, reason=kind)
            assert len(filtered) == count == ws.queue(status=status, reason=kind)["total"]
            assert all(kind in row["reason_kinds"] for row in filtered)
    assert ws.queue(status=None, run_id="another-run") == {"items": [], "next_cursor": None, "total": 0, "reasons": {}}
    assert ws.queue(status=None, source="page")["total"] == 0
    with pytest.raises(ValueError, match="cursor"):
        ws.queue(status=None, limit=2, order="newest", cursor=ws.queue(status=None, limit=2)["next_cursor"])

    # a review takes its document out of the queue and out of its reasons' counts
    before = ws.queue()
    doc = labeled.get_label(before["items"][0]["id"])
    ws.reject(doc["_id"], version=1, reviewer="ana", reason="other")
    after = ws.queue()
    assert after["total"] == before["total"] - 1 and doc["_id"] not in {row["id"] for row in _all_pages(ws, 2)}
    gone = Counter(set(doc["decision"]["reason_kinds"]))
    assert after["reasons"] == {k: n - gone[k] for k, n in before["reasons"].items() if n - gone[k]}
    assert ws.queue(status=None)["total"] == len(RECORDS)  # any status: the rejected one too


def test_on_demand_labels_are_stored_like_a_batchs_and_reviewed_the_same_way(labeled, seeded_graph, clean_objects):
    ws = _workspace(labeled, seeded_graph, clean_objects,
                    labeler_for=lambda index: VersionedLabeler(index.retriever, "text-labeler-v9"))  # fmt: skip
    problems = [{"id": "7", "text": "두 자연수의 최대공약수를 구하시오."}]
    (view,) = ws.label_now(problems, curriculum="kr-2022", source="worksheet")
    assert (view["problem_key"], view["model_version"], view["version"]) == ("worksheet#7", "text-labeler-v9", 1)
    assert view["candidates"] and view["run_id"] == "on-demand"
    ws.accept(view["id"], version=1, reviewer="ana")
    (again,) = ws.label_now(problems, curriculum="kr-2022", source="worksheet")
    assert (again["status"], again["version"]) == ("verified", 2)  # the review is never overwritten
    assert labeled.count_labels({"run_id": "on-demand"}) == 1


def test_both_stores_page_and_count_the_queue_alike(tmp_path, seeded_graph, clean_objects, index):
    """The same batch into each store: the queue's pages, totals and counts per reason are the same."""
    with label_store("mongo", tmp_path) as mongo, label_store("embedded", tmp_path) as embedded:
        pages = []
        for store in (embedded, mongo):
            _label(clean_objects, store, index)
            ws = _workspace(store, seeded_graph, clean_objects)
            shown = []
            for filters in ({"status": None}, {"status": "needs_review"}, {"status": None, "order": "newest"}):
                rows = _all_pages(ws, 2, **filters)
                first = ws.queue(limit=2, **filters)
                shown.append(([(r["id"], r["margin"], r["reason_kinds"]) for r in rows], first["total"],
                              first["reasons"]))  # fmt: skip
            pages.append(shown)
        assert pages[0] == pages[1]
