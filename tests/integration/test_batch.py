"""The drop-folder steps under retries and crashes, on the real embedded stores."""

import json

import pytest

from labeling.batch import CurriculumIndex, batch_config, claim_files, process_file
from stores.errors import StoreError

pytestmark = pytest.mark.integration

RECORDS = [
    {"id": "c-1", "text": "180을 소인수분해하여 거듭제곱을 사용한 곱으로 나타내시오.", "labels": ["9수01-01"]},
    {"id": "c-2", "text": "삼각형의 세 내각의 크기의 합을 구하시오."},
]


def _data() -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS).encode()


@pytest.fixture
def index(seeded_graph):
    return CurriculumIndex(seeded_graph, "kr-2022")


def test_a_retried_claim_returns_what_the_first_attempt_moved(clean_objects):
    objects = clean_objects
    objects.write_bytes("incoming/a.jsonl", b"{}")
    assert claim_files(objects, "run-1") == ["processing/run-1/a.jsonl"]
    objects.write_bytes("incoming/b.jsonl", b"{}")
    assert claim_files(objects, "run-1") == ["processing/run-1/a.jsonl", "processing/run-1/b.jsonl"]
    assert claim_files(objects, "run-2") == []  # another run never takes this run's files


def test_a_crash_after_storing_labels_loses_and_duplicates_nothing(clean_objects, clean_labels, index, monkeypatch):
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/set.jsonl", _data())
    cfg = batch_config("run-crash")
    (key,) = claim_files(objects, cfg.run_id)

    real_move = type(objects).move

    def crash_on_processed(self, src, dst):
        if dst.startswith("processed/"):
            raise StoreError("simulated crash before the input was moved")
        return real_move(self, src, dst)

    monkeypatch.setattr(type(objects), "move", crash_on_processed)
    with pytest.raises(StoreError, match="simulated crash"):
        process_file(key, objects=objects, labels=labels, index=index, cfg=cfg)
    assert labels.count_labels() == 2
    assert objects.list("processing/run-crash") == [key]  # the input is kept for the retry

    monkeypatch.setattr(type(objects), "move", real_move)
    (retry_key,) = claim_files(objects, cfg.run_id)
    result = process_file(retry_key, objects=objects, labels=labels, index=index, cfg=cfg)
    assert (result.labeled, result.skipped, result.status) == (0, 2, "processed")
    assert labels.count_labels() == 2
    assert objects.list("processing") == [] and len(objects.list("processed")) == 1


def test_changed_text_is_relabeled_under_the_same_key(clean_objects, clean_labels, index):
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/v1.jsonl", _data())
    cfg = batch_config("run-v1")
    process_file(claim_files(objects, cfg.run_id)[0], objects=objects, labels=labels, index=index, cfg=cfg)
    changed = [dict(RECORDS[0], text="두 수 12와 18의 최대공약수와 최소공배수를 소인수분해를 이용하여 구하시오.")]
    objects.write_bytes("incoming/v2.jsonl", json.dumps(changed[0], ensure_ascii=False).encode())
    cfg2 = batch_config("run-v2")
    result = process_file(claim_files(objects, cfg2.run_id)[0], objects=objects, labels=labels, index=index, cfg=cfg2)
    assert result.labeled == 1 and labels.count_labels() == 2
    doc = labels.get_label("c-1@lexical-bm25-v1")
    assert doc["run_id"] == "run-v2" and doc["labels"] == ["9수01-02"]


def test_an_image_only_record_is_quarantined_with_the_reason(clean_objects, clean_labels, index):
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/img.jsonl", _data() + b'{"id": "i-1", "image": "page1.png"}\n')
    cfg = batch_config("run-img")
    result = process_file(claim_files(objects, cfg.run_id)[0], objects=objects, labels=labels, index=index, cfg=cfg)
    assert (result.labeled, result.quarantined) == (2, 1)
    error = json.loads(objects.read_bytes(result.error_key))
    assert error["records"] == [{"record": 3, "id": "i-1", "reason": error["records"][0]["reason"]}]
    assert "OCR" in error["records"][0]["reason"]


def test_with_an_llm_each_label_records_its_answer_and_disagreement_goes_to_review(clean_objects, clean_labels, index):
    from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
    from langchain_core.messages import AIMessage

    from labeling.llm import LLMJudge

    class ScriptedChat(FakeMessagesListChatModel):
        def bind_tools(self, tools, **kwargs):
            return self

    def answer(code):
        args = {"code": code, "confidence": 0.9, "reason": "scripted"}
        return AIMessage(content="", tool_calls=[{"name": "StandardChoice", "args": args, "id": "c"}])

    # c-1 (prime factorisation): the LLM agrees with the ranker; c-2 (triangle angles): it picks an outsider.
    judge = LLMJudge(ScriptedChat(responses=[answer("9수01-01"), answer("12미적Ⅱ-01-01")]), "fake:scripted")
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/llm.jsonl", _data())
    cfg = batch_config("run-llm")
    (key,) = claim_files(objects, cfg.run_id)
    process_file(key, objects=objects, labels=labels, index=index, cfg=cfg, judge=judge)
    first, second = labels.get_label("c-1@lexical-bm25-v1"), labels.get_label("c-2@lexical-bm25-v1")
    assert first["llm"]["code"] == "9수01-01" and first["model_versions"]["llm"] == "fake:scripted"
    assert "error" in second["llm"] and second["labels"] != ["12미적Ⅱ-01-01"]
    assert second["decision"]["status"] == "needs_review"
    assert any(reason.startswith("LLM: answer rejected") for reason in second["decision"]["reasons"])
