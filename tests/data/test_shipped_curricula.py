"""The shipped curricula: each validates, its prerequisites form no cycle, and it holds what its source files hold."""

from __future__ import annotations

import graphlib
from collections import Counter

import pytest

from graph_seed.loaders import LOADERS, load_curriculum, load_kr2015, load_kr2022, load_us_ccss
from graph_seed.models import Curriculum
from graph_seed.validation import problems


@pytest.fixture(scope="module")
def kr2022() -> Curriculum:
    return load_kr2022()


@pytest.fixture(scope="module")
def kr2015() -> Curriculum:
    return load_kr2015()


@pytest.fixture(scope="module")
def ccss() -> Curriculum:
    return load_us_ccss()


def _edges(curriculum: Curriculum) -> Counter:
    return Counter((e.kind, e.source) for e in curriculum.edges)


@pytest.mark.parametrize("curriculum_id", sorted(LOADERS))
def test_every_shipped_curriculum_validates_and_its_prerequisites_form_no_cycle(curriculum_id):
    curriculum = load_curriculum(curriculum_id)
    assert problems(curriculum) == []
    order = graphlib.TopologicalSorter()
    for edge in curriculum.edges:
        if edge.kind == "PREREQUISITE_OF":
            order.add(edge.target_code, edge.source_code)
    order.prepare()  # raises CycleError naming the cycle


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
