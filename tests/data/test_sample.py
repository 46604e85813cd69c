"""The shipped sample problem set: what its README says it holds, and the problem suite of its curriculum over it."""

import json
from collections import Counter

import pytest

from labeling.validation import read_file
from mathlabel.config import PROJECT_ROOT
from tests.curricula import index_without_graph

SAMPLE = PROJECT_ROOT / "labeling" / "samples" / "kr2022_sample.jsonl"


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


def suite_of(curriculum: str, settings):
    return index_without_graph(curriculum).suite(settings.labeling.max_text_chars)


def test_the_sample_holds_what_its_readme_says(records):
    assert sorted(r["id"] for r in records) == [f"kr22-s{i:03d}" for i in range(1, 110)]
    assert all(len(r["labels"]) == 1 for r in records)
    per_standard = Counter(r["labels"][0] for r in records)
    assert len(per_standard) == 51 and min(per_standard.values()) == 2
    assert Counter(per_standard.values()) == {2: 44, 3: 7}
    assert Counter(r.get("school") for r in records) == {"초등학교": 42, "중학교": 41, "고등학교": 11, None: 15}
    assert all(("grade" in r) == ("school" in r) for r in records)


def test_the_kr2022_suite_accepts_every_sample_problem(settings):
    parsed = read_file(SAMPLE.name, SAMPLE.read_bytes(), suite_of("kr-2022", settings))
    assert parsed.rejected == []
    assert len(parsed.problems) == 109


def test_another_curriculums_suite_rejects_every_sample_problem_naming_its_label(settings, records):
    parsed = read_file(SAMPLE.name, SAMPLE.read_bytes(), suite_of("us-ccss", settings))
    assert parsed.problems == []
    assert len(parsed.rejected) == 109
    for rejected in parsed.rejected:
        label = records[rejected.record - 1]["labels"][0]
        assert f"labels not in the target curriculum: {label}" in rejected.reason, rejected


def test_known_bad_sample_records_are_rejected_with_their_reason_and_the_rest_kept(settings, records):
    bad = [dict(r) for r in records]
    bad[2]["id"] = bad[0]["id"]
    bad[4]["labels"] = ["9수99-99"]
    bad[6]["school"] = "대학교"
    bad[8]["text"] = ""
    bad[10]["course"] = "미술"
    bad[12]["text"] = "x" * (settings.labeling.max_text_chars + 1)
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in bad).encode()
    parsed = read_file("bad.jsonl", data, suite_of("kr-2022", settings))
    reasons = {r.record: r.reason for r in parsed.rejected}
    assert sorted(reasons) == [1, 3, 5, 7, 9, 11, 13]
    assert f"duplicate id {records[0]['id']!r}" in reasons[1] and f"duplicate id {records[0]['id']!r}" in reasons[3]
    assert "labels not in the target curriculum: 9수99-99" in reasons[5]
    assert "unknown school '대학교'" in reasons[7]
    assert "neither text nor image" in reasons[9]
    assert "unknown course '미술'" in reasons[11]
    assert f"the limit is {settings.labeling.max_text_chars}" in reasons[13]
    assert len(parsed.problems) == 109 - 7
