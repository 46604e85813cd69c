import pytest

from graph_seed.loaders import load_kr2022
from labeling.retrieval import BM25, LexicalRetriever, grade_fit
from labeling.schemas import Problem
from labeling.text import char_ngrams, light_stem, morphemes


@pytest.fixture(scope="module")
def retriever() -> LexicalRetriever:
    # The fields the graph export gives retrieval (cypher.export_standards), taken straight from the loader.
    fields = {"code", "text", "school_level", "grade_group", "domain", "content_element", "order"}
    standards = [
        s.model_dump(include=fields) | {"grade_band": s.group, "curriculum": "kr-2022"} for s in load_kr2022().standards
    ]
    return LexicalRetriever(standards)


def test_morphemes_keep_content_words_and_drop_endings():
    tokens = morphemes("삼각형의 넓이를 구하시오.")
    assert "넓이" in tokens and "구하" in tokens
    assert "를" not in tokens and "." not in tokens


def test_char_ngrams_match_across_spacing():
    assert set(char_ngrams("최대 공약수")) & set(char_ngrams("최대공약수")) >= {"최대", "공약", "약수"}


def test_bm25_prefers_the_document_with_the_rare_query_term():
    index = BM25([["소인수", "분해"], ["분수", "덧셈"], ["분해", "합성"]])
    assert index.scores(["소인수"]).argmax() == 0


@pytest.mark.parametrize(
    ("problem", "code"),
    [
        ("180을 소인수분해하여 거듭제곱을 사용한 곱으로 나타내시오.", "9수01-01"),
        ("두 수 12와 18의 최대공약수와 최소공배수를 소인수분해를 이용하여 구하시오.", "9수01-02"),
        ("삼각형의 세 내각의 크기의 합을 구하시오.", "4수03-25"),
    ],
)
def test_clear_problems_rank_their_standard_first(retriever, problem, code):
    assert retriever.rank([Problem(id="p", text=problem)], top_k=5)[0][0].code == code


def test_an_ambiguous_problem_keeps_its_standard_among_the_top_candidates(retriever):
    # 약수 pulls toward 9수01-02 (최대공약수); the reviewer still sees 9수01-01 as a candidate.
    codes = [
        c.code for c in retriever.rank([Problem(id="p", text="360을 소인수분해하고, 약수의 개수를 구하시오.")], 3)[0]
    ]
    assert "9수01-01" in codes


def test_candidates_are_sorted_scores_summing_to_one_with_breadcrumbs(retriever):
    (candidates,) = retriever.rank([Problem(id="p", text="이차방정식 x² - 5x + 6 = 0을 푸시오.")], top_k=5)
    scores = [c.score for c in candidates]
    assert scores == sorted(scores, reverse=True)
    assert sum(scores) == pytest.approx(1.0)
    assert len(candidates) == 5 and all(c.breadcrumbs for c in candidates)
    assert all(c.code in retriever.codes for c in candidates)


def test_retriever_refuses_an_empty_curriculum():
    with pytest.raises(ValueError, match="seed the curriculum"):
        LexicalRetriever([])


def test_english_words_are_stemmed_and_stopwords_dropped():
    assert light_stem("fractions") == light_stem("fraction") == "fraction"
    assert light_stem("multiplying") == "multiply" and light_stem("is") == "is"
    assert morphemes("The fractions are equivalent") == ["fraction", "equivalent"]


@pytest.mark.parametrize(
    ("metadata", "grade_group", "expected"),
    [
        ({"school": "중학교", "grade": 1}, "중1-3", True),
        ({"school": "중학교", "grade": 1}, "초5-6", False),
        ({"school": "초등학교", "grade": 4}, "초3-4", True),
        ({"school": "초등학교", "grade": 4}, "초5-6", False),
        ({}, "중1-3", None),
    ],
)
def test_grade_fit_follows_school_and_grade(metadata, grade_group, expected):
    problem = Problem(id="p", text="x", **metadata)
    assert grade_fit(problem, {"curriculum": "kr-2022", "grade_group": grade_group}) is expected


def test_metadata_moves_a_standard_of_the_right_band_to_the_top(retriever):
    text = "분수의 나눗셈을 계산하시오."
    codes = {
        school: retriever.rank([Problem(id="p", text=text, school=school, grade=grade)], 1)[0][0].code
        for school, grade in (("초등학교", 6), ("중학교", 1))
    }
    assert codes["초등학교"].startswith("6수") and not codes["중학교"].startswith("6수")


def test_a_problem_scores_the_same_whatever_else_is_in_its_batch(retriever):
    korean = Problem(id="k", text="분수의 나눗셈을 계산하시오.")
    english = Problem(id="e", text="Add 3.5 and 1.25.")  # has concepts; the Korean problem has none
    alone, batched = retriever.score_batch([korean])[0], retriever.score_batch([korean, english])[0]
    assert alone.max() > 0 and (alone == batched).all()
