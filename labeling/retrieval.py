"""GraphRAG retrieval of candidate standards for a problem (also the cold-start labeler).

Each standard is a document made of its text, breadcrumbs, 해설, 성취수준 descriptors and terms (from the graph
export). Three lexical rankers score it: BM25 over kiwipiepy morphemes (stemmed English words included), BM25 over
character n-grams, and character 1-4-gram TF-IDF cosine. English problems also get the math concepts of their
numbers and words (``labeling.concepts``): their names join the query, and a fourth ranker matches them with the
concepts of each standard.

How the rankers are fused (v3), for real classroom text rather than short generated problems:
- **Each ranker is weighed per query by how specific its answer is** (``specificity``: one minus the mean of its
  next-best normalised scores). Text that matches everything a little (materials lists, logistics, notes on student
  thinking, a long story) gives a flat ranking and little weight; text that names a topic gives a peaked one. No
  keyword list says what boilerplate is: its flat rankings do.
- **Concepts are weak evidence, and weaker in long text.** The concept lexicon was written on MathCAMPS (generated
  word problems) and does not carry over to real tasks: its ranker weighs a quarter of a lexical one
  (``concept_weight``, chosen on MathFish's training split, held on its test split), and numbers and story words are
  everywhere in a two-page task, so its weight also falls as ``concept_words / words`` beyond ``concept_words`` words.
- **A long text is read in parts** (about ``segment_words`` words each, cut at sentences and lines). Each part is
  ranked on its own; the parts are averaged, each weighed by its specificity, and the average joins the whole text's
  ranking. A task whose one exercise names its topic is not drowned by its surrounding pages.
A standard's lettered parts (``7.NS.A.1.b``) rank below the standard itself, which takes the best score of its parts.
The problem's school/grade/course metadata then re-weights standards of other grade bands down. The index is built
once per task, on its first query, never per problem.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from labeling.concepts import as_words, problem_concepts, standard_concepts
from labeling.schemas import Problem
from labeling.text import char_ngrams, morphemes, normalize_text

KR_BANDS = {1: "초1-2", 2: "초1-2", 3: "초3-4", 4: "초3-4", 5: "초5-6", 6: "초5-6"}


class BM25:
    """Okapi BM25 over pre-tokenised documents, scored for a batch of queries as one sparse product."""

    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        from scipy.sparse import csr_matrix

        self.n_docs = len(docs)
        self.vocabulary: dict[str, int] = {}
        rows, cols, tfs = [], [], []
        for index, doc in enumerate(docs):
            for term, count in Counter(doc).items():
                rows.append(index)
                cols.append(self.vocabulary.setdefault(term, len(self.vocabulary)))
                tfs.append(count)
        lengths = np.array([len(d) for d in docs], dtype=float)
        norm = k1 * (1 - b + b * lengths / (lengths.mean() if lengths.sum() else 1.0))
        tf = np.array(tfs, dtype=float)
        df = np.bincount(cols, minlength=len(self.vocabulary)) if cols else np.zeros(0)
        idf = np.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))
        weights = idf[cols] * tf * (k1 + 1) / (tf + norm[rows]) if cols else tf
        # documents x terms, transposed once so a batch of queries is one product
        self.weights_t = csr_matrix((weights, (rows, cols)), shape=(self.n_docs, len(self.vocabulary))).T.tocsr()

    def score_matrix(self, queries: Sequence[Sequence[str]]) -> np.ndarray:
        """BM25 scores, queries x documents (each query term counted once)."""
        from scipy.sparse import csr_matrix

        rows, cols = [], []
        for index, query in enumerate(queries):
            for term in {t for t in query if t in self.vocabulary}:
                rows.append(index)
                cols.append(self.vocabulary[term])
        indicator = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(queries), len(self.vocabulary)))
        return np.asarray((indicator @ self.weights_t).todense())

    def scores(self, query: Sequence[str]) -> np.ndarray:
        return self.score_matrix([query])[0]


@dataclass(frozen=True)
class Candidate:
    """One ranked standard for a problem, with the context a reviewer needs."""

    code: str
    text: str
    score: float
    curriculum: str = ""
    breadcrumbs: list[str] = field(default_factory=list)
    via: str = ""  # for a graph neighbour of a ranked candidate: how it was reached ("prerequisite of 9수01-02")

    def to_doc(self) -> dict[str, Any]:
        doc = {
            "code": self.code,
            "curriculum": self.curriculum,
            "text": self.text,
            "score": round(self.score, 4),
            "breadcrumbs": self.breadcrumbs,
        }
        return doc | {"via": self.via} if self.via else doc


def breadcrumbs(standard: dict[str, Any]) -> list[str]:
    keys = ("curriculum", "grade_band", "domain", "content_element")
    return [standard[k] for k in keys if standard.get(k)]


def candidate(standard: dict[str, Any], score: float, via: str = "") -> Candidate:
    """A standard row of the graph export as a ranked candidate."""
    return Candidate(
        code=standard["code"],
        text=standard["text"],
        score=score,
        curriculum=standard.get("curriculum", ""),
        breadcrumbs=breadcrumbs(standard),
        via=via,
    )


def standard_document(standard: dict[str, Any], examples: Sequence[str] = ()) -> str:
    """The text a standard is indexed by: sentence, breadcrumbs, 해설, 성취수준 and terms, when present, and the
    texts of problems verified with it (``examples``)."""
    parts = [standard.get("grade_band"), standard.get("domain"), standard.get("content_element"), standard["text"]]
    parts.append(standard.get("explanation"))
    parts.extend(level.split(": ", 1)[-1] for level in standard.get("achievement_levels") or [])
    parts.extend(standard.get("terms") or [])
    parts.extend(examples)
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
    """Ranks the standards of one or more curricula against problems.

    Its scores are not calibrated (``calibrated``): no labels were fitted, so labels it chooses are always reviewed.
    """

    calibrated = False

    def __init__(
        self,
        standards: list[dict[str, Any]],
        *,
        temperature: float = 0.1,
        off_band_weight: float = 0.3,
        concept_weight: float = 0.25,
        part_weight: float = 0.8,
        examples: dict[str, list[str]] | None = None,
        tokenizers: tuple[Callable[[str], list[str]], ...] = (morphemes, char_ngrams),
        tfidf: float = 2.0,
        concept_words: int = 25,
        segment_words: int = 120,
    ) -> None:
        if not standards:
            raise ValueError("no standards to index: seed the curriculum first (mathlabel seed)")
        self.standards = standards
        self.codes = {s["code"] for s in standards}
        self.temperature = temperature
        self.off_band_weight = off_band_weight
        self.concept_weight = concept_weight
        self.part_weight = part_weight
        self.tokenizers = tokenizers
        self.tfidf = tfidf
        self.concept_words = concept_words
        self.segment_words = segment_words
        self._fit_cache: dict[tuple, np.ndarray] = {}
        self.examples = examples or {}

    @cached_property
    def rankers(self) -> list[BM25]:
        """One BM25 per tokenizer, built on first use: tokenizing the documents takes seconds, and a run whose
        problems are all labeled already ranks nothing."""
        return [BM25([tokenize(d) for d in self.documents]) for tokenize in self.tokenizers]

    @cached_property
    def documents(self) -> list[str]:
        return [standard_document(s, self.examples.get(s["code"], ())) for s in self.standards]

    @cached_property
    def tfidf_ranker(self) -> tuple[Any, Any]:
        """(vectorizer, documents matrix) of character 1-4-gram TF-IDF, the plain baseline's own ranking."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True, dtype=np.float32)
        return vectorizer, vectorizer.fit_transform([normalize_text(d) for d in self.documents])

    @cached_property
    def concept_ranker(self) -> BM25:
        # A standard's concepts: those its text names, and those of its verified examples (their numbers count).
        concepts = [
            set(standard_concepts(standard_document(s))).union(*map(problem_concepts, self.examples.get(s["code"], ())))
            for s in self.standards
        ]
        # Concepts are few per document, so length matters less than for words (b=0.3, chosen on MathCAMPS train).
        return BM25([sorted(c) for c in concepts], b=0.3)

    @cached_property
    def parts(self) -> np.ndarray:
        return _parts(self.standards)

    @property
    def version(self) -> str:
        return "lexical-bm25"

    def fused(self, texts: Sequence[str]) -> np.ndarray:
        """The rankers' scores of ``texts``, each normalised by its best and weighed by its specificity, texts x
        standards."""
        concepts = [problem_concepts(text) for text in texts]
        queries = [f"{text} {as_words(found)}" if found else text for text, found in zip(texts, concepts, strict=True)]
        rows = [
            _by_best(ranker.score_matrix([tokenize(query) for query in queries]))
            for tokenize, ranker in zip(self.tokenizers, self.rankers, strict=True)
        ]
        weights = [specificity(row) for row in rows]
        if self.tfidf:
            vectorizer, documents = self.tfidf_ranker
            matrix = vectorizer.transform([normalize_text(text) for text in texts])
            rows.append(_by_best(np.asarray((matrix @ documents.T).todense())))
            weights.append(specificity(rows[-1]) * self.tfidf)
        with_concepts = np.array([bool(found) for found in concepts])
        if self.concept_weight and with_concepts.any():  # rows without concepts (Korean text) keep their scores
            words = np.array([max(len(text.split()), 1) for text in texts])
            rows.append(_by_best(self.concept_ranker.score_matrix(concepts)))
            length = np.minimum(1.0, self.concept_words / words) if self.concept_words else 1.0
            weights.append(specificity(rows[-1]) * self.concept_weight * with_concepts * length)
        total = np.maximum(sum(weights), 1e-9)
        return _by_best(sum(w[:, None] * row for w, row in zip(weights, rows, strict=True)) / total[:, None])

    def read_in_parts(self, texts: Sequence[str]) -> np.ndarray:
        """``fused`` of each text; a long text's ranking also averages those of its parts (module docstring)."""
        pieces = [segments(text, self.segment_words) if self.segment_words else [] for text in texts]
        flat = [*texts, *(piece for parts in pieces for piece in parts)]
        scores = self.fused(flat)
        out = scores[: len(texts)].copy()
        start = len(texts)
        for row, parts in enumerate(pieces):
            if not parts:
                continue
            block = scores[start : start + len(parts)]
            start += len(parts)
            weights = specificity(block)
            if weights.sum() > 0:
                out[row] = _by_best((out[row] + (weights @ block) / weights.sum())[None, :])[0]
        return out

    def fit_weights(self, problem: Problem) -> np.ndarray:
        """Per-standard weight from the problem's grade metadata (cached: few distinct metadata combinations)."""
        key = (problem.school, problem.grade, problem.course)
        cached = self._fit_cache.get(key)
        if cached is None:
            cached = np.array([self.off_band_weight if grade_fit(problem, s) is False else 1.0 for s in self.standards])
            self._fit_cache[key] = cached
        return cached

    def score_batch(self, problems: Sequence[Problem]) -> np.ndarray:
        """Fused lexical and concept scores, problems x standards, re-weighted by grade fit."""
        combined = self.read_in_parts([problem.query_text() for problem in problems])
        if len(self.parts):
            part, whole = self.parts[:, 0], self.parts[:, 1]
            np.maximum.at(combined.T, whole, combined[:, part].T)
            combined[:, part] *= self.part_weight
        return combined * np.vstack([self.fit_weights(problem) for problem in problems])

    def scores(self, problem: Problem) -> np.ndarray:
        return self.score_batch([problem])[0]

    def candidates(self, scores: np.ndarray, top_k: int) -> list[Candidate]:
        """Top ``top_k`` standards by ``scores``, with a softmax confidence over the returned list."""
        order = np.argsort(-scores, kind="stable")[:top_k]
        logits = scores[order] / self.temperature
        weights = np.exp(logits - logits.max())
        probabilities = weights / weights.sum()
        return [candidate(self.standards[i], float(p)) for i, p in zip(order, probabilities, strict=True)]

    def rank(self, problems: Sequence[Problem], top_k: int) -> list[list[Candidate]]:
        if not problems:
            return []
        return [self.candidates(row, top_k) for row in self.score_batch(problems)]


