"""The evaluation behind `mathlabel bench` and the nightly hold-out."""

from labeling.evaluate import evaluate
from labeling.retrieval import Candidate
from labeling.schemas import Problem


class _Fixed:
    """A labeler that answers the same confident candidates for every problem."""

    version = "fixed"

    def __init__(self, *codes: str) -> None:
        self.codes = codes
        self.calls: list[int] = []

    def rank(self, problems, top_k):
        self.calls.append(len(problems))
        return [[Candidate(code, code, 0.9 - 0.1 * i) for i, code in enumerate(self.codes)] for _ in problems]


def test_auto_acceptance_is_judged_without_the_gold_labels():
    # A confident wrong label is auto-accepted in a labeling run (the problem carries no labels there); scoring it
    # with the gold labels in hand would send it to review and make the auto-accepted labels look all correct.
    problems = [Problem(id="a", text="x", labels=["B"]), Problem(id="b", text="y", labels=["A"])]
    metrics = evaluate(_Fixed("A", "B"), problems, auto_accept_score=0.6)
    assert metrics["auto_accepted_rate"] == 1.0
    assert metrics["auto_accepted_top1"] == 0.5
    assert metrics["top1"] == 0.5


def test_the_timed_ranking_follows_a_warm_up_query():
    labeler = _Fixed("A")
    evaluate(labeler, [Problem(id=str(i), text="x", labels=["A"]) for i in range(3)], auto_accept_score=0.6)
    assert labeler.calls == [1, 3]
