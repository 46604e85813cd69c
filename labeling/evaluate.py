"""Measuring a labeler on labeled problems: the numbers `mathlabel bench` prints."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from labeling.acceptance import accept_or_review
from labeling.retrieval import Candidate
from labeling.schemas import Problem

CUTOFFS = (1, 3, 10)


class Labeler(Protocol):
    """Anything that ranks standards for a batch of problems."""

    version: str

    def rank(self, problems: Sequence[Problem], top_k: int) -> list[list[Candidate]]: ...


def is_calibrated(labeler: Labeler) -> bool:
    """Whether a labeler's scores are fitted probabilities (``calibrated``; a labeler that does not say is)."""
    return bool(getattr(labeler, "calibrated", True))


@dataclass(frozen=True)
class VersionedLabeler:
    """A labeler under the identity its label documents record (their ``model_version``): the registry's version of
    a trained model (``text-labeler-v3``), or the configured version of the cold start (``labeling.model_version``)."""

    labeler: Labeler
    version: str

    @property
    def calibrated(self) -> bool:
        return is_calibrated(self.labeler)

    def rank(self, problems: Sequence[Problem], top_k: int) -> list[list[Candidate]]:
        return self.labeler.rank(problems, top_k)


def first_hit(candidates: list[Candidate], gold: set[str]) -> int | None:
    """1-based rank of the first correct candidate, or None."""
    for position, candidate in enumerate(candidates, start=1):
        if candidate.code in gold:
            return position
    return None


def evaluate(
    labeler: Labeler,
    problems: Sequence[Problem],
    *,
    auto_accept_score: float,
    standards: dict[str, dict[str, Any]] | None = None,
    groups: Callable[[Problem], Iterable[str]] | None = None,
) -> dict[str, Any]:
    """Top-k accuracy, MRR@10, review load (the reviewing rules of labeling runs) and speed on labeled problems.

    With ``groups`` (problem → the groups it counts in, e.g. the curricula of its labels), the same ranking also
    gives ``per_group``: n, top-1 and top-3 of each group.

    Raises:
        ValueError: when no problem carries labels.
    """
    labeled = [p for p in problems if p.labels]
    if not labeled:
        raise ValueError("no labeled problems to evaluate on (records need 'labels')")
    calibrated = is_calibrated(labeler)
    labeler.rank(labeled[:1], 1)  # a lexical index is built on its first query: outside the timed ranking
    started = time.perf_counter()
    ranked = labeler.rank(labeled, max(CUTOFFS))
    seconds = time.perf_counter() - started
    hits = {k: 0 for k in CUTOFFS}
    reciprocal = 0.0
    auto = auto_correct = 0
    per_group: dict[str, dict[str, int]] = {}
    for problem, candidates in zip(labeled, ranked, strict=True):
        position = first_hit(candidates, set(problem.labels))
        for group in set(groups(problem)) if groups else ():
            counts = per_group.setdefault(group, {"n": 0, "top1": 0, "top3": 0})
            counts["n"] += 1
            counts["top1"] += position == 1
            counts["top3"] += position is not None and position <= 3
        for k in CUTOFFS:
            hits[k] += position is not None and position <= k
        reciprocal += 1 / position if position else 0.0
        # As in a labeling run of unlabeled problems: the gold labels must not tell the rules which labels are wrong.
        unlabeled = problem.model_copy(update={"labels": []})
        decision = accept_or_review(
            unlabeled, candidates, auto_accept_score=auto_accept_score, standards=standards, calibrated=calibrated
        )
        if decision["status"] == "auto_accepted":
            auto += 1
            auto_correct += position == 1
    n = len(labeled)
    metrics = {
        "labeler": labeler.version,
        "n": n,
        **{f"top{k}": round(hits[k] / n, 4) for k in CUTOFFS},
        "mrr": round(reciprocal / n, 4),
        "auto_accept_score": auto_accept_score,
        "auto_accepted_rate": round(auto / n, 4),
        "needs_review_rate": round(1 - auto / n, 4),
        "auto_accepted_top1": round(auto_correct / auto, 4) if auto else None,
        "problems_per_second": round(n / seconds, 1) if seconds > 0 else None,
    }
    if groups:
        metrics["per_group"] = {
            group: {"n": c["n"], "top1": round(c["top1"] / c["n"], 4), "top3": round(c["top3"] / c["n"], 4)}
            for group, c in sorted(per_group.items())
        }
    return metrics
