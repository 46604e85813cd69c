"""Verifying a label (the seam the file import and the review API write through), and the one typed shape of
label documents and verifications, which still loads the documents older versions stored."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from labeling.documents import label_history, review_queue
from labeling.pipeline import build_label_doc
from labeling.retrieval import Candidate
from labeling.schemas import LabelDocument, Problem
from labeling.verification import StaleLabelError, VerificationError, verification_doc, verify
from stores.labels import EmbeddedLabelStore

COLD = "lexical-bm25-v3"
AT = datetime(2025, 3, 1, tzinfo=UTC)
PROBLEM = Problem(id="p1", text="180을 소인수분해하시오.", school="중학교", grade=1)
CANDIDATES = [Candidate("9수01-02", "최대공약수", 0.55, "kr-2022"), Candidate("9수01-01", "소인수분해", 0.5, "kr-2022")]


@pytest.fixture
def store(tmp_path):
    store = EmbeddedLabelStore.open(str(tmp_path / "labels"))
    yield store
    store.close()


def machine_label(status: str = "needs_review") -> dict:
    reasons = ["top score 0.55 is below the auto-accept threshold 0.60"] if status == "needs_review" else []
    return build_label_doc(
        PROBLEM, CANDIDATES, curriculum="kr-2022", model_version=COLD, graph_version="g1", run_id="r1",
        batch_id="a.jsonl", source_uri="file:///a.jsonl", record=1, decision={"status": status, "reasons": reasons},
    )  # fmt: skip


def test_a_machine_label_carries_its_margin_and_the_kinds_of_its_reasons():
    doc = machine_label()
    assert doc["margin"] == 0.05 and doc["decision"]["reason_kinds"] == ["low_score"]
    assert doc["decision"]["reasons"] == ["top score 0.55 is below the auto-accept threshold 0.60"]
    assert LabelDocument.model_validate(doc).to_doc() == doc  # what is built is what is stored, field for field
    with pytest.raises(ValidationError, match="status"):
        build_label_doc(PROBLEM, CANDIDATES, curriculum="kr-2022", model_version=COLD, graph_version="g1",
                        run_id="r1", batch_id="b", source_uri="s", record=1, decision={"status": "maybe"})  # fmt: skip


def test_documents_of_older_versions_load_as_stored_with_what_they_lack_computed():
    old_machine = {k: v for k, v in machine_label().items() if k != "margin"} | {"created_at": AT}
    loaded = LabelDocument.model_validate(old_machine)
    assert loaded.margin == 0.05 and loaded.source == "text" and loaded.to_doc() == old_machine | {"margin": 0.05}
    old_verification = {"_id": "p1@verified-0123", "problem_id": "p1", "curriculum": "kr-2022", "content_hash": "h",
                        "input": {"text": "x", "image": None, "school": "중학교", "grade": 1, "course": None,
                                  "unit": None},
                        "labels": ["9수01-01"], "decision": {"status": "verified", "reasons": ["verified by ann"]},
                        "verification": {"by": "ann", "source_uri": "s", "record": 1, "at": AT}, "current": True,
                        "superseded_by": None, "superseded_at": None}  # fmt: skip
    loaded = LabelDocument.model_validate(old_verification)
    assert loaded.metadata["grade"] == 1 and loaded.verification.by == "ann" and loaded.margin is None
    assert loaded.to_doc()["input"] == old_verification["input"]


def test_a_verification_becomes_current_and_keeps_the_one_it_supersedes(store):
    first, done = verify(store, PROBLEM, ["9수01-01"], reviewer="ann", curriculum="kr-2022", at=AT)
    assert (done.stored, done.superseded) == (1, 0)
    again, done = verify(store, PROBLEM, ["9수 01-01"], reviewer="ann", curriculum="kr-2022", at=AT)
    assert again == first and (done.stored, done.unchanged) == (0, 1)  # the same verification: nothing written
    later = AT + timedelta(hours=1)
    second, done = verify(store, PROBLEM, ["9수01-02"], reviewer="lee", curriculum="kr-2022", note="GCD", at=later)
    assert (done.stored, done.superseded) == (1, 1)
    old, new = store.get_label(first), store.get_label(second)
    assert (old["current"], old["superseded_by"], old["superseded_at"]) == (False, second, later)
    assert new["current"] is True and new["labels"] == ["9수01-02"] and new["decision"]["status"] == "verified"
    assert new["verification"]["by"] == "lee" and new["verification"]["note"] == "GCD"
    assert new["metadata"]["school"] == new["input"]["school"] == "중학교"
    assert label_history(store, "p1", cold_start_version=COLD).current["_id"] == second
    with pytest.raises(VerificationError, match="needs labels"):
        verify(store, PROBLEM, [], reviewer="ann", curriculum="kr-2022")


def test_a_verification_based_on_a_label_takes_it_out_of_the_queue_and_a_stale_one_is_refused(store):
    label = machine_label()
    store.upsert_labels([label, machine_label() | {"_id": "p2@x", "problem_id": "p2"}])
    assert [d["_id"] for d in review_queue(store).docs] == [label["_id"], "p2@x"]
    verified, _ = verify(store, PROBLEM, ["9수01-01"], reviewer="ann", curriculum="kr-2022", based_on=label["_id"])
    assert store.get_label(verified)["verification"]["based_on"] == label["_id"]
    assert store.get_label(label["_id"])["superseded_by"] == verified
    assert [d["_id"] for d in review_queue(store).docs] == ["p2@x"]
    with pytest.raises(StaleLabelError, match="superseded") as stale:
        verify(store, PROBLEM, ["9수01-02"], reviewer="lee", curriculum="kr-2022", based_on=label["_id"])
    assert stale.value.current == verified
    # lee saw ann's verification and changed it: based on it, lee's becomes current
    lees, done = verify(store, PROBLEM, ["9수01-02"], reviewer="lee", curriculum="kr-2022", based_on=verified)
    assert done.superseded == 1 and store.get_label(verified)["superseded_by"] == lees
    with pytest.raises(VerificationError, match="not a label document of problem"):
        verify(store, PROBLEM, ["9수01-01"], reviewer="ann", curriculum="kr-2022", based_on="p2@x")


def test_a_verification_takes_the_key_of_the_label_it_is_based_on_and_other_sets_keep_theirs(store):
    label = machine_label()  # problem p1 of a.jsonl
    other = build_label_doc(
        PROBLEM, CANDIDATES, curriculum="kr-2022", model_version=COLD, graph_version="g1", run_id="r1",
        batch_id="b.jsonl", source_uri="file:///b.jsonl", record=1, decision={"status": "needs_review", "reasons": []},
    )  # fmt: skip
    assert (label["problem_key"], other["problem_key"]) == ("a.jsonl#p1", "b.jsonl#p1")
    assert label["_id"] == f"a.jsonl#p1@{COLD}" and label["problem_id"] == "p1"
    store.upsert_labels([label, other])
    on_a, _ = verify(store, PROBLEM, ["9수01-01"], reviewer="ann", curriculum="kr-2022", based_on=label["_id"])
    on_b, done = verify(store, PROBLEM, ["9수01-02"], reviewer="ann", curriculum="kr-2022", source="b.jsonl")
    assert on_a.startswith("a.jsonl#p1@verified-") and on_b.startswith("b.jsonl#p1@verified-")
    assert done.superseded == 0 and store.get_label(on_a)["current"] is True  # b's problem is another problem
    assert label_history(store, "a.jsonl#p1", cold_start_version=COLD).current["_id"] == on_a
    assert label_history(store, "b.jsonl#p1", cold_start_version=COLD).current["_id"] == on_b
    with pytest.raises(VerificationError, match=r"not a label document of problem 'c\.jsonl#p1'"):
        verify(store, PROBLEM, ["9수01-01"], reviewer="ann", curriculum="kr-2022", based_on=on_b, source="c.jsonl")


def test_a_verification_keeps_the_id_earlier_versions_gave_it():
    # re-importing a file imported by an earlier version must find its verifications, not add twins
    problem = Problem(id="v-1", text="180을 소인수분해하여 거듭제곱의 곱으로 나타내시오.", labels=["9수01-01"])
    doc = verification_doc(problem, curriculum="kr-2022", verified_by="import:a.jsonl", at=AT, source_uri="s", record=1)
    payload = {"content": problem.content_hash("kr-2022"), "labels": ["9수01-01"], "verified_by": "import:a.jsonl"}
    digest = hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    assert doc["_id"] == f"v-1@verified-{digest[:16]}" and "based_on" not in doc["verification"]
