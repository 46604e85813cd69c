"""The trained text labeler: a linear model over character and morpheme n-grams, fused with retrieval.

Trained on verified labels (and on each standard's own document, so every standard of the graph is a class even
before it has examples); at prediction time its probabilities are blended with the retriever's, and the problem's
grade metadata re-weights the blend. Only standards that exist in the graph can be predicted.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labeling.retrieval import Candidate, LexicalRetriever, candidate, standard_document
from labeling.schemas import Problem
from labeling.text import morphemes, normalize_text
from training.errors import TrainingError


@dataclass
class TextLabelerParams:
    """Hyper-parameters, chosen by measurement with `mathlabel bench` (see benchmarks/RESULTS.md)."""

    char_ngrams: tuple[int, int] = (1, 4)
    C: float = 0.5
    model_weight: float = 0.7  # blend: model_weight * model + (1 - model_weight) * retrieval
    retrieval_temperature: float = 0.05
    standard_documents: bool = True  # each standard's own document is one training example of it
    calibration_share: float = 0.1  # held out to fit the softmax temperature of the margins
    default_temperature: float = 0.1  # used when fewer than 20 problems can be held out to fit it
    seed: int = 13

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass
class TextLabelerModel:
    char_vectorizer: Any
    word_vectorizer: Any
    classifier: Any
    classes: list[str]
    params: TextLabelerParams
    temperature: float
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return f"text-labeler-{self.meta.get('fingerprint', 'unsaved')[:12]}"

    def features(self, texts: Sequence[str]):
        from scipy.sparse import hstack

        normalized = [normalize_text(t) for t in texts]
        words = [" ".join(morphemes(t)) for t in normalized]
        return hstack([self.char_vectorizer.transform(normalized), self.word_vectorizer.transform(words)]).tocsr()

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return _softmax(self.classifier.decision_function(self.features(texts)), self.temperature)

    def predict(self, model_input: Any) -> list[list[str]]:
        """The five likeliest codes of each text (a list, or a DataFrame with a ``text`` column): what the
        registered model's ``predict`` returns."""
        texts = list(model_input["text"]) if hasattr(model_input, "columns") else list(model_input)
        return [[self.classes[i] for i in row.argsort()[::-1][:5]] for row in self.predict_proba(texts)]


def load_model_file(artifacts: dict[str, str]) -> TextLabelerModel:
    """The model of a registered version, from its ``model`` artifact (a joblib file)."""
    import joblib

    return joblib.load(artifacts["model"])


def _softmax(margins: np.ndarray, temperature: float) -> np.ndarray:
    logits = np.atleast_2d(margins) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def _fit_temperature(margins: np.ndarray, truth: np.ndarray) -> float:
    """The softmax temperature that minimises the negative log-likelihood of held-out examples."""
    best, best_nll = 1.0, np.inf
    for temperature in np.geomspace(0.01, 2.0, 40):
        proba = _softmax(margins, float(temperature))
        nll = -np.mean(np.log(proba[np.arange(len(truth)), truth] + 1e-12))
        if nll < best_nll:
            best, best_nll = float(temperature), nll
    return best


def _fingerprint(texts: list[str], labels: list[str], params: TextLabelerParams) -> str:
    digest = hashlib.sha256(json.dumps(params.to_dict(), sort_keys=True).encode())
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{label}\0{text}\0".encode())
    return digest.hexdigest()


