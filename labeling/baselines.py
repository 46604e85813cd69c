"""Plain baselines that every labeler is measured beside (`mathlabel bench`), so a regression shows at a glance.

- ``TfidfCosine``: character 1-4-gram TF-IDF cosine between a problem and each standard's document. No training, no
  metadata: the floor the cold start must never fall below.
- ``LinearSvc``: TF-IDF + a linear SVM trained on labeled problems, over character n-grams of the text
  (``features="char"``), or those plus morpheme words and the problem's school/grade/course as tokens
  (``features="char+morph+meta"``). The floor the trained labeler must never fall below, at every training size.

They rank by raw scores; their ``score`` is a softmax at a fixed temperature, not a calibrated probability, so only
their top-k figures mean anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from labeling.retrieval import Candidate, candidate, standard_document
from labeling.schemas import Problem
from labeling.text import morphemes, normalize_text

BASELINE_TEMPERATURE = 0.1


def metadata_tokens(problem: Problem) -> list[str]:
    """The problem's school, grade and course as tokens a linear model can weigh (``grade=중학교/1``)."""
    tokens = []
    if problem.school:
        tokens.append(f"school={problem.school}")
    if problem.grade is not None:
        tokens.append(f"grade={problem.school or ''}/{problem.grade}")
    if problem.course:
        tokens.append(f"course={problem.course}")
    return tokens


def _char_vectorizer():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, dtype=np.float32)


def _ranked(standards: list[dict[str, Any]], rows: np.ndarray, columns: np.ndarray, top_k: int) -> list[Candidate]:
    order = np.argsort(-rows, kind="stable")[:top_k]
    logits = rows[order] / BASELINE_TEMPERATURE
    weights = np.exp(logits - logits.max())
    weights /= weights.sum()
    return [candidate(standards[columns[i]], float(w)) for i, w in zip(order, weights, strict=True)]


class TfidfCosine:
    """Character 1-4-gram TF-IDF cosine against the standards' documents."""

    version = "baseline-char-tfidf-cosine"

    def __init__(self, standards: list[dict[str, Any]]) -> None:
        self.standards = standards
        self.vectorizer = _char_vectorizer()
        self.documents = self.vectorizer.fit_transform([normalize_text(standard_document(s)) for s in standards])
        self.columns = np.arange(len(standards))

    def rank(self, problems: Sequence[Problem], top_k: int) -> list[list[Candidate]]:
        if not problems:
            return []
        queries = self.vectorizer.transform([normalize_text(p.query_text()) for p in problems])
        scores = np.asarray((queries @ self.documents.T).todense())  # rows are L2-normalised: cosine
        return [_ranked(self.standards, row, self.columns, top_k) for row in scores]


class LinearSvc:
    """TF-IDF + linear SVM on labeled problems (classes: the standards that have examples)."""

    def __init__(
        self, problems: Sequence[Problem], standards: list[dict[str, Any]], *, features: str = "char", C: float = 1.0
    ) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        if features not in {"char", "char+morph+meta"}:
            raise ValueError(f"unknown baseline features {features!r}")
        self.features_kind = features
        self.version = f"baseline-linear-svc-{features}"
        position = {s["code"]: i for i, s in enumerate(standards)}
        pairs = [(p, code) for p in problems for code in p.labels if code in position]
        if len({code for _, code in pairs}) < 2:
            raise ValueError("a linear baseline needs examples of at least two standards")
        self.standards = standards
        self.char = _char_vectorizer()
        self.words = TfidfVectorizer(analyzer=str.split, ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
        matrix = self._fit_features([p for p, _ in pairs])
        self.classifier = LinearSVC(C=C, random_state=13).fit(matrix, [code for _, code in pairs])
        self.columns = np.array([position[code] for code in self.classifier.classes_])

    def _word_text(self, problem: Problem) -> str:
        return " ".join([*morphemes(problem.query_text()), *metadata_tokens(problem)])

    def _fit_features(self, problems: Sequence[Problem]):
        texts = [normalize_text(p.query_text()) for p in problems]
        if self.features_kind == "char":
            return self.char.fit_transform(texts)
        from scipy.sparse import hstack

        words = [self._word_text(p) for p in problems]
        return hstack([self.char.fit_transform(texts), self.words.fit_transform(words)]).tocsr()

    def _features(self, problems: Sequence[Problem]):
        texts = [normalize_text(p.query_text()) for p in problems]
        if self.features_kind == "char":
            return self.char.transform(texts)
        from scipy.sparse import hstack

        return hstack([self.char.transform(texts), self.words.transform([self._word_text(p) for p in problems])])

    def rank(self, problems: Sequence[Problem], top_k: int) -> list[list[Candidate]]:
        if not problems:
            return []
        margins = np.atleast_2d(self.classifier.decision_function(self._features(problems)))
        if margins.shape[1] == 1:  # two classes: one margin, for the second
            margins = np.hstack([-margins, margins])
        return [_ranked(self.standards, row, self.columns, top_k) for row in margins]
