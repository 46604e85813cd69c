"""The drop-folder steps under retries and crashes, on the real embedded stores."""

import json

import pytest

from labeling.batch import CurriculumIndex, finish_run, label_chunk, prepare_file, run_batch
from labeling.intake import claim_files
from mathlabel.config import get_settings
from mathlabel.runs import batch_config
from stores.errors import StoreError

pytestmark = pytest.mark.integration

RECORDS = [
    {"id": "c-1", "text": "180을 소인수분해하여 거듭제곱을 사용한 곱으로 나타내시오.", "labels": ["9수01-01"]},
    {"id": "c-2", "text": "삼각형의 세 내각의 크기의 합을 구하시오."},
]


def config(run_id: str, **params):
    """A run's batch config, from the tests' settings and these Params."""
    return batch_config(get_settings(), run_id, **params)


def _data(records: list[dict] = RECORDS) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


@pytest.fixture
def index(seeded_graph):
    return CurriculumIndex(seeded_graph, "kr-2022")


def test_a_crash_after_storing_labels_loses_and_duplicates_nothing(clean_objects, clean_labels, index, monkeypatch):
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/set.jsonl", _data())
    cfg = config("run-crash")
    (key,) = claim_files(objects, cfg.run_id)

    real_move = type(objects).move

    def crash_on_processed(self, src, dst):
        if dst.startswith("processed/"):
            raise StoreError("simulated crash before the input was moved")
        return real_move(self, src, dst)

    monkeypatch.setattr(type(objects), "move", crash_on_processed)
    with pytest.raises(StoreError, match="simulated crash"):
        run_batch([key], objects=objects, labels=labels, index=index, cfg=cfg)
    assert labels.count_labels() == 2
    assert key in objects.list("processing/run-crash")  # the input is kept for the retry

    monkeypatch.setattr(type(objects), "move", real_move)
    summary = run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg)
    assert (summary["labeled"], summary["skipped"], summary["files_processed"]) == (0, 2, 1)
    assert labels.count_labels() == 2
    assert objects.list("processing") == [] and len(objects.list("processed")) == 1


def test_a_file_with_a_failed_chunk_stays_in_processing_until_every_chunk_is_stored(clean_objects, clean_labels, index):
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/set.jsonl", _data())
    cfg = config("run-chunks", chunk_size=1)
    (key,) = claim_files(objects, cfg.run_id)
    prepared = prepare_file(key, objects=objects, suite=index.suite(cfg.max_text_chars), cfg=cfg)
    assert len(prepared.chunks) == 2
    first = label_chunk(prepared.chunks[0], objects=objects, labels=labels, index=index, cfg=cfg)
    summary = finish_run(objects, cfg.run_id, [prepared.to_dict()], [first.to_dict()])  # chunk 2's task failed
    assert summary["unfinished"] == [key] and objects.exists(key) and labels.count_labels() == 1

    second = label_chunk(prepared.chunks[1], objects=objects, labels=labels, index=index, cfg=cfg)
    summary = finish_run(objects, cfg.run_id, [prepared.to_dict()], [first.to_dict(), second.to_dict()])
    assert summary["unfinished"] == [] and summary["files_processed"] == 1 and labels.count_labels() == 2
    assert objects.list("processing") == []  # input moved, chunk files removed


def test_changed_text_is_relabeled_under_the_same_key(clean_objects, clean_labels, index):
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/set.jsonl", _data())
    cfg = config("run-v1")
    run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg)
    changed = dict(RECORDS[0], text="두 수 12와 18의 최대공약수와 최소공배수를 소인수분해를 이용하여 구하시오.")
    objects.write_bytes("incoming/set.jsonl", json.dumps(changed, ensure_ascii=False).encode())  # the set, again
    cfg2 = config("run-v2")
    summary = run_batch(claim_files(objects, cfg2.run_id), objects=objects, labels=labels, index=index, cfg=cfg2)
    assert summary["labeled"] == 1 and labels.count_labels() == 2
    doc = labels.get_label("set.jsonl#c-1@lexical-bm25-v3")
    assert doc["run_id"] == "run-v2" and doc["labels"] == ["9수01-02"]