def train_text_labeler(
    problems: Sequence[Problem], standards: list[dict[str, Any]], params: TextLabelerParams | None = None
) -> TextLabelerModel:
    """Fit the labeler on labeled problems whose codes exist among ``standards`` (the graph export).

    Raises:
        TrainingError: when fewer than two standards have examples.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    params = params or TextLabelerParams()
    started = time.perf_counter()
    known = {s["code"] for s in standards}
    texts: list[str] = []
    labels: list[str] = []
    for problem in problems:
        for code in problem.labels:
            if code in known:
                texts.append(problem.query_text())
                labels.append(code)
    n_examples = len(texts)
    if params.standard_documents:
        for standard in standards:
            texts.append(standard_document(standard))
            labels.append(standard["code"])
    if len(set(labels)) < 2:
        raise TrainingError("need labeled examples of at least two standards that exist in the graph")
    normalized = [normalize_text(t) for t in texts]
    words = [" ".join(morphemes(t)) for t in normalized]

    def fit(indices: np.ndarray):
        from scipy.sparse import hstack
        from sklearn.svm import LinearSVC

        char_vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=params.char_ngrams, sublinear_tf=True,
                                          dtype=np.float32)  # fmt: skip
        word_vectorizer = TfidfVectorizer(analyzer=str.split, sublinear_tf=True, dtype=np.float32)
        features = hstack([
            char_vectorizer.fit_transform([normalized[i] for i in indices]),
            word_vectorizer.fit_transform([words[i] for i in indices]),
        ]).tocsr()  # fmt: skip
        classifier = LinearSVC(C=params.C, random_state=params.seed)
        classifier.fit(features, [labels[i] for i in indices])
        return char_vectorizer, word_vectorizer, classifier

    # Fit the temperature on held-out problems (never on the standards' own documents), then refit on everything.
    rng = np.random.default_rng(params.seed)
    problem_rows = rng.permutation(n_examples)
    held = problem_rows[: int(n_examples * params.calibration_share)]
    temperature = params.default_temperature
    if len(held) >= 20:
        rest = np.setdiff1d(np.arange(len(texts)), held)
        char_v, word_v, clf = fit(rest)
        probe = TextLabelerModel(char_v, word_v, clf, list(clf.classes_), params, 1.0)
        margins = clf.decision_function(probe.features([texts[i] for i in held]))
        position = {c: i for i, c in enumerate(clf.classes_)}
        known_rows = [k for k, i in enumerate(held) if labels[i] in position]
        truth = np.array([position[labels[held[k]]] for k in known_rows])
        temperature = _fit_temperature(margins[known_rows], truth)
    char_vectorizer, word_vectorizer, classifier = fit(np.arange(len(texts)))
    return TextLabelerModel(
        char_vectorizer=char_vectorizer,
        word_vectorizer=word_vectorizer,
        classifier=classifier,
        classes=list(classifier.classes_),
        params=params,
        temperature=temperature,
        meta={
            "temperature": round(temperature, 4),
            "examples": n_examples,
            "standards_with_examples": len({label for label in labels[:n_examples]}),
            "classes": len(classifier.classes_),
            "train_seconds": round(time.perf_counter() - started, 2),
            "fingerprint": _fingerprint(texts, labels, params),
        },
    )


class TrainedLabeler:
    """Ranks standards by the trained model blended with retrieval, re-weighted by grade fit."""

    def __init__(self, model: TextLabelerModel, retriever: LexicalRetriever) -> None:
        self.model = model
        self.retriever = retriever
        position = {code: i for i, code in enumerate(model.classes)}
        # Column of each graph standard in the model's output (-1: the model has never seen it).
        self.columns = np.array([position.get(s["code"], -1) for s in retriever.standards])

    @property
    def version(self) -> str:
        return self.model.version

    def rank(self, problems: Sequence[Problem], top_k: int) -> list[list[Candidate]]:
        if not problems:
            return []
        params = self.model.params
        model_proba = self.model.predict_proba([p.query_text() for p in problems])
        lexical = self.retriever.score_batch(problems)
        out = []
        standards = self.retriever.standards
        for row, scores, problem in zip(model_proba, lexical, problems, strict=True):
            retrieval = np.exp((scores - scores.max()) / params.retrieval_temperature)
            retrieval /= retrieval.sum()
            model = np.where(self.columns >= 0, row[np.maximum(self.columns, 0)], 0.0)
            blended = (
                params.model_weight * model + (1 - params.model_weight) * retrieval
            ) * self.retriever.fit_weights(problem)
            blended /= blended.sum()
            order = np.argsort(-blended, kind="stable")[:top_k]
            out.append([candidate(standards[i], float(blended[i])) for i in order])
        return out
