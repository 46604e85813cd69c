import json

import pytest

from labeling.errors import IngestError
from labeling.ingest import parse_file
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


def test_csv_in_utf8_and_cp949_read_the_same():
    text = 'id,text,school,grade,labels\np1,"12와 18의 최대공약수를 구하시오.",중학교,1,9수01-02\n'
    for encoding in ("utf-8", "utf-8-sig", "cp949"):
        parsed = parse_file("set.csv", text.encode(encoding))
        assert [(p.id, p.text, p.labels) for _, p in parsed.problems] == [
            ("p1", "12와 18의 최대공약수를 구하시오.", ["9수01-02"])
        ], encoding


def test_csv_row_with_extra_cells_is_rejected_by_row_number():
    parsed = parse_file("set.csv", "id,text\np1,좋은 문제\np2,a,b\n".encode())
    assert [p.id for _, p in parsed.problems] == ["p1"]
    assert parsed.rejected[0].record == 3
    assert "more cells" in parsed.rejected[0].reason


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("set.xlsx", b"PK...", "unsupported file type .xlsx"),
        ("set.jsonl", b"  \n", "file is empty"),
        ("set.csv", "text,grade\n문제,1\n".encode(), "'id' column"),
        ("set.csv", b"\xff\xfe\x00\x00\xff" * 10, "not valid UTF-8 or CP949"),
    ],
)
def test_unusable_files_raise_an_error_naming_the_file(name, data, message):
    with pytest.raises(IngestError, match=message) as info:
        parse_file(name, data)
    assert name in str(info.value)


def test_metadata_defaults_are_checked_and_fill_only_what_a_problem_lacks():
    from labeling.schemas import Problem, metadata_defaults

    defaults = metadata_defaults("중", "2학년", "수학")
    assert defaults == {"school": "중학교", "grade": 2, "course": "수학"} and metadata_defaults() == {}
    for bad, message in (({"school": "대학교"}, "unknown school"), ({"school": "중학교", "grade": 5}, "does not exist"),
                         ({"grade": 14}, "0 \\(K\\) to 12"), ({"grade": "x"}, "grade 'x'")):  # fmt: skip
        with pytest.raises(ValueError, match=message):
            metadata_defaults(**bad)
    bare = Problem(id="p", text="t")
    assert bare.with_defaults(defaults).metadata == {**defaults, "unit": None}
    own = Problem(id="q", text="t", school="고등학교", grade=1)
    assert own.with_defaults(defaults).metadata == {"school": "고등학교", "grade": 1, "course": "수학", "unit": None}
    assert Problem(id="r", text="t", school="초등학교").with_defaults({"grade": 5}).grade == 5
    assert Problem(id="s", text="t", school="중학교").with_defaults({"grade": 5}).grade is None  # invalid: left as is