def test_two_problem_sets_that_reuse_ids_keep_their_labels_apart(clean_objects, clean_labels, index):
    objects, labels = clean_objects, clean_labels
    gcd = "두 수 12와 18의 최대공약수와 최소공배수를 소인수분해를 이용하여 구하시오."
    other = [dict(RECORDS[0], text=gcd), RECORDS[1]]
    objects.write_bytes("incoming/school-a/set1.jsonl", _data())
    objects.write_bytes("incoming/school-b/set1.jsonl", _data(other))  # the same ids, c-1 another problem
    cfg = config("run-two-sets")
    summary = run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg)
    assert (summary["labeled"], summary["files_processed"]) == (4, 2) and labels.count_labels() == 4
    version = cfg.model_version
    a, b = (labels.get_label(f"school-{s}/set1.jsonl#c-1@{version}") for s in "ab")
    assert (a["problem_id"], a["problem_key"]) == ("c-1", "school-a/set1.jsonl#c-1")
    assert a["batch_id"] == "school-a/set1.jsonl"
    assert (b["problem_id"], b["problem_key"]) == ("c-1", "school-b/set1.jsonl#c-1")
    assert (a["input"]["text"], b["input"]["text"]) == (RECORDS[0]["text"], other[0]["text"])
    assert (a["labels"], b["labels"]) == (["9수01-01"], ["9수01-02"])

    objects.write_bytes("incoming/school-b/set1.jsonl", _data(other))  # set b again: a's labels stay as they are
    cfg2 = config("run-set-b-again")
    summary = run_batch(claim_files(objects, cfg2.run_id), objects=objects, labels=labels, index=index, cfg=cfg2)
    assert (summary["labeled"], summary["skipped"]) == (0, 2) and labels.count_labels() == 4
    assert labels.get_label(f"school-a/set1.jsonl#c-1@{version}")["input"]["text"] == RECORDS[0]["text"]


def test_labels_stored_under_bare_ids_before_the_upgrade_are_not_labeled_again(clean_objects, clean_labels, index):
    from labeling.schemas import Problem, label_doc_id

    objects, labels = clean_objects, clean_labels
    cfg = config("run-upgraded")
    version = cfg.model_version

    def legacy(record: dict, batch_id: str) -> dict:  # a label document as versions before problem keys stored it
        problem = Problem.model_validate(record).with_defaults(cfg.defaults)
        return {"_id": label_doc_id(problem.id, version), "problem_id": problem.id, "batch_id": batch_id,
                "model_version": version, "run_id": "run-old", "curriculum": cfg.curriculum,
                "content_hash": problem.content_hash(cfg.curriculum), "input": {"text": problem.text},
                "labels": ["9수01-01"], "candidates": [{"code": "9수01-01", "score": 0.9}],
                "decision": {"status": "auto_accepted"}}  # fmt: skip

    # c-1 was labeled from this file; c-2's document is of another file's c-2, so this c-2 is labeled now
    labels.upsert_labels([legacy(RECORDS[0], "set.jsonl"), legacy(RECORDS[1], "other.jsonl")])
    objects.write_bytes("incoming/set.jsonl", _data())
    summary = run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg)
    assert (summary["labeled"], summary["skipped"]) == (1, 1)
    assert labels.get_label(f"set.jsonl#c-1@{version}") is None and labels.get_label(f"set.jsonl#c-2@{version}")
    assert labels.get_label(label_doc_id("c-2", version))["batch_id"] == "other.jsonl"  # untouched


def test_a_record_whose_image_is_missing_is_quarantined_with_the_reason(clean_objects, clean_labels, index):
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/img.jsonl", _data() + b'{"id": "i-1", "image": "page1.png"}\n')
    cfg = config("run-img")
    summary = run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg)
    assert (summary["labeled"], summary["quarantined"]) == (2, 1)
    (error_key,) = [k for k in objects.list("quarantine") if k.endswith(".error.json")]
    error = json.loads(objects.read_bytes(error_key))
    assert [(r["record"], r["id"]) for r in error["records"]] == [(3, "i-1")]
    assert "image 'page1.png' not found" in error["records"][0]["reason"]


