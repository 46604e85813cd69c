"""The trained text labeler on a small synthetic curriculum: what a user of `mathlabel train`/`bench` would notice."""

import joblib
import numpy as np
import pandas as pd
import pytest

from labeling.retrieval import LexicalRetriever
from labeling.schemas import Problem
from training.errors import TrainingError
from training.text_labeler import TextLabelerParams, TrainedLabeler, ocr_noise, train_text_labeler

STANDARDS = [
    {"code": "T.FR.1", "curriculum": "test", "text": "Compare fractions with unlike denominators"},
    {"code": "T.AR.1", "curriculum": "test", "text": "Find the area of rectangles by multiplying side lengths"},
    {"code": "T.TM.1", "curriculum": "test", "text": "Tell time to the nearest minute on a clock"},
    {"code": "T.MO.1", "curriculum": "test", "text": "Count coins and bills to find amounts of money"},
    {"code": "T.NO.1", "curriculum": "test", "text": "A standard no problem was ever labeled with"},
]
TEMPLATES = {
    "T.FR.1": "Which fraction is larger, {a}/{b} or {b}/{a}? Compare the fractions.",
    "T.AR.1": "A rectangle is {a} cm long and {b} cm wide. What is its area?",
    "T.TM.1": "The clock shows {a}:{b}0. What time will it be in {a} minutes?",
    "T.MO.1": "Sam has {a} dimes and {b} quarters. How much money does Sam have in coins?",
}


def _problems(per_standard: int) -> list[Problem]:
    return [
        Problem(id=f"{code}-{i}", text=template.format(a=i + 2, b=i + 3), labels=[code], grade=3)
        for code, template in TEMPLATES.items()
        for i in range(per_standard)
    ]


@pytest.fixture(scope="module")
def retriever():
    return LexicalRetriever(STANDARDS)


@pytest.fixture(scope="module")
def model(retriever):
    return train_text_labeler(_problems(15), STANDARDS, retriever=retriever)


def test_it_ranks_unseen_problems_of_the_standards_it_learned(model, retriever):
    unseen = [Problem(id=f"u{i}", text=t.format(a=41, b=47)) for i, t in enumerate(TEMPLATES.values())]
    ranked = TrainedLabeler(model, retriever).rank(unseen, top_k=3)
    assert [candidates[0].code for candidates in ranked] == list(TEMPLATES)
    assert all(len(c) == 3 and c[0].score >= c[1].score >= c[2].score for c in ranked)


def test_its_choices_are_made_on_held_out_problems_and_recorded(model):
    selection = model.meta["selection"]
    assert selection["chosen_on"] == "held-out" and selection["held_out"] >= 20
    assert selection["C"] in TextLabelerParams().C_grid and 0 < selection["temperature"] <= 2
    assert model.model_weight == selection["model_weight"] and model.grade_weighting == selection["grade_weighting"]


def test_with_too_few_problems_to_hold_out_the_defaults_hold(retriever):
    model = train_text_labeler(_problems(1), STANDARDS, retriever=retriever)
    assert model.meta["selection"]["chosen_on"] == "defaults"
    # One example a standard, and its document: still the right standard for a new problem of it.
    ranked = TrainedLabeler(model, retriever).rank([Problem(id="x", text="Compare the fractions 5/9 and 9/5")], 1)
    assert ranked[0][0].code == "T.FR.1"


def test_the_problem_grade_is_a_feature_of_the_model(retriever):
    # The same wording is one standard in grade 3 and another in grade 5: only the metadata tells them apart.
    problems = [
        Problem(id=f"g{grade}-{i}", text=f"Solve problem number {i}", labels=[code], grade=grade)
        for grade, code in ((3, "T.AR.1"), (5, "T.MO.1"))
        for i in range(12)
    ]
    model = train_text_labeler(problems, STANDARDS, TextLabelerParams(standard_documents="never"), retriever=retriever)
    asked = pd.DataFrame({"text": ["Solve problem number 99"] * 2, "grade": [3, 5]})
    assert [row[0] for row in model.predict(asked)] == ["T.AR.1", "T.MO.1"]


