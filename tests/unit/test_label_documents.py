"""Which label document of a problem is current, the listing query, and graph context without repeated codes."""

from datetime import UTC, datetime

import pytest

from labeling.documents import label_history, label_row, labels_query, list_labels, pick_current, problem_keys
from labeling.index import neighbours
from labeling.schemas import LabelDocument, label_doc_id, problem_key
from stores.labels import EmbeddedLabelStore

COLD = "lexical-bm25-v3"


def at(day: int) -> datetime:
    return datetime(2025, 3, day, tzinfo=UTC)


def machine(version: str, day: int, status: str = "auto_accepted") -> dict:
    return {"_id": f"p1@{version}", "problem_id": "p1", "model_version": version, "labels": ["9수01-02"],
            "decision": {"status": status, "reasons": ["top score 0.74 ≥ 0.60"]}, "updated_at": at(day)}  # fmt: skip


def verified(digest: str, day: int, *, current: bool = True) -> dict:
    return {"_id": f"p1@verified-{digest}", "problem_id": "p1", "labels": ["9수01-01"], "current": current,
            "decision": {"status": "verified", "reasons": ["verified by ann"]},
            "verification": {"by": "ann", "at": at(day)}, "updated_at": at(day)}  # fmt: skip


@pytest.mark.parametrize(
    "docs, expected",
    [
        ([machine(COLD, 1)], f"p1@{COLD}"),
        # the champion's label wins over a newer cold-start one (labeled again after a rollback, say)
        ([machine("text-labeler-v3", 2), machine(COLD, 5), machine("text-labeler-v2", 1)], "p1@text-labeler-v3"),
        # a verification wins over any machine label, and the superseded one never does
        ([machine("text-labeler-v3", 9), verified("old", 4, current=False), verified("new", 6)], "p1@verified-new"),
        ([], None),
    ],
)
def test_the_current_document_is_the_verification_then_the_champion_then_the_cold_start(docs, expected):
    history = pick_current(docs, cold_start_version=COLD)
    assert (history.current or {}).get("_id") == expected
    assert sorted(d["_id"] for d in history.older) == sorted(d["_id"] for d in docs if d["_id"] != expected)
    assert [d["updated_at"] for d in history.older] == sorted((d["updated_at"] for d in history.older), reverse=True)


def test_a_problem_s_documents_come_from_the_store_and_only_its_own(tmp_path):
    store = EmbeddedLabelStore.open(str(tmp_path / "labels"))
    other = machine(COLD, 1) | {"_id": "p10@x", "problem_id": "p10"}
    store.upsert_labels([machine(COLD, 1), machine("text-labeler-v3", 2), verified("a", 3), other])
    history = label_history(store, "p1", cold_start_version=COLD)
    assert history.current["_id"] == "p1@verified-a"
    assert {d["_id"] for d in history.older} == {f"p1@{COLD}", "p1@text-labeler-v3"}


def test_the_listing_query_takes_a_reason_as_text_and_a_curriculum_among_several(tmp_path):
    assert labels_query() == {}
    assert labels_query(run_id="r1", status="needs_review") == {"run_id": "r1", "decision.status": "needs_review"}
    store = EmbeddedLabelStore.open(str(tmp_path / "labels"))
    store.upsert_labels(
        [
            machine(COLD, 1) | {"curriculum": "kr-2022,kr-2015", "decision": {"reasons": ["a (b) c?"]}},
            machine(COLD, 1) | {"_id": "p2@x", "curriculum": "kr-2015", "decision": {"reasons": ["A (B) C?"]}},
            machine(COLD, 1) | {"_id": "p3@x", "curriculum": "kr-2022"},
        ]
    )
    assert {d["_id"] for d in list_labels(store, reason="a (b) c?")} == {f"p1@{COLD}", "p2@x"}
    assert {d["_id"] for d in list_labels(store, curriculum="kr-2015")} == {f"p1@{COLD}", "p2@x"}
    assert len(list_labels(store, limit=2)) == 2