def test_records_holding_unicode_line_breaks_are_labeled_intact(clean_objects, clean_labels, index):
    """JSONL is split on "\\n" only: U+2028 and U+0085 in a record, raw or escaped (the chunk files hold them raw),
    leave it whole through prepare, the chunk file and labeling."""
    from training.snapshot import read_jsonl

    objects, labels = clean_objects, clean_labels
    texts = {"u-1": "180을 소인수분해하여\u2028거듭제곱을 사용한 곱으로 나타내시오.",
             "u-2": "삼각형의 세 내각의\u0085크기의 합을\u2029구하시오."}  # fmt: skip
    records = [{"id": i, "text": t} for i, t in texts.items()]
    objects.write_bytes("incoming/raw.jsonl", _data(records))  # U+2028 and U+0085 as they are
    objects.write_bytes("incoming/escaped.jsonl", "".join(json.dumps(r) + "\r\n" for r in records).encode())
    cfg = config("run-line-breaks")
    summary = run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg)

    assert (summary["labeled"], summary["quarantined"], summary["files_processed"]) == (4, 0, 2)
    for name in ("raw.jsonl", "escaped.jsonl"):
        for problem_id, text in texts.items():
            doc = labels.get_label(f"{name}#{problem_id}@{cfg.model_version}")
            assert doc["input"]["text"] == text and doc["labels"]
    assert read_jsonl(objects, f"processed/{cfg.run_date}/raw.jsonl") == records


def test_a_zip_of_problem_files_is_unpacked_and_each_member_labeled(clean_objects, clean_labels, index):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("week1/a.jsonl", _data())
        archive.writestr("week1/b.csv", "id,text\nz-1,삼각형의 세 내각의 크기의 합을 구하시오.\n")
        archive.writestr("readme.txt", "not problems")
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/bundle.zip", buffer.getvalue())
    cfg = config("run-zip")
    keys = claim_files(objects, cfg.run_id, run_date=cfg.run_date)
    assert sorted(k.rsplit("bundle.zip.d/", 1)[1] for k in keys) == ["readme.txt", "week1/a.jsonl", "week1/b.csv"]
    summary = run_batch(keys, objects=objects, labels=labels, index=index, cfg=cfg)
    assert (summary["labeled"], summary["files_processed"], summary["files_quarantined"]) == (3, 2, 1)
    assert objects.exists(f"processed/{cfg.run_date}/bundle.zip")  # the archive itself is kept
    assert objects.exists(f"quarantine/{cfg.run_date}/bundle.zip.d/readme.txt.error.json")


def test_refused_archives_and_members_are_in_the_run_report_and_the_cli_summary_with_reasons(
    clean_objects, clean_labels, index
):
    from mathlabel.cli.labeling import _run_summary
    from tests.hostile import zip_bomb, zip_of

    objects = clean_objects
    members = {
        "../../x.jsonl": _data(),
        "notes.exe": b"MZ",
        "a.jsonl": _data(),
        "b.csv": "id,text\nz-1,12의 약수\n".encode(),
    }
    objects.write_bytes("incoming/bundle.zip", zip_of(members))  # a zip slip, an unsupported member, two good ones
    objects.write_bytes("incoming/bomb.zip", zip_bomb())
    objects.write_bytes("incoming/set.jsonl", _data())
    cfg = config("run-zip-report")

    summary = run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=clean_labels, index=index, cfg=cfg)

    assert (summary["labeled"], summary["files_processed"], summary["files_quarantined"]) == (5, 3, 2)
    report = json.loads(objects.read_bytes(summary["report"]))
    listed = {item["file"]: item for item in report["quarantine"]}
    assert set(listed) == {"bundle.zip", "bundle.zip.d/notes.exe", "bomb.zip"}
    assert listed["bomb.zip"]["reason"] == "unusable zip archive: bomb.zip: archive expands beyond 512 MiB"
    assert objects.exists(listed["bomb.zip"]["file_key"])  # the archive itself, in quarantine
    (slip,) = listed["bundle.zip"]["records"]
    assert slip["id"] == "../../x.jsonl" and slip["reason"].startswith("unsafe path in archive")
    assert objects.exists(listed["bundle.zip"]["file_key"])  # a copy of the archive beside its record
    assert "unsupported file type .exe" in listed["bundle.zip.d/notes.exe"]["reason"]
    page = objects.read_bytes(summary["report_html"]).decode()
    assert "member <code>../../x.jsonl</code>: unsafe path in archive" in page
    assert "archive expands beyond 512 MiB" in page and "unsupported file type .exe" in page
    said = "\n".join(_run_summary(report, objects, 0.0))
    assert "files                   5 (3 processed, 2 quarantined, 0 unfinished)" in said
    assert "    bomb.zip: unusable zip archive: bomb.zip: archive expands beyond 512 MiB" in said
    assert "    bundle.zip: 1 member(s) of the archive refused\n      member ../../x.jsonl: unsafe path" in said
    assert "    bundle.zip.d/notes.exe: unsupported file type .exe" in said


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
    cfg = config("run-llm")
    run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg, judge=judge)
    first, second = (labels.get_label(f"llm.jsonl#{i}@lexical-bm25-v3") for i in ("c-1", "c-2"))
    assert first["llm"]["code"] == "9수01-01" and first["model_versions"]["llm"] == "fake:scripted"
    assert "error" in second["llm"] and second["labels"] != ["12미적Ⅱ-01-01"]
    assert second["decision"]["status"] == "needs_review"
    assert any(reason.startswith("LLM: answer rejected") for reason in second["decision"]["reasons"])


