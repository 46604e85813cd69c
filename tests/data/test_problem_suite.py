"""The problem-record suite (Great Expectations) over records: good ones kept, bad ones rejected with line and
reason."""

import json

import pytest

from labeling.validation import ProblemSuite, read_file

KNOWN = {"9수01-01", "9수01-02", "4수01-01"}


@pytest.fixture(scope="module")
def suite() -> ProblemSuite:
    return ProblemSuite(max_text_chars=1000, known_codes=KNOWN, known_courses={"수학", "공통수학1"})


def jsonl(*records) -> bytes:
    return "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records).encode()


def test_good_jsonl_records_become_problems_with_normalised_labels(suite):
    parsed = read_file("set.jsonl", jsonl({"id": 1, "text": "12를 소인수분해하시오.", "grade": "1학년", "school": "중",
                                           "labels": ["[9수01-01]"]}), suite)  # fmt: skip
    assert parsed.rejected == []
    ((record, problem),) = parsed.problems
    assert (record, problem.id, problem.school, problem.grade) == (1, "1", "중학교", 1)
    assert problem.labels == ["9수01-01"]


def test_bad_records_are_rejected_with_line_and_reason_and_good_ones_kept(suite):
    parsed = read_file(
        "mixed.jsonl",
        jsonl(
            {"id": "a", "text": "3 + 4를 계산하시오."},
            "{not json",
            {"id": "b"},
            {"id": "a", "text": "중복 아이디"},
            {"id": "c", "text": "x", "labels": ["9수99-99"]},
            {"id": "d", "text": "x", "school": "대학교"},
            {"id": "e", "text": "x", "school": "중학교", "grade": 5},
            ["not", "an", "object"],
            {"id": "f", "text": "y" * 1001},
            {"id": "g", "text": "5 × 6은 얼마입니까?", "labels": "4수01-01", "course": "수학"},
            {"id": "h", "text": "x", "course": "미술"},
            {"id": "i", "text": "x", "grade": 14},
        ),
        suite,
    )
    assert [p.id for _, p in parsed.problems] == ["g"]
    reasons = {r.record: r.reason for r in parsed.rejected}
    assert "duplicate id 'a'" in reasons[1] and "duplicate id 'a'" in reasons[4]
    assert "invalid JSON" in reasons[2]
    assert "neither text nor image" in reasons[3]
    assert "labels not in the target curriculum: 9수99-99" in reasons[5]
    assert "unknown school '대학교'" in reasons[6]
    assert "grade 5 does not exist in 중학교" in reasons[7]
    assert "JSON object" in reasons[8]
    assert "text has 1001 characters; the limit is 1000" in reasons[9]
    assert "unknown course '미술'" in reasons[11]
    assert "grade 14 is outside 0–12" in reasons[12]
    assert parsed.read == 12 and [r.record for r in parsed.rejected] == sorted(reasons)
