"""GraphRAG retrieval of candidate standards for a problem (also the cold-start labeler).

Each standard is a document made of its text, breadcrumbs, 해설, 성취수준 descriptors and terms (from the graph
export). Two BM25 rankers, over kiwipiepy morphemes (stemmed English words included) and over character n-grams,
are normalised by their best score for the query and averaged; the problem's school/grade/course metadata then
re-weights standards of other grade bands down. The index is built once per task, never per problem.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labeling.schemas import Problem
from labeling.text import char_ngrams, morphemes

KR_BANDS = {1: "초1-2", 2: "초1-2", 3: "초3-4", 4: "초3-4", 5: "초5-6", 6: "초5-6"}


class BM25:
    """Okapi BM25 over pre-tokenised documents."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.n_docs = len(docs)
        self.lengths = np.array([len(d) for d in docs], dtype=float)
        self.avg_len = float(self.lengths.mean()) if self.n_docs else 0.0
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for index, doc in enumerate(docs):
            for term, count in Counter(doc).items():
                self.postings.setdefault(term, []).append((index, count))
        self.idf = {
            term: math.log(1 + (self.n_docs - len(p) + 0.5) / (len(p) + 0.5)) for term, p in self.postings.items()
        }
        self._norm = self.k1 * (1 - self.b + self.b * self.lengths / (self.avg_len or 1.0))

    def scores(self, query: Sequence[str]) -> np.ndarray:
        out = np.zeros(self.n_docs)
        for term in set(query):
            for index, tf in self.postings.get(term, ()):
                out[index] += self.idf[term] * tf * (self.k1 + 1) / (tf + self._norm[index])
        return out


@dataclass(frozen=True)
class Candidate:
    """One ranked standard for a problem, with the context a reviewer needs."""

    code: str
    text: str
    score: float
    curriculum: str = ""
    breadcrumbs: list[str] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "curriculum": self.curriculum,
            "text": self.text,
            "score": round(self.score, 4),
            "breadcrumbs": self.breadcrumbs,
        }


def breadcrumbs(standard: dict[str, Any]) -> list[str]:
    keys = ("curriculum", "grade_band", "domain", "content_element")
    return [standard[k] for k in keys if standard.get(k)]


def standard_document(standard: dict[str, Any]) -> str:
    """The text a standard is indexed by: sentence, breadcrumbs, 해설, 성취수준 and terms, when present."""
    parts = [standard.get("grade_band"), standard.get("domain"), standard.get("content_element"), standard["text"]]
    parts.append(standard.get("explanation"))
    parts.extend(level.split(": ", 1)[-1] for level in standard.get("achievement_levels") or [])
    parts.extend(standard.get("terms") or [])
    return " ".join(p for p in parts if p)


def grade_fit(problem: Problem, standard: dict[str, Any]) -> bool | None:
    """Whether a standard's grade band or course suits the problem's metadata; None when nothing is known."""
    group = standard.get("grade_group") or ""
    if standard.get("curriculum") == "us-ccss":
        if problem.grade is None:
            return None
        expected = "K" if problem.grade == 0 else ("HS" if problem.grade >= 9 else str(problem.grade))
        return group == expected
    if problem.school is None:
        return None
    if problem.school == "초등학교":
        return group == KR_BANDS.get(problem.grade or 0, group) and group.startswith("초")
    if problem.school == "중학교":
        return group.startswith("중")
    if problem.course and group.startswith("고"):
        return standard.get("grade_band") == problem.course
    return group.startswith("고")


class LexicalRetriever:
    """Ranks the standards of one or more curricula against problems."""

    def __init__(
        self,
        standards: list[dict[str, Any]],
        *,
        temperature: float = 0.1,
        off_band_weight: float = 0.3,
        document: Callable[[dict[str, Any]], str] = standard_document,
        tokenizers: tuple[Callable[[str], list[str]], ...] = (morphemes, char_ngrams),
    ) -> None:
        if not standards:
            raise ValueError("no standards to index: seed the curriculum first (mathlabel seed)")
        self.standards = standards
        self.codes = {s["code"] for s in standards}
        self.temperature = temperature
        self.off_band_weight = off_band_weight
        self.tokenizers = tokenizers
        documents = [document(s) for s in standards]
        self.rankers = [BM25([tokenize(d) for d in documents]) for tokenize in tokenizers]

    @property
    def version(self) -> str:
        return "lexical-bm25"

    def scores(self, problem: Problem) -> np.ndarray:
        """Fused lexical score of every standard, in [0, 1], re-weighted by grade fit."""
        text = problem.query_text()
        combined = np.zeros(len(self.standards))
        for tokenize, ranker in zip(self.tokenizers, self.rankers, strict=True):
            scores = ranker.scores(tokenize(text))
            best = scores.max()
            if best > 0:
                combined += scores / best
        combined /= len(self.rankers)
        weights = np.array([self.off_band_weight if grade_fit(problem, s) is False else 1.0 for s in self.standards])
        return combined * weights

    def candidates(self, scores: np.ndarray, top_k: int) -> list[Candidate]:
        """Top ``top_k`` standards by ``scores``, with a softmax confidence over the returned list."""
        order = np.argsort(-scores, kind="stable")[:top_k]
        logits = scores[order] / self.temperature
        weights = np.exp(logits - logits.max())
        probabilities = weights / weights.sum()
        return [
            Candidate(
                code=self.standards[i]["code"],
                text=self.standards[i]["text"],
                score=float(p),
                curriculum=self.standards[i].get("curriculum", ""),
                breadcrumbs=breadcrumbs(self.standards[i]),
            )
            for i, p in zip(order, probabilities, strict=True)
        ]

    def rank(self, problems: Sequence[Problem], top_k: int) -> list[list[Candidate]]:
        return [self.candidates(self.scores(problem), top_k) for problem in problems]