def test_conflicting_duplicates_and_lone_examples_do_not_break_training(retriever):
    noisy = [
        *_problems(6),
        Problem(id="dup-1", text="What is 3 + 4?", labels=["T.MO.1"]),
        Problem(id="dup-2", text="What is 3 + 4?", labels=["T.TM.1"]),
        Problem(id="dup-3", text="What is 3 + 4?", labels=["T.TM.1"]),
        Problem(id="lone", text="Compare fractions with unlike denominators", labels=["T.NO.1"]),
    ]
    for duplicates in ("keep", "majority"):
        model = train_text_labeler(noisy, STANDARDS, TextLabelerParams(duplicates=duplicates), retriever=retriever)
        assert "T.NO.1" in model.classes  # one example is enough to be a class
        ranked = TrainedLabeler(model, retriever).rank([Problem(id="q", text="What is 3 + 4?")], top_k=2)
        assert ranked[0][0].code == "T.TM.1"  # two of three copies say so
    majority = train_text_labeler(noisy, STANDARDS, TextLabelerParams(duplicates="majority"), retriever=retriever)
    assert majority.meta["examples"] == len(noisy) - 1  # the minority label of the copies is dropped


def test_it_needs_two_standards_of_the_graph():
    only_one = [Problem(id="1", text="x", labels=["T.FR.1"]), Problem(id="2", text="y", labels=["NOT.IN.GRAPH"])]
    with pytest.raises(TrainingError, match="at least two standards"):
        train_text_labeler(only_one, STANDARDS)


def test_the_saved_model_predicts_from_a_dataframe_with_or_without_metadata(model, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    loaded = joblib.load(path)
    texts = [TEMPLATES["T.AR.1"].format(a=8, b=9), TEMPLATES["T.TM.1"].format(a=5, b=1)]
    bare = loaded.predict(pd.DataFrame({"text": texts}))
    with_metadata = loaded.predict(
        pd.DataFrame({"text": texts, "school": [None, "elementary"], "grade": [3.0, np.nan], "course": [None, None]})
    )
    assert [row[0] for row in bare] == [row[0] for row in with_metadata] == ["T.AR.1", "T.TM.1"]
    assert all(len(row) == min(5, len(model.classes)) and set(row) <= {s["code"] for s in STANDARDS} for row in bare)
    assert loaded.version == model.version


def test_ocr_noise_changes_text_the_way_ocr_does_and_is_repeatable():
    text = "Find the value of l + 10 (round to 0.1)."
    first = ocr_noise(text, np.random.default_rng(1), rate=0.3)
    assert first != text and first == ocr_noise(text, np.random.default_rng(1), rate=0.3)


def test_a_model_pickled_before_metadata_features_still_ranks(retriever):
    # What older registered champions hold: morpheme unigrams split on spaces, no metadata, no recorded blend.
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    from labeling.text import morphemes, normalize_text
    from training.text_labeler import TextLabelerModel

    problems = _problems(5)
    texts = [normalize_text(p.text) for p in problems]
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True)
    words = TfidfVectorizer(analyzer=str.split, sublinear_tf=True)
    features = hstack([chars.fit_transform(texts), words.fit_transform([" ".join(morphemes(t)) for t in texts])])
    classifier = LinearSVC().fit(features, [p.labels[0] for p in problems])
    old = TextLabelerModel(chars, words, classifier, list(classifier.classes_), TextLabelerParams(), 0.1)
    assert (old.feature_version, old.model_weight, old.grade_weighting) == (1, 0.7, True)
    ranked = TrainedLabeler(old, retriever).rank([Problem(id="q", text=TEMPLATES["T.MO.1"].format(a=7, b=8))], 2)
    assert ranked[0][0].code == "T.MO.1"
