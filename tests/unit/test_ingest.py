"""Reading problem files: syntax, types and encodings (the data contract is tested in tests/data)."""

import json

import pytest

from labeling.errors import IngestError
from labeling.ingest import jsonl_lines, parse_file
from labeling.schemas import Problem


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


def test_the_problem_set_a_record_names_is_kept_beside_it_not_in_the_problem():
    jsonl = b'{"id": "1", "text": "a", "source": "set1.jsonl"}\n{"id": "2", "text": "b", "source": " "}\n'
    parsed = parse_file("verified.jsonl", jsonl)
    assert parsed.sources == {1: "set1.jsonl"} and "source" not in parsed.problems[0][1].model_dump()
    parsed = parse_file("verified.csv", b"id,text,source\n1,a,school-a/set1.jsonl\n2,b,\n")
    assert parsed.sources == {2: "school-a/set1.jsonl"}  # CSV: by row number, the header being row 1


def test_jsonl_is_split_on_newlines_only_so_records_holding_unicode_line_breaks_stay_whole():
    texts = ["첫째 줄\u2028둘째 줄", "x\u0085y\u2029z", "a\x0bb\x0cc\x1cd\x1de\x1ef"]
    lines = [json.dumps({"id": f"u{i}", "text": t}, ensure_ascii=False) for i, t in enumerate(texts[:2], start=1)]
    raw_controls = '{"id": "u3", "text": "' + texts[2] + '"}\n'
    data = (lines[0] + "\r\n" + lines[1] + "\n\n" + raw_controls).encode()

    parsed = parse_file("set.jsonl", data)

    assert [(record, p.id, p.text) for record, p in parsed.problems] == [(1, "u1", texts[0]), (2, "u2", texts[1])]
    # A raw control character is invalid JSON (it must be escaped): one record refused, by its line, not six.
    assert [(r.record, r.id) for r in parsed.rejected] == [(4, None)] and "invalid JSON" in parsed.rejected[0].reason
    assert jsonl_lines("a\r\nb\u2028c\n\nd") == ["a", "b\u2028c", "", "d"]
    assert jsonl_lines("a\n") == ["a"] and jsonl_lines("") == []


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


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("1. 다음을 계산하시오.", "다음을 계산하시오."),
        ("(2) 다음을 계산하시오.", "다음을 계산하시오."),
        ("① 다음을 계산하시오.", "다음을 계산하시오."),
        ("문제 12) 다음을 계산하시오.", "다음을 계산하시오."),
        ("Q4: What is 3 + 4?", "What is 3 + 4?"),
        ("1.5 L of water", "1.5 L of water"),
        ("3 : 4의 비를 구하시오.", "3 : 4의 비를 구하시오."),
        ("10 apples", "10 apples"),
    ],
)
def test_the_retriever_reads_a_problem_without_its_printed_number(text, query):
    assert Problem(id="p", text=text).query_text() == query
