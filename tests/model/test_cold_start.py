"""Behaviour of the cold-start labeler over the shipped sample: what must not move its candidates (spacing, full-width
forms, a problem number), what must move them the right way (school and grade), and what it must find."""

import json

import pytest

from graph_seed.loaders import LOADERS
from labeling.index import CurriculumIndex
from labeling.ingest import parse_file
from labeling.schemas import Problem
from mathlabel.config import PROJECT_ROOT
from tests.curricula import exported_standards, index_without_graph

SAMPLE = PROJECT_ROOT / "labeling" / "samples" / "kr2022_sample.jsonl"
TOP = 5


@pytest.fixture(scope="module")
def index() -> CurriculumIndex:
    return index_without_graph("kr-2022")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


def read(records: list[dict]) -> list[Problem]:
    """The problems of a JSONL file holding ``records``, read as a labeling run reads them."""
    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode()
    parsed = parse_file("set.jsonl", data)
    assert parsed.rejected == []
    return [problem for _, problem in parsed.problems]


def ranked(index: CurriculumIndex, problems: list[Problem], top: int = TOP) -> list[list[tuple[str, float]]]:
    return [[(c.code, c.score) for c in row] for row in index.cold_start.rank(problems, top)]


def codes(index: CurriculumIndex, problems: list[Problem], top: int = TOP) -> list[list[str]]:
    return [[code for code, _ in row] for row in ranked(index, problems, top)]


def with_text(records: list[dict], change) -> list[dict]:
    changed = [{**r, "text": change(r["text"])} for r in records]
    assert any(c["text"] != r["text"] for c, r in zip(changed, records, strict=True))  # the variant differs
    return changed


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace(" ", "  "),
        lambda t: t.replace(" ", "\t"),
        lambda t: t.replace(" ", "\n"),
        lambda t: f"  {t}\n\n",
    ],
    ids=["doubled", "tabs", "newlines", "padded"],
)
def test_spacing_does_not_change_the_candidates_or_their_scores(index, records, change):
    assert ranked(index, read(with_text(records, change))) == ranked(index, read(records))


FULL_WIDTH = str.maketrans("0123456789+-=()<>", "０１２３４５６７８９＋－＝（）＜＞")


def test_full_width_digits_and_signs_do_not_change_the_candidates(index, records):
    """Korean input methods type full-width forms; the labeler reads them as the ASCII ones."""
    assert codes(index, read(with_text(records, lambda t: t.translate(FULL_WIDTH)))) == codes(index, read(records))


# Measured on the sample: 6 to 12 of the 109 problems get other top-5 candidates, and with "(2) " one problem another
# first candidate (the one-character word "2" matches standards' documents).
@pytest.mark.parametrize("number", ["1. ", "(2) ", "① "])
def test_a_problem_number_before_the_text_does_not_change_the_candidates(index, records, number):
    assert codes(index, read(with_text(records, lambda t: number + t))) == codes(index, read(records))


def label_ranks(index: CurriculumIndex, problems: list[Problem]) -> tuple[list[int], list[list[str]]]:
    """Where each problem's own standard ranks (0: first), and each problem's top candidates."""
    rows = codes(index, problems, top=len(index.standards))
    return [row.index(p.labels[0]) for p, row in zip(problems, rows, strict=True)], [row[:TOP] for row in rows]


@pytest.mark.parametrize(
    ("school", "other", "band"),
    [("중학교", {"school": "초등학교", "grade": 6}, "중"), ("초등학교", {"school": "중학교", "grade": 1}, "초")],
)
def test_a_problems_school_moves_the_standards_of_that_school_up(index, records, school, other, band):
    """Given its own school, a problem's standard ranks higher, and more of its top candidates are of that school,
    than given another school: for some problems, and never the other way round."""
    chosen = [r for r in records if r.get("school") == school]
    own, own_top = label_ranks(index, read(chosen))
    elsewhere, elsewhere_top = label_ranks(index, read([{**r, **other} for r in chosen]))

    def in_band(rows: list[list[str]]) -> list[int]:
        return [sum(index.by_code[code]["grade_group"].startswith(band) for code in row) for row in rows]

    pairs = list(zip(own, elsewhere, strict=True))
    assert all(mine <= theirs for mine, theirs in pairs) and any(mine < theirs for mine, theirs in pairs)
    counts = list(zip(in_band(own_top), in_band(elsewhere_top), strict=True))
    assert all(mine >= theirs for mine, theirs in counts) and any(mine > theirs for mine, theirs in counts)


def test_a_problems_own_metadata_never_pushes_its_standard_down(index, records):
    given = [r for r in records if r.get("school")]
    bare = [{k: v for k, v in r.items() if k not in ("school", "grade", "course")} for r in given]
    with_metadata, without = label_ranks(index, read(given))[0], label_ranks(index, read(bare))[0]
    assert all(mine <= theirs for mine, theirs in zip(with_metadata, without, strict=True))


def test_every_sample_problems_standard_is_among_its_first_ten_candidates(index, records):
    problems = read(records)
    missed = [p.id for p, row in zip(problems, codes(index, problems, top=10), strict=True) if p.labels[0] not in row]
    assert missed == []


@pytest.mark.integration
@pytest.mark.parametrize("curriculum_id", sorted(LOADERS))
def test_the_standards_these_tests_index_are_the_seeded_graphs(seeded_graph, curriculum_id):
    """tests/curricula.py builds the index from the shipped files; the labeler of a run reads the graph."""

    def comparable(rows):
        return [{**row, "terms": sorted(row["terms"])} for row in rows]

    graph = CurriculumIndex(seeded_graph, curriculum_id).standards
    assert comparable(exported_standards(curriculum_id)) == comparable(graph)