def test_a_listing_row_names_the_chosen_code_its_score_and_the_first_reason():
    doc = machine(COLD, 1) | {"candidates": [{"code": "9수01-02", "score": 0.74}, {"code": "9수01-01", "score": 0.2}]}
    row = label_row(doc)
    assert row == {"id": f"p1@{COLD}", "problem_id": "p1", "problem_key": "p1", "run_id": None,
                   "status": "auto_accepted", "code": "9수01-02", "score": 0.74,
                   "reasons": ["top score 0.74 ≥ 0.60"]}  # fmt: skip
    assert label_row(verified("a", 1))["score"] is None


def test_a_problem_is_known_by_its_set_and_its_id_and_a_page_problem_by_its_id():
    assert problem_key("school-a/set1.jsonl", "7") == "school-a/set1.jsonl#7"
    assert problem_key("scan.pdf", "scan.pdf#p1-2") == "scan.pdf#p1-2"  # a page problem's id names its file already
    assert problem_key("scan.pdf", "scan.pdf.2#p1-2") == "scan.pdf#scan.pdf.2#p1-2"
    assert problem_key(None, "7") == problem_key("", "7") == "7"
    assert label_doc_id(problem_key("a.jsonl", "7"), "m1") == "a.jsonl#7@m1"
    # a document stored before keys: its key is computed from its batch (its input's name)
    older = machine(COLD, 1) | {"batch_id": "a.jsonl", "decision": {"status": "auto_accepted"}}
    assert LabelDocument.model_validate(older).problem_key == "a.jsonl#p1"
    assert LabelDocument.model_validate(older | {"problem_key": "k"}).problem_key == "k"


def test_two_sets_that_reuse_an_id_are_two_problems_and_a_bare_id_finds_both(tmp_path):
    store = EmbeddedLabelStore.open(str(tmp_path / "labels"))
    docs = [machine(COLD, day) | {"_id": f"{key}@{COLD}", "problem_key": key} for day, key in
            ((1, "a.jsonl#p1"), (2, "b.jsonl#p1"))]  # fmt: skip
    store.upsert_labels(docs)
    assert label_history(store, "a.jsonl#p1", cold_start_version=COLD).current["_id"] == f"a.jsonl#p1@{COLD}"
    assert label_history(store, "b.jsonl#p1", cold_start_version=COLD).older == []
    assert label_history(store, "p1", cold_start_version=COLD).current is None
    assert problem_keys(store, "p1") == ["a.jsonl#p1", "b.jsonl#p1"]
    # a document without a stored key (written before keys, not migrated) is found by its computed key
    store.upsert_labels([machine("text-labeler-v3", 3) | {"_id": "p1@text-labeler-v3", "batch_id": "a.jsonl"}])
    history = label_history(store, "a.jsonl#p1", cold_start_version=COLD)
    assert history.current["_id"] == "p1@text-labeler-v3" and [d["_id"] for d in history.older] == [docs[0]["_id"]]
    assert [d["_id"] for d in label_history(store, "b.jsonl#p1", cold_start_version=COLD).older] == []


def test_graph_neighbours_are_listed_once_in_first_seen_order():
    # both directions of a related edge stored, and one code string in two curricula (kr-2022, kr-2015)
    pairs = [("A", "C"), ("A", "B"), ("A", "C"), ("B", "A"), ("A", "B")]
    assert neighbours(pairs) == {"A": ["C", "B"], "B": ["A"]}


def test_a_run_is_found_by_airflows_run_id_or_by_its_stored_spelling():
    from labeling.documents import labels_query

    airflow_id = "manual__2026-12-02T15:23:25.185500+00:00"  # what the run tab and the CLI's hint pass
    stored = "manual__2026-12-02T15_23_25.185500_00_00"  # what label documents and report names hold
    assert labels_query(run_id=airflow_id)["run_id"] == stored == labels_query(run_id=stored)["run_id"]