_SENTENCE_END = re.compile(r"(?<=[.?!。])\s+|\n+")


def segments(text: str, words: int) -> list[str]:
    """A long text cut at sentence ends and lines into parts of about ``words`` words; [] for a text under twice
    that (it is read whole)."""
    if len(text.split()) < 2 * words:
        return []
    parts: list[str] = []
    current: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        current.extend(sentence.split())
        if len(current) >= words:
            parts.append(" ".join(current))
            current = []
    if current:
        if parts and len(current) < words // 2:
            parts[-1] += " " + " ".join(current)
        else:
            parts.append(" ".join(current))
    return parts if len(parts) > 1 else []


def specificity(rows: np.ndarray, k: int = 20) -> np.ndarray:
    """How peaked each row of best-normalised scores is: one minus the mean of its ``k`` next-best scores (0 for a
    row that matches nothing or everything alike, near 1 for one clear answer)."""
    if rows.shape[1] < 2:
        return np.ones(rows.shape[0])
    runners = -np.sort(-rows, axis=1)[:, 1 : k + 1]
    return np.where(rows.max(axis=1) > 0, 1 - runners.mean(axis=1), 0.0)


def _by_best(scores: np.ndarray) -> np.ndarray:
    """Each row divided by its best score (rows with no match stay zero)."""
    best = scores.max(axis=1, keepdims=True)
    return np.divide(scores, best, out=np.zeros_like(scores), where=best > 0)


def _parts(standards: list[dict[str, Any]]) -> np.ndarray:
    """(part, standard) row pairs: a code that is another code of its curriculum plus ``.x`` (``7.NS.A.1.b``)."""
    position = {(s.get("curriculum"), s["code"]): i for i, s in enumerate(standards)}
    pairs = []
    for i, s in enumerate(standards):
        whole = position.get((s.get("curriculum"), s["code"].rsplit(".", 1)[0])) if "." in s["code"] else None
        if whole is not None:
            pairs.append((i, whole))
    return np.array(pairs, dtype=int).reshape(-1, 2)
