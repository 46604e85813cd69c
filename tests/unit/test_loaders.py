"""The curriculum loaders: counts that match the source files, and bad rows reported with file, row and value."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from graph_seed import DATA_DIR
from graph_seed.codes import is_valid_code, normalize_code
from graph_seed.errors import CurriculumValidationError, GraphSeedError
from graph_seed.loaders import LOADERS, files_hash, load_curriculum, load_kr2015, load_kr2022, load_us_ccss
from graph_seed.models import Curriculum


@pytest.fixture(scope="module")
def kr2022() -> Curriculum:
    return load_kr2022()


@pytest.fixture(scope="module")
def kr2015() -> Curriculum:
    return load_kr2015()


@pytest.fixture(scope="module")
def ccss() -> Curriculum:
    return load_us_ccss()


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(DATA_DIR, root, ignore=shutil.ignore_patterns("*.md"))
    return root


def _edit(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in a file, keeping its bytes otherwise (CRLF line ends included)."""
    text = path.read_bytes().decode("utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_bytes(text.replace(old, new, 1).encode("utf-8"))


def _problems(loader, root: Path) -> list[str]:
    with pytest.raises(CurriculumValidationError) as info:
        loader(root)
    return [str(p) for p in info.value.problems]


def _edges(curriculum: Curriculum) -> Counter:
    return Counter((e.kind, e.source) for e in curriculum.edges)


def test_kr2022_has_every_standard_in_its_groups(kr2022):
    assert len(kr2022.standards) == 435
    groups = Counter(kind for _, kind in {(s.group, s.group_kind) for s in kr2022.standards})
    assert groups == {"GradeBand": 4, "Course": 15}
    assert {s.group for s in kr2022.standards if s.group_kind == "GradeBand"} == {"초1-2", "초3-4", "초5-6", "중1-3"}
    s = {x.code: x for x in kr2022.standards}
    first = s["9수01-01"]
    assert (first.domain, first.domain_order, first.content_element) == ("수와 연산", 1, "소인수분해")
    assert (s["10공수1-01-01"].group, s["10공수1-01-01"].group_kind, s["10공수1-01-01"].domain) == (
        "공통수학1",
        "Course",
        "다항식",
    )
    assert (s["10공수1-01-01"].file, s["10공수1-01-01"].row) == ("kr-2022/standards_k12_combined.csv", 183)


def test_kr2022_k9_standards_carry_levels_explanations_and_considerations(kr2022):
    s = {x.code: x for x in kr2022.standards}
    k9 = [x for x in kr2022.standards if x.group_kind == "GradeBand"]
    assert len(k9) == 181 and all(x.achievement_levels for x in k9)
    assert not any(x.achievement_levels for x in kr2022.standards if x.group_kind == "Course")
    assert [lv.level for lv in s["9수01-01"].achievement_levels] == ["A", "B", "C", "D", "E"]
    assert [lv.level for lv in s["2수02-01"].achievement_levels] == ["A", "B", "C"]
    # 60 standards have a 성취기준 해설 and 77 have 적용 시 고려 사항 in the source (61 rows on no standard skipped).
    assert sum(1 for x in kr2022.standards if x.explanation) == 60
    assert sum(1 for x in kr2022.standards if x.considerations) == 77
    assert s["9수01-02"].explanation.startswith("초등학교에서 학습한 최대공약수와 최소공배수의 개념을 바탕으로")
    assert s["9수01-01"].explanation is None
    # Three 고려 사항 rows on one standard are joined, in file order.
    considerations = s["2수01-02"].considerations.split("\n")
    assert len(considerations) == 3 and considerations[0].startswith("두 자리 수를 10개씩 묶음과 낱개로")


def test_kr2022_edges_terms_and_core_ideas(kr2022):
    assert _edges(kr2022) == {
        # Consecutive standards of one 내용 요소: all 99 are among the 142 rule-made heuristic pairs too.
        ("PREREQUISITE_OF", "sequence"): 99,
        # 142 prerequisite + 6 grade-progression + 3 domain-bridge relations: no pair repeats, so 151.
        ("PREREQUISITE_OF", "heuristic"): 151,
        # 99 horizontal + 5 similarity relations; 3 similarity pairs repeat horizontal ones (one reversed): 101.
        ("RELATED_TO", "heuristic"): 101,
    }
    confidence = Counter((e.source, e.confidence) for e in kr2022.edges if e.kind == "PREREQUISITE_OF")
    assert confidence == {("sequence", 0.5): 99, ("heuristic", 0.3): 142, ("heuristic", 0.2): 9}
    first = next(e for e in kr2022.edges if e.source == "heuristic")
    assert (first.source_code, first.target_code, first.note) == (
        "6수04-04",
        "6수04-06",
        "same level/domain & same element; order asc",
    )
    assert (first.file, first.row) == ("kr-2022/k9/derived_prerequisites_heuristic.json", 1)
    assert len(kr2022.terms) == 362
    assert Counter(t.group for t in kr2022.terms) == {"초1-2": 39, "초3-4": 71, "초5-6": 64, "중1-3": 188}
    terms = {(t.group, t.name): t for t in kr2022.terms}
    factor = terms[("중1-3", "소인수분해")]
    assert (factor.kind, factor.domain) == ("용어", "수와 연산") and "9수01-01" in factor.standards
    assert terms[("초1-2", "합")].standards == []  # one character: would match everything
    assert terms[("초1-2", "cm")].standards == ["2수03-11"]  # a symbol, matched as itself
    assert {k: len(v) for k, v in kr2022.core_ideas.items()} == {
        "수와 연산": 3,
        "변화와 관계": 4,
        "도형과 측정": 3,
        "자료와 가능성": 3,
    }


def test_kr2015_places_its_129_standards(kr2015):
    assert len(kr2015.standards) == 129
    assert Counter(s.group for s in kr2015.standards) == {"중1-3": 61, "수학": 41, "초3-4": 13, "초5-6": 14}
    assert kr2015.edges == [] and kr2015.terms == []
    s = {x.code: x for x in kr2015.standards}
    assert (s["9수04-08"].domain, s["9수04-08"].domain_order) == ("기하", 4)
    assert (s["4수02-06"].group, s["4수02-06"].domain) == ("초3-4", "도형")
    assert (s["10수학03-01"].group_kind, s["10수학03-01"].grade_group, s["10수학03-01"].domain) == (
        "Course",
        "고공통",
        "수와 연산",
    )


def test_kr2015_and_kr2022_reuse_a_code_for_different_standards(kr2015, kr2022):
    old = next(s for s in kr2015.standards if s.code == "9수04-08")
    new = next(s for s in kr2022.standards if s.code == "9수04-08")
    assert old.text == "회전체의 성질을 이해한다."
    assert new.text != old.text


def test_us_ccss_standards_clusters_and_coherence_map_edges(ccss):
    assert len(ccss.standards) == 480
    assert Counter(s.group for s in ccss.standards)["High School"] == 163
    assert len({s.group for s in ccss.standards}) == 10
    assert _edges(ccss) == {("PREREQUISITE_OF", "coherence-map"): 757, ("RELATED_TO", "coherence-map"): 142}
    assert {e.confidence for e in ccss.edges} == {0.9}
    s = {x.code: x for x in ccss.standards}
    part = s["4.NF.B.3.a"]
    assert part.content_element.startswith("4.NF.B Build Fractions From Unit Fractions")
    assert (part.school_level, part.grade_group, part.cluster_class) == ("elementary", "4", "major")
    assert part.domain == "Number And Operations-Fractions"  # footnote '*' dropped
    assert (s["K.MD.A.1"].cluster_class, s["K.MD.B.3"].cluster_class) == ("additional", "supporting")
    assert s["A-APR.A.1"].content_element == "A-APR.A Perform Arithmetic Operations On Polynomials"
    assert s["A-APR.A.1"].cluster_class is None  # high-school clusters are not classified
    assert s["A-APR.A.1"].flags == {"widely_applicable_prerequisite": True, "modeling": False}
    assert s["N-CN.A.1"].flags["widely_applicable_prerequisite"] is False
    assert s["K.CC.A.1"].flags["widely_applicable_prerequisite"] is False
    assert next(x.domain_order for x in ccss.standards if x.group == "Grade K") == 1


@pytest.mark.parametrize(
    ("loader", "relative", "old", "new", "expected"),
    [
        (
            load_kr2015,
            "kr-2015/middle_standards.csv",
            "[9수01-02]",
            "[9수01-01]",
            "kr-2015/middle_standards.csv:3: duplicate code (first at kr-2015/middle_standards.csv:2) ('9수01-01')",
        ),
        (
            load_kr2015,
            "kr-2015/middle_standards.csv",
            "정수와 유리수의 대소 관계를 판단할 수 있다.",
            "",
            "kr-2015/middle_standards.csv:5: empty standard text ('9수01-04')",
        ),
        (
            load_kr2015,
            "kr-2015/elementary_highschool_standards_partial.csv",
            "[10수학01-02]",
            "[10수학1-02]",
            "kr-2015/elementary_highschool_standards_partial.csv:3: code does not match the kr-2015 pattern "
            "('10수학1-02')",
        ),
        (
            load_us_ccss,
            "us-ccss/edges_prerequisite.csv",
            "6,1.G.A.1,46,2.G.A.1",
            "6,1.G.A.1,46,2.G.A.9",
            "us-ccss/edges_prerequisite.csv:2: PREREQUISITE_OF edge to an unknown code ('2.G.A.9')",
        ),
        (
            load_us_ccss,
            "us-ccss/standards.csv",
            "456,K.CC.A.1,",
            "456,K.CC.1,",
            "us-ccss/standards.csv:2: code does not match the us-ccss pattern ('K.CC.1')",
        ),
        (
            load_kr2022,
            "kr-2022/standards_k12_combined.csv",
            "[2수01-02]",
            "[2수01-01]",
            "kr-2022/standards_k12_combined.csv:3: duplicate code (first at kr-2022/standards_k12_combined.csv:2) "
            "('2수01-01')",
        ),
        (
            load_kr2022,
            "kr-2022/k9/derived_prerequisites_heuristic.json",
            '"target_code": "6수04-06"',
            '"target_code": "6수04-99"',
            "kr-2022/k9/derived_prerequisites_heuristic.json:1: PREREQUISITE_OF edge to an unknown code ('6수04-99')",
        ),
        (
            load_kr2022,
            "kr-2022/k9/achievement_levels/achievement_levels_middle_number_operation.csv",
            "[9수01-01],A,",
            "[9수01-99],A,",
            "kr-2022/k9/achievement_levels/achievement_levels_middle_number_operation.csv:2: "
            "achievement level for an unknown code ('9수01-99')",
        ),
    ],
)
def test_each_bad_row_is_reported_with_file_row_and_value(data_copy, loader, relative, old, new, expected):
    _edit(data_copy / relative, old, new)
    assert expected in _problems(loader, data_copy)


def test_every_problem_is_reported_not_just_the_first(data_copy):
    _edit(data_copy / "kr-2015/middle_standards.csv", "[9수01-02]", "[9수01-01]")
    _edit(data_copy / "kr-2015/middle_standards.csv", "[9수01-03]", "[9수1-3]")
    found = _problems(load_kr2015, data_copy)
    assert len(found) == 2
    assert found[1] == "kr-2015/middle_standards.csv:4: code does not match the kr-2015 pattern ('9수1-3')"


def test_a_missing_column_or_file_names_the_file(data_copy):
    _edit(data_copy / "kr-2015/middle_standards.csv", "code,area,grade_band,content", "code,area,grade_band,text")
    with pytest.raises(GraphSeedError, match=r"kr-2015/middle_standards\.csv: missing required column\(s\): content"):
        load_kr2015(data_copy)
    (data_copy / "us-ccss/edges_related_undirected.csv").unlink()
    with pytest.raises(GraphSeedError, match=r"us-ccss/edges_related_undirected\.csv"):
        load_us_ccss(data_copy)


def test_load_curriculum_by_id_and_an_unknown_id(data_copy):
    assert set(LOADERS) == {"kr-2022", "kr-2015", "us-ccss"}
    assert load_curriculum("kr-2015", data_copy).id == "kr-2015"
    with pytest.raises(GraphSeedError, match="unknown curriculum 'xx-1999'; known: kr-2015, kr-2022, us-ccss"):
        load_curriculum("xx-1999")


def test_source_hash_follows_the_bytes_of_the_files_read(data_copy, kr2022, ccss):
    # A copy elsewhere hashes alike; a file the loader does not read (the hs/ table) changes nothing.
    _edit(data_copy / "kr-2022/hs/kr2022_math_highschool_standards.csv", "다항식", "다항식 ")
    assert load_kr2022(data_copy).source_hash == kr2022.source_hash
    _edit(data_copy / "kr-2022/k9/content_system/core_ideas.csv", "사물의 양은", "사물의  양은")
    assert load_kr2022(data_copy).source_hash != kr2022.source_hash
    _edit(data_copy / "us-ccss/cluster_and_standard_classification.json", '"major"', ' "major"')
    assert load_us_ccss(data_copy).source_hash != ccss.source_hash


def test_files_hash_depends_on_names_and_bytes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a/x.csv", tmp_path / "b/x.csv"
    first.write_bytes(b"1")
    second.write_bytes(b"1")
    before = files_hash([first, second])
    assert files_hash([second, first]) == before
    second.write_bytes(b"2")
    assert files_hash([first, second]) != before


@pytest.mark.parametrize("curriculum_id", sorted(LOADERS))
def test_loading_is_deterministic(curriculum_id):
    assert load_curriculum(curriculum_id) == load_curriculum(curriculum_id)


@pytest.mark.parametrize(
    ("curriculum", "code"),
    [
        ("kr-2015", "9수04-08"),
        ("kr-2015", "4수01-05"),
        ("kr-2015", "10수학01-01"),
        ("kr-2015", "2수05-03"),
        ("us-ccss", "K.CC.A.1"),
        ("us-ccss", "4.NF.B.3.a"),
        ("us-ccss", "A-APR.A.1"),
        ("us-ccss", "N-RN.A.1"),
        ("us-ccss", "S-ID.C.9"),
        ("us-ccss", "G-SRT.D.10"),
    ],
)
def test_real_codes_are_valid(curriculum, code):
    assert is_valid_code(code, curriculum)


@pytest.mark.parametrize(
    ("curriculum", "code"),
    [
        ("kr-2015", "9수4-8"),
        ("kr-2015", "9수06-01"),  # the 2015 curriculum has five areas
        ("kr-2015", "3수01-01"),
        ("kr-2015", "10공수1-01-01"),  # a 2022 code
        ("kr-2015", "9수04-00"),
        ("us-ccss", "K.CC.1"),
        ("us-ccss", "4.NF.B.3a"),  # compact spelling: normalize_code turns it into 4.NF.B.3.a
        ("us-ccss", "9.NF.A.1"),
        ("us-ccss", "4.XX.A.1"),
        ("us-ccss", "A-XYZ.A.1"),
        ("us-ccss", "A.APR.A.1"),
        ("us-ccss", "HS.A-APR.A.1"),
        ("us-ccss", "9수04-08"),
    ],
)
def test_malformed_codes_are_rejected(curriculum, code):
    assert not is_valid_code(code, curriculum)


def test_ccss_compact_codes_normalise_to_the_dotted_spelling():
    assert normalize_code("4.NF.B.3a", "us-ccss") == "4.NF.B.3.a"
    assert normalize_code(" [A-SSE.A.1b] ", "us-ccss") == "A-SSE.A.1.b"
    assert normalize_code("K.CC.A.1", "us-ccss") == "K.CC.A.1"
    assert normalize_code("[9수04-08]", "kr-2015") == "9수04-08"
