import pytest

from graph_seed.loaders import load_us_ccss
from labeling.concepts import as_words, problem_concepts, standard_concepts
from labeling.retrieval import LexicalRetriever
from labeling.schemas import Problem


@pytest.fixture(scope="module")
def ccss() -> LexicalRetriever:
    fields = {"code", "text", "school_level", "grade_group", "domain", "content_element", "order"}
    standards = [
        s.model_dump(include=fields) | {"grade_band": s.group, "curriculum": "us-ccss"}
        for s in load_us_ccss().standards
    ]
    return LexicalRetriever(standards)


def test_a_problem_gets_the_concepts_of_its_numbers_and_words():
    found = problem_concepts("Lisa drank 1.5 liters of the 3.25 liters of juice. How much is left?")
    assert {"decimal", "hundredths", "mass", "subtract"} <= set(found)
    assert "fraction" not in found and "word" not in found  # a short problem is not read as a story
    assert {"fraction", "compare", "within10"} <= set(problem_concepts("Compare: (6 / 8) _ (8 / 7)"))
    assert "multidigit" in problem_concepts("Calculate 4,512 + 3,980.")
    assert "exponent" in problem_concepts("What is the value of 5 raised to the power of 3?")


def test_a_long_story_is_a_word_problem_and_the_size_of_its_numbers_counts():
    story = (
        "A farmer planted 34 rows of corn in the spring and another 27 rows in the summer. "
        "How many rows of corn did the farmer plant in all this year?"
    )
    assert {"word", "add", "within100"} <= set(problem_concepts(story))


def test_a_standard_names_its_concepts_in_words():
    found = standard_concepts("Fluently add and subtract within 100 using strategies based on place value.")
    assert {"add", "subtract", "within100"} <= set(found)
    assert "within20" in standard_concepts("Solve word problems whose sum is less than or equal to 20.")
    assert "word" in standard_concepts("Solve real-world and mathematical problems involving area.")
    assert as_words(["within100", "word", "add"]) == "within 100 word problem add"


def test_korean_text_has_no_english_concepts():
    assert problem_concepts("3.5와 1.25의 합을 구하시오.") == []
    assert standard_concepts("소수의 덧셈과 뺄셈을 할 수 있다.") == []


def test_a_decimal_word_problem_finds_the_decimal_standard_without_the_word_decimal(ccss):
    problem = Problem(
        id="p",
        text="Maria bought 2.75 pounds of apples and 1.4 pounds of pears. How many pounds of fruit did she buy?",
        grade=5,
    )
    codes = [c.code for c in ccss.rank([problem], top_k=3)[0]]
    assert codes[0] == "5.NBT.B.7"


def test_a_standard_ranks_above_its_lettered_parts_which_stay_candidates(ccss):
    problem = Problem(id="p", text="Find the sum: -7 + 4. Show it on a number line as a distance from -7.", grade=7)
    codes = [c.code for c in ccss.rank([problem], top_k=5)[0]]
    assert codes[0] == "7.NS.A.1"
    assert any(code.startswith("7.NS.A.1.") for code in codes[1:])
