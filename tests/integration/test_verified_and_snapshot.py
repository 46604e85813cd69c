"""Verified labels in, an audited trail kept, and training snapshots cut against a frozen hold-out."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from labeling.index import CurriculumIndex, current_verified
from labeling.intake import claim_files
from labeling.schemas import Problem
from training.snapshot import build_snapshot, in_holdout_share, read_jsonl, record_key
from training.snapshot_validation import validate_and_freeze, validate_snapshot
from training.verified import import_dropped, import_verified

pytestmark = pytest.mark.integration

SAMPLE = [
    {"id": "v-1", "text": "180을 소인수분해하여 거듭제곱의 곱으로 나타내시오.", "labels": ["9수01-01"]},
    {"id": "v-2", "text": "72와 120의 최대공약수를 구하시오.", "labels": "9수01-02"},
    {"id": "v-3", "text": "삼각형의 세 내각의 크기의 합을 구하시오.", "labels": ["9 수 02-01"]},
]


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


@pytest.fixture
def index(seeded_graph):
    return CurriculumIndex(seeded_graph, "kr-2022")


def test_import_stores_validates_and_is_idempotent(clean_labels, index):
    bad = [{"id": "v-4", "text": "x", "labels": ["9수99-99"]}, {"id": "v-5", "text": "no labels"}]
    first, parsed = import_verified("a.jsonl", jsonl(SAMPLE + bad), labels=clean_labels, index=index, source_uri="s")
    assert (first.read, first.stored, first.quarantined) == (5, 3, 2)
    reasons = {r.id: r.reason for r in parsed.rejected}
    assert "9수99-99" in reasons["v-4"] and "needs labels" in reasons["v-5"]
    again, _ = import_verified("a.jsonl", jsonl(SAMPLE), labels=clean_labels, index=index, source_uri="s")
    assert (again.stored, again.unchanged, clean_labels.count_labels()) == (0, 3, 3)
    current = {d["problem_id"]: d for d in current_verified(clean_labels.reader(), "kr-2022")}
    assert current["v-3"]["labels"] == ["9수02-01"]  # normalised
    assert current["v-1"]["verification"]["by"] == "import:a.jsonl"


def test_a_later_verification_supersedes_without_deleting(clean_labels, index):
    import_verified("a.jsonl", jsonl(SAMPLE), labels=clean_labels, index=index, source_uri="s")
    fixed = [{**SAMPLE[1], "labels": ["9수01-01"]}]
    when = datetime.now(UTC) + timedelta(minutes=1)
    result, _ = import_verified("b.csv.jsonl", jsonl(fixed), labels=clean_labels, index=index, source_uri="t",
                                verified_by="reviewer-kim", now=when)  # fmt: skip
    assert (result.stored, result.superseded) == (1, 1)
    trail = sorted(clean_labels.find_labels({"problem_id": "v-2"}), key=lambda d: d["verification"]["at"])
    assert [d["labels"] for d in trail] == [["9수01-02"], ["9수01-01"]]
    assert trail[0]["current"] is False and trail[0]["superseded_by"] == trail[1]["_id"]
    assert (
        trail[0]["superseded_at"] == when.replace(microsecond=when.microsecond)
        and trail[1]["verification"]["by"] == "reviewer-kim"
    )
    current = {d["problem_id"]: d["labels"] for d in current_verified(clean_labels, "kr-2022")}
    assert current == {"v-1": ["9수01-01"], "v-2": ["9수01-01"], "v-3": ["9수02-01"]}


def test_the_drop_folder_is_imported_filed_and_quarantined(clean_objects, clean_labels, index):
    objects = clean_objects
    objects.write_bytes("incoming/verified/good.jsonl", jsonl([*SAMPLE, {"id": "bad", "text": "x", "labels": "Z"}]))
    objects.write_bytes("incoming/verified/notes.txt", b"not a problem file")
    objects.write_bytes("incoming/problems.jsonl", jsonl([{"id": "p", "text": "문제"}]))
    assert claim_files(objects, "batch-run") == ["processing/batch-run/problems.jsonl"]  # labeling leaves them
    results = import_dropped(objects, clean_labels, index, run_id="r1", run_date="2026-11-22")
    by_file = {r["file"]: r for r in results}
    assert by_file["good.jsonl"]["stored"] == 3 and by_file["notes.txt"]["status"] == "quarantined"
    assert objects.list("incoming/verified") == []
    assert objects.exists("processed/2026-11-22/verified/good.jsonl")
    error = json.loads(objects.read_bytes("quarantine/2026-11-22/verified/good.jsonl.error.json"))
    assert error["records"][0]["id"] == "bad" and "not in the target curriculum" in error["records"][0]["reason"]
    assert objects.exists("quarantine/2026-11-22/verified/notes.txt")


# 9수02-06 is 그래프 in kr-2022 and 지수법칙 in kr-2015; 9수01-02 is a standard of both; 10수학01-01 only of kr-2015
KR2015 = {"id": "k15", "curriculum": "kr-2015", "text": "a^2 × a^3을 간단히 하시오.", "labels": ["9수02-06"]}
SHARED = {"id": "shared", "text": "다음 그래프를 해석하시오.", "labels": ["9수02-06"]}
HIGH = {"id": "high", "school": "고등학교", "grade": 1, "text": "180을 소인수분해하시오.", "labels": ["9수01-01"]}


def test_a_verification_lands_in_the_curriculum_its_record_names(clean_objects, clean_labels, seeded_graph):
    drop = [KR2015, SHARED, HIGH, SAMPLE[0], {**SAMPLE[1], "curriculum": "kr-2022"}, {**SAMPLE[2], "school": "중학교"}]
    objects = clean_objects
    objects.write_bytes("incoming/verified/mixed.jsonl", jsonl(drop))
    # an import for kr-2022 alone: the kr-2015 record is not stored as kr-2022's 9수02-06 (그래프)
    (result,) = import_dropped(objects, clean_labels, CurriculumIndex(seeded_graph, "kr-2022"), run_id="r1",
                               run_date="2026-11-22")  # fmt: skip
    assert (result["stored"], result["quarantined"]) == (4, 2)
    error = json.loads(objects.read_bytes("quarantine/2026-11-22/verified/mixed.jsonl.error.json"))
    reasons = {r["id"]: r["reason"] for r in error["records"]}
    assert reasons["k15"] == "curriculum 'kr-2015' is not one this import is for (kr-2022)"
    assert reasons["high"] == "9수01-01 is a 중1-3 standard of kr-2022, which contradicts the record's 고등학교 1"
    current = {d["problem_id"]: d for d in current_verified(clean_labels.reader(), "kr-2022")}
    assert sorted(current) == ["shared", "v-1", "v-2", "v-3"]
    assert {d["verification"]["curriculum"] for d in current.values()} == {"kr-2022"}

    # an import for both: a code of both needs the record's word; the kr-2015 record lands in kr-2015
    both = CurriculumIndex(seeded_graph, "kr")
    new = [KR2015, {**SHARED, "id": "shared-2"}, {"id": "hs", "text": "다항식의 덧셈", "labels": ["10수학01-01"]},
           {"id": "mixed", "text": "x", "labels": ["10수학01-01", "10공수1-01-01"]}]  # fmt: skip
    result, parsed = import_verified("both.jsonl", jsonl(new), labels=clean_labels, index=both, source_uri="s")
    assert (result.stored, result.quarantined) == (2, 2)
    reasons = {r.id: r.reason for r in parsed.rejected}
    assert reasons["shared-2"] == "9수02-06 exists in kr-2022 and kr-2015: say which with `curriculum`"
    assert "standards of different curricula" in reasons["mixed"]
    placed = {d["problem_id"]: d for d in current_verified(clean_labels.reader(), both.curriculum)}
    assert {k: d["verification"]["curriculum"] for k, d in placed.items()} == {"k15": "kr-2015", "hs": "kr-2015"}
    assert {d["curriculum"] for d in placed.values()} == {"kr-2022,kr-2015"}  # what training for both reads


def test_two_problem_sets_that_reuse_an_id_are_two_verified_problems_in_a_snapshot(clean_objects, clean_labels, index):
    # a verified record names its problem set with ``source``: set1's problem 1 and set2's problem 1 are two problems
    set1 = {"id": "1", "source": "set1.jsonl", "text": SAMPLE[0]["text"], "labels": ["9수01-01"]}
    set2 = {"id": "1", "source": "set2.jsonl", "text": SAMPLE[2]["text"], "labels": ["9수02-01"]}
    import_verified("r1.jsonl", jsonl([set1, SAMPLE[1]]), labels=clean_labels, index=index, source_uri="s")
    result, _ = import_verified("r2.jsonl", jsonl([set2]), labels=clean_labels, index=index, source_uri="s")
    assert (result.stored, result.superseded) == (1, 0)
    current = {d["problem_key"]: d for d in current_verified(clean_labels.reader(), "kr-2022")}
    assert sorted(current) == ["set1.jsonl#1", "set2.jsonl#1", "v-2"]
    assert current["set1.jsonl#1"]["_id"].startswith("set1.jsonl#1@verified-") and current["v-2"]["problem_id"] == "v-2"

    snap = build_snapshot(clean_objects, clean_labels.reader(), "kr-2022", date="2026-11-22", holdout_share=0.5)
    train, held = read_jsonl(clean_objects, snap.train_key), read_jsonl(clean_objects, snap.holdout_key)
    assert sorted(record_key(r) for r in train + held) == ["set1.jsonl#1", "set2.jsonl#1", "v-2"]
    assert {record_key(r) for r in held} == {k for k in current if in_holdout_share(k, 0.5)}
    assert next(r for r in train + held if r["id"] == "v-2").get("key") is None  # a bare id's record is as before
    report = validate_snapshot(train, held, index.codes, min_holdout=1)
    assert not {"no conflicting labels", "no leakage into the hold-out"} & {f["check"] for f in report.failures}


def many(n: int, code: str, prefix: str = "m") -> list[dict]:
    return [{"id": f"{prefix}-{code}-{i}", "text": f"{code} 문제 {i}번: 계산하시오 {i * 7}", "labels": [code]}
            for i in range(n)]  # fmt: skip


def test_the_snapshot_is_cut_against_a_frozen_hold_out(clean_objects, clean_labels, index):
    objects = clean_objects
    rows = many(60, "9수01-01") + many(60, "9수01-02")
    import_verified("a.jsonl", jsonl(rows), labels=clean_labels, index=index, source_uri="s")
    first = build_snapshot(objects, clean_labels.reader(), "kr-2022", date="2026-11-22", holdout_share=0.2)
    held = {r["id"] for r in read_jsonl(objects, first.holdout_key)}
    train = read_jsonl(objects, first.train_key)
    assert held and held == {r["id"] for r in rows if in_holdout_share(r["id"], 0.2)}
    assert not held & {r["id"] for r in train} and len(train) + len(held) == 120
    assert first.manifest["holdout"]["version"] == 1 and first.manifest["train"]["problems"] == len(train)
    assert objects.list("input-data/holdout") == []  # a candidate until the snapshot validates
    checked = validate_and_freeze(objects, first, index.codes, min_holdout=5)
    assert checked.ok and checked.holdout_key == "input-data/holdout/kr-2022/v1/holdout.jsonl"
    assert {r["id"] for r in read_jsonl(objects, checked.holdout_key)} == held
    # more labels arrive: the hold-out stays frozen, and the new problems in its share are held back
    import_verified("b.jsonl", jsonl(many(40, "9수01-01", "n")), labels=clean_labels, index=index, source_uri="s")
    second = build_snapshot(objects, clean_labels.reader(), "kr-2022", date="2026-11-23", holdout_share=0.2)
    assert second.holdout_key == checked.holdout_key and second.prefix != first.prefix
    assert second.manifest["held_back"] > 0
    assert {r["id"] for r in read_jsonl(objects, second.holdout_key)} == held
    # the same data gives the same, unchanged snapshot
    again = build_snapshot(objects, clean_labels.reader(), "kr-2022", date="2026-11-23", holdout_share=0.2)
    assert again.prefix == second.prefix
    report = validate_snapshot(read_jsonl(objects, second.train_key), read_jsonl(objects, second.holdout_key),
                               index.codes, min_holdout=5)  # fmt: skip
    assert report.ok, report.summary()


def test_conflicting_labels_fail_validation_with_a_readable_report(clean_objects, clean_labels, index):
    objects = clean_objects
    rows = many(30, "9수01-01") + many(30, "9수01-02")
    import_verified("a.jsonl", jsonl(rows), labels=clean_labels, index=index, source_uri="s")
    train_id = next(r for r in rows if not in_holdout_share(r["id"], 0.2))
    objects.write_bytes("input-data/text/extra.jsonl", jsonl([{**train_id, "labels": ["9수02-01"]}]))
    snap = build_snapshot(objects, clean_labels.reader(), "kr-2022", date="2026-11-22", holdout_share=0.2)
    report = validate_snapshot(read_jsonl(objects, snap.train_key), read_jsonl(objects, snap.holdout_key),
                               index.codes, min_holdout=1)  # fmt: skip
    assert not report.ok
    checks = {f["check"]: f for f in report.failures}
    assert train_id["id"] in checks["no conflicting labels"]["examples"]
    assert "9수02-01" in checks["examples per label"]["reason"]
    assert "nothing is trained" in report.summary()


def test_verified_problems_teach_the_cold_start_labeler_before_any_training(clean_labels, seeded_graph):
    marbles = Problem(
        id="q",
        text="Tom has 25 red marbles, 34 blue marbles, 18 green marbles and 41 yellow marbles. How many marbles?",
        grade=2,
    )
    before = CurriculumIndex(seeded_graph, "us-ccss", labels=clean_labels)
    assert "2.NBT.B.6" not in [c.code for c in before.cold_start.rank([marbles], 5)[0]]
    verified = [
        {"id": "e-1", "text": "Sam has 12 red beads, 25 blue beads, 31 green beads and 19 yellow beads. "
                              "How many beads?", "labels": ["2.NBT.B.6"]},
        {"id": "e-2", "text": "Add the red, blue, green and yellow marbles: 12, 25, 31 and 19.",
         "labels": ["2.NBT.B.6"]},
        {"id": "e-3", "text": "Jo had 40 apples and ate 15. How many are left?", "labels": ["2.OA.A.1"]},
    ]  # fmt: skip
    import_verified("v.jsonl", jsonl(verified), labels=clean_labels, index=before, source_uri="s")
    import_verified("w.jsonl", jsonl([{**verified[2], "labels": ["2.NBT.B.5"]}]), labels=clean_labels, index=before,
                    source_uri="s", now=datetime.now(UTC) + timedelta(minutes=1))  # fmt: skip
    after = CurriculumIndex(seeded_graph, "us-ccss", labels=clean_labels)
    assert after.examples["2.NBT.B.6"][0].startswith("Add the red") and len(after.examples["2.NBT.B.6"]) == 2
    assert "2.OA.A.1" not in after.examples  # superseded: only a problem's current verification counts
    assert after.cold_start.rank([marbles], 5)[0][0].code == "2.NBT.B.6"
    assert after.retriever.rank([marbles], 5)[0][0].code != "2.NBT.B.6"  # the graph-only ranking is unchanged


def test_too_few_verified_problems_freeze_no_hold_out_and_the_report_says_what_to_add(
    clean_objects, clean_labels, index, settings
):
    from mathlabel.config import PROJECT_ROOT

    objects, training = clean_objects, settings.training
    sample = (PROJECT_ROOT / "labeling/samples/kr2022_sample.jsonl").read_bytes()
    import_verified("kr2022_sample.jsonl", sample, labels=clean_labels, index=index, source_uri="s")
    snap = build_snapshot(objects, clean_labels.reader(), "kr-2022", date="2026-11-22",
                          holdout_share=training.holdout_share)  # fmt: skip

    report = validate_and_freeze(objects, snap, index.codes, min_examples_per_label=training.min_examples_per_label,
                                 min_holdout=training.min_holdout)  # fmt: skip

    assert not report.ok and report.holdout_key is None
    assert objects.list("input-data/holdout") == []  # nothing frozen: the next run cuts a new candidate
    checks = {f["check"]: f for f in report.failures}
    size = checks["hold-out size"]
    assert (size["count"], size["needed"], size["add_verified"]) == (10, 20, 100)
    assert "about 200 verified problems in all (there are 109)" in size["reason"]
    assert "verify about 100 more" in size["reason"] and "training.min_holdout" in size["reason"]
    few = checks["examples per label"]
    assert few["needs"] == {c: 1 for c in ["2수04-02", "6수04-05", "9수02-16", "9수02-20", "9수03-05", "9수03-06"]}
    assert "9수02-20 (has 1, needs 1 more)" in few["reason"]
    assert "verify about 100 more" in report.summary()


def test_a_frozen_hold_out_too_small_for_a_raised_minimum_asks_for_a_new_version(clean_objects, clean_labels, index):
    objects = clean_objects
    import_verified("a.jsonl", jsonl(many(40, "9수01-01") + many(40, "9수01-02")), labels=clean_labels, index=index,
                    source_uri="s")  # fmt: skip
    first = build_snapshot(objects, clean_labels.reader(), "kr-2022", date="2026-11-22", holdout_share=0.1)
    assert validate_and_freeze(objects, first, index.codes, min_holdout=1).ok
    again = build_snapshot(objects, clean_labels.reader(), "kr-2022", date="2026-11-23", holdout_share=0.1)
    size = first.manifest["holdout"]["problems"]

    report = validate_and_freeze(objects, again, index.codes, min_holdout=size + 1)

    (failure,) = report.failures
    assert failure["check"] == "hold-out size" and f"frozen hold-out v1 has {size} problems" in failure["reason"]
    assert "new_holdout=true" in failure["reason"]
    assert [k for k in objects.list("input-data/holdout") if k.endswith("manifest.json")] == [
        "input-data/holdout/kr-2022/v1/manifest.json"
    ]


def test_import_verified_cli_quarantines_rejected_rows_like_the_drop_folder(clean_objects, clean_labels, seeded_graph,
                                                                            tmp_path):  # fmt: skip
    from typer.testing import CliRunner

    from mathlabel.cli import app

    bad = [{"id": "bad-code", "text": "x", "labels": ["9수99-99"]}, {"id": "no-labels", "text": "y"}]
    path = tmp_path / "reviewed.jsonl"
    path.write_bytes(jsonl(SAMPLE + bad))

    result = CliRunner().invoke(app, ["import-verified", str(path), "--curriculum", "kr-2022"])

    assert result.exit_code == 0, result.output
    (rows_key,) = [k for k in clean_objects.list("quarantine") if k.endswith("/verified/reviewed.jsonl.rejected.jsonl")]
    assert [json.loads(line)["id"] for line in clean_objects.read_bytes(rows_key).decode().splitlines()] == [
        "bad-code", "no-labels"
    ]  # fmt: skip
    error = json.loads(clean_objects.read_bytes(rows_key.replace(".rejected.jsonl", ".error.json")))
    assert error["source"] == path.resolve().as_uri() and "9수99-99" in error["records"][0]["reason"]
    assert clean_objects.uri(rows_key) in result.stderr  # the user is told where they went
    assert "stored 3" in result.stdout and clean_labels.count_labels() == 3