def test_an_llm_may_choose_a_graph_neighbour_of_the_best_candidates(clean_objects, clean_labels, index):
    from labeling.llm import LLMJudge
    from labeling.schemas import Problem
    from tests.fakes import ScriptedChat, call

    ranked = index.retriever.rank([Problem.model_validate(RECORDS[0])], config("x").top_k)[0]
    extra = index.expand(ranked)
    assert extra and not {c.code for c in extra} & {c.code for c in ranked}
    assert all(c.score == 0 and c.via.split()[-1] in {r.code for r in ranked[:3]} for c in extra)
    neighbour = extra[0].code  # not ranked among the candidates: without the graph it would be refused
    judge = LLMJudge(ScriptedChat(responses=[call("StandardChoice", code=neighbour, confidence=0.8, reason="r")]), "f")
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/near.jsonl", (json.dumps(RECORDS[0], ensure_ascii=False) + "\n").encode())
    cfg = config("run-near")
    run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg, judge=judge)
    doc = labels.get_label("near.jsonl#c-1@lexical-bm25-v3")
    assert doc["llm"]["code"] == neighbour and doc["labels"] == [ranked[0].code]
    assert [c["code"] for c in doc["candidates"]] == [c.code for c in ranked]  # the ranking is unchanged
    graph = index.context([c.code for c in ranked])  # each candidate carries its graph context for the reviewer
    assert [c.get("prerequisites", []) for c in doc["candidates"]] == [graph[c.code]["prerequisites"] for c in ranked]
    assert any(c.get("prerequisites") for c in doc["candidates"])
    assert doc["decision"]["status"] == "needs_review"
    assert any(reason.startswith(f"LLM chose {neighbour}") for reason in doc["decision"]["reasons"])


def test_the_run_report_lists_reviews_disagreements_and_quarantined_records(clean_objects, clean_labels, index):
    objects = clean_objects
    records = [
        {"id": "r-1", "text": "180을 소인수분해하여 거듭제곱을 사용한 곱으로 나타내시오.", "labels": ["6수03-14"]},
        {"id": "r-2", "text": "오늘 날씨가 맑다."},  # matches no standard: a low score, so review
        {"id": "r-3", "text": "12의 약수를 모두 구하시오.", "labels": ["9수99-99"]},  # no such standard
    ]
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    objects.write_bytes("incoming/set.jsonl", lines.encode())
    cfg = config("run-report")

    summary = run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=clean_labels, index=index, cfg=cfg)

    assert "review" not in summary and "quarantine" not in summary  # the lists stay in the report, out of XCom
    report = json.loads(objects.read_bytes(summary["report"]))
    review = {item["problem_id"]: item for item in report["review"]}
    # The cold start's scores are not calibrated: every label it gives is reviewed, and the reviewer is told why.
    assert [r.split(" (top score")[0] for r in review["r-2"]["reasons"]] == [
        "cold start: no trained model yet, so scores are not calibrated and every label is reviewed"
    ]
    assert review["r-2"]["doc_id"] == f"set.jsonl#r-2@{cfg.model_version}" and len(review["r-2"]["candidates"]) == 3
    (disagreement,) = report["disagreements"]
    assert (disagreement["problem_id"], disagreement["chosen"]) == ("r-1", "9수01-01")
    assert disagreement["provided"] == ["6수03-14"] and disagreement["score"] > 0.6
    (quarantined,) = report["quarantine"]
    reason = "labels not in the target curriculum: 9수99-99"
    assert quarantined["records"] == [{"record": 3, "id": "r-3", "reason": reason}]
    assert objects.exists(quarantined["error_key"]) and objects.exists(quarantined["rejected_key"])
    assert b"r-3" in objects.read_bytes(quarantined["rejected_key"])
    page = objects.read_bytes(summary["report_html"]).decode()
    assert all(text in page for text in ("r-2@", "r-1@", "9수99-99", quarantined["rejected_key"]))
