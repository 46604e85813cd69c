"""Lexical retrieval of candidate standards for a problem (the cold-start labeler).

Two BM25 rankers, one over kiwipiepy morphemes and one over character n-grams, each normalised by its best
score for the query and averaged. The index is built once per task from the graph export, never per problem.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labeling.text import char_ngrams, morphemes


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

    def scores(self, query: Sequence[str]) -> np.ndarray:
        out = np.zeros(self.n_docs)
        norm = self.k1 * (1 - self.b + self.b * self.lengths / (self.avg_len or 1.0))
        for term in set(query):
            for index, tf in self.postings.get(term, ()):
                out[index] += self.idf[term] * tf * (self.k1 + 1) / (tf + norm[index])
        return out


@dataclass(frozen=True)
class Candidate:
    """One ranked standard for a problem, with the context a reviewer needs."""

    code: str
    text: str
    score: float
    breadcrumbs: list[str] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return {"code": self.code, "text": self.text, "score": round(self.score, 4), "breadcrumbs": self.breadcrumbs}


def standard_document(standard: dict[str, Any]) -> str:
    """The text a standard is indexed by: its sentence plus its breadcrumbs."""
    parts = [standard.get("grade_band"), standard.get("domain"), standard.get("content_element"), standard["text"]]
    return " ".join(p for p in parts if p)


def breadcrumbs(standard: dict[str, Any]) -> list[str]:
    return [p for p in (standard.get("grade_band"), standard.get("domain"), standard.get("content_element")) if p]


class LexicalRetriever:
    """Ranks a curriculum's standards against a problem text."""

    def __init__(
        self,
        standards: list[dict[str, Any]],
        temperature: float = 0.1,
        tokenizers: tuple[Callable[[str], list[str]], ...] = (morphemes, char_ngrams),
    ) -> None:
        if not standards:
            raise ValueError("no standards to index: seed the curriculum first (mathlabel seed)")
        self.standards = standards
        self.codes = {s["code"] for s in standards}
        self.temperature = temperature
        self.tokenizers = tokenizers
        documents = [standard_document(s) for s in standards]
        self.rankers = [BM25([tokenize(d) for d in documents]) for tokenize in tokenizers]

    def rank(self, text: str, top_k: int = 5) -> list[Candidate]:
        """Top ``top_k`` standards with scores that sum to 1 over the returned list (softmax)."""
        combined = np.zeros(len(self.standards))
        for tokenize, ranker in zip(self.tokenizers, self.rankers, strict=True):
            scores = ranker.scores(tokenize(text))
            best = scores.max()
            if best > 0:
                combined += scores / best
        combined /= len(self.rankers)
        order = np.argsort(-combined, kind="stable")[:top_k]
        logits = combined[order] / self.temperature
        weights = np.exp(logits - logits.max())
        probabilities = weights / weights.sum()
        return [
            Candidate(
                code=self.standards[i]["code"],
                text=self.standards[i]["text"],
                score=float(p),
                breadcrumbs=breadcrumbs(self.standards[i]),
            )
            for i, p in zip(order, probabilities, strict=True)
        ]
