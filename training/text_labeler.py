"""The trained text labeler: a linear SVM over character n-grams, morphemes and the problem's metadata, blended with
retrieval only where that measurably helps.

Features: character 1-4-grams (``char_wb``) of the normalised text, morpheme unigrams and bigrams, and the problem's
school/grade/course as tokens (``labeling.baselines.metadata_tokens``), so grade is something the model weighs, not
only a re-weighting after it. The plain ``LinearSvc(features="char+morph+meta")`` baseline is the same family; this
labeler must never fall below it, so every choice beyond it is made on held-out problems of the training data:

- ``C`` of the SVM, and whether each labeled standard's own document is an extra example of it (it helps at 1-3
  examples a standard, and costs a little at many);
- the softmax temperature of the margins (negative log-likelihood), which makes a score an auto-accept threshold
  can rest on;
- the weight of the retriever's scores in a blend, and the retriever's grade re-weighting on top, each kept only
  when held-out top-1 rises (weight 1.0 and no re-weighting: the model alone, and no retrieval at prediction).

The choices land in ``TextLabelerModel.meta["selection"]``. Too few problems to hold out (fewer than
``min_calibration``, e.g. one example a standard) and the defaults hold. Only standards that exist in the graph can
be predicted; a standard without examples only through the blend with retrieval.

Measured and not kept (MathCAMPS, `benchmarks/learning_curve.py` and its test file): OCR-like noisy copies of the
training texts (``ocr_copies=1``: clean top-1 0.929 either way, OCR-noised test 0.925 against 0.926 without them,
training 2.3x slower); a majority vote over copies of a text with conflicting labels (``duplicates="majority"``:
with 10% of the problems copied twice, once under a wrong label, top-1 0.928 against 0.935 keeping every label).
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from labeling.baselines import metadata_tokens
from labeling.retrieval import Candidate, LexicalRetriever, candidate, standard_document
from labeling.schemas import Problem
from labeling.text import morphemes, normalize_text
from training.errors import TrainingError


@dataclass
class TextLabelerParams:
    """Hyper-parameters and the grids chosen from on held-out problems (measured: benchmarks/learning_curve.py)."""

    char_ngrams: tuple[int, int] = (1, 4)
    word_ngrams: tuple[int, int] = (1, 2)  # morphemes; metadata tokens are single tokens
    metadata: bool = True  # school/grade/course as tokens
    C_grid: tuple[float, ...] = (0.3, 1.0)  # 0.1 was never chosen (MathCAMPS, 1-175 examples a standard)
    model_weights: tuple[float, ...] = (1.0, 0.9, 0.8, 0.7, 0.5)  # blend: w * model + (1 - w) * retrieval
    standard_documents: str = "auto"  # "auto": chosen on held-out; "always"; "never" (labeled standards only)
    duplicates: str = "keep"  # same text, conflicting labels: "keep" every label, or "majority" vote
    ocr_copies: int = 0  # OCR-like noisy copies of each training text (measured: they did not help clean text)
    retrieval_temperature: float = 0.05
    calibration_share: float = 0.1  # problems held out to choose the above, then trained on too
    max_held_out: int = 2000
    small_set: int = 3000  # fewer problems than this: every problem is held out once, in one of small_folds folds
    small_folds: int = 3
    max_selection_train: int = 6000  # problems each held-out choice is trained on, at most
    min_calibration: int = 20  # fewer held-out problems than this: the defaults below hold
    default_C: float = 0.3
    default_model_weight: float = 0.7
    default_standard_documents: bool = True
    default_temperature: float = 0.1
    auto_accept_score: float = 0.6  # labeling.auto_accept_score of the settings: the temperature keeps, on held-out
    auto_accept_precision: float = 0.95  # problems, this share of the labels scored at or above it right
    seed: int = 13

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass
class TextLabelerModel:
    """The fitted model. Fields after ``meta`` default to what models pickled before them did (no metadata tokens,
    blend 0.7 with grade re-weighting), so an older registered champion still loads and ranks as it did."""

    char_vectorizer: Any
    word_vectorizer: Any
    classifier: Any
    classes: list[str]
    params: TextLabelerParams
    temperature: float
    meta: dict[str, Any] = field(default_factory=dict)
    feature_version: int = 1  # 2: morpheme bigrams and metadata tokens
    model_weight: float = 0.7
    grade_weighting: bool = True

    @property
    def version(self) -> str:
        return f"text-labeler-{self.meta.get('fingerprint', 'unsaved')[:12]}"

    def features(self, problems: Sequence[Problem | str]):
        """Feature rows of problems (or bare texts, which have no metadata)."""
        from scipy.sparse import hstack

        problems = [_as_problem(p) for p in problems]
        normalized = [normalize_text(p.query_text()) for p in problems]
        if self.feature_version == 1:
            words: list[Any] = [" ".join(morphemes(t)) for t in normalized]
        else:
            words = [_word_tokens(p, self.params) for p in problems]
        return hstack([self.char_vectorizer.transform(normalized), self.word_vectorizer.transform(words)]).tocsr()

    def margins(self, problems: Sequence[Problem | str]) -> np.ndarray:
        return _margins(self.classifier, self.features(problems))

    def predict_proba(self, problems: Sequence[Problem | str]) -> np.ndarray:
        return _softmax(self.margins(problems), self.temperature)

    def predict(self, model_input: Any) -> list[list[str]]:
        """The five likeliest codes of each problem: a list of texts, or a DataFrame with a ``text`` column and
        optional ``school``, ``grade`` and ``course`` columns. What the registered model's ``predict`` returns."""
        if hasattr(model_input, "columns"):
            records = model_input.to_dict("records")
            problems: list[Problem | str] = [_from_record(r) for r in records]
        else:
            problems = list(model_input)
        return [[self.classes[i] for i in row.argsort()[::-1][:5]] for row in self.predict_proba(problems)]


def load_model_file(artifacts: dict[str, str]) -> TextLabelerModel:
    """The model of a registered version, from its ``model`` artifact (a joblib file)."""
    import joblib

    return joblib.load(artifacts["model"])


def _margins(classifier: Any, features: Any) -> np.ndarray:
    """Margins, rows x classes; a two-class SVM gives one margin, for the second class."""
    margins = classifier.decision_function(features).reshape(features.shape[0], -1)
    return np.hstack([-margins, margins]) if margins.shape[1] == 1 else margins


def _identity(tokens: list[str]) -> list[str]:
    """The word vectorizer's analyzer: tokens are made by ``_word_tokens`` (module level, so the model pickles)."""
    return tokens


def _as_problem(item: Problem | str) -> Problem:
    return Problem(id="text", text=item) if isinstance(item, str) else item


def _from_record(record: dict[str, Any]) -> Problem:
    """A DataFrame row as a problem; metadata that is missing (NaN) or invalid is left out, never an error."""
    text = str(record.get("text") or "")
    meta = {}
    for key in ("school", "grade", "course"):
        value = record.get(key)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        meta[key] = int(value) if key == "grade" and isinstance(value, float) else value
    try:
        return Problem(id="predict", text=text, **meta)
    except ValueError:
        return Problem(id="predict", text=text)


def _word_tokens(problem: Problem, params: Any) -> list[str]:
    """Morpheme n-grams of the text, and the metadata tokens."""
    words = morphemes(problem.query_text())
    low, high = params.word_ngrams
    tokens = [" ".join(words[i : i + n]) for n in range(low, high + 1) for i in range(len(words) - n + 1)]
    return tokens + metadata_tokens(problem) if params.metadata else tokens


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


_CONFUSIONS = {"l": "1", "1": "l", "i": "l", "o": "0", "0": "o", "5": "s", "s": "5", "8": "b", "b": "8"}
_DROPPABLE = set("()[],.:;?!'\"²³^-+=")


def ocr_noise(text: str, rng: np.random.Generator, rate: float = 0.05) -> str:
    """An OCR-like noisy copy: spaces dropped or added, l/1/I, O/0, 5/S confusions, symbols dropped."""
    out = []
    for char in text:
        roll = rng.random()
        if char == " " and roll < 2 * rate:
            continue
        if char.lower() in _CONFUSIONS and roll < rate:
            out.append(_CONFUSIONS[char.lower()])
        elif char in _DROPPABLE and roll < 2 * rate:
            continue
        else:
            out.append(char)
            if char.isalnum() and roll > 1 - rate / 2:
                out.append(" ")
    return "".join(out)


def _examples(problems: Sequence[Problem], known: set[str], duplicates: str) -> list[tuple[Problem, list[str]]]:
    """Each problem with its known codes. ``majority``: problems of the same normalised text keep only the codes
    most of them carry (a problem labeled with two codes still keeps both)."""
    examples = [(p, [c for c in dict.fromkeys(p.labels) if c in known]) for p in problems]
    examples = [(p, codes) for p, codes in examples if codes]
    if duplicates == "keep":
        return examples
    if duplicates != "majority":
        raise ValueError(f"unknown duplicates policy {duplicates!r}")
    votes: dict[str, Counter] = defaultdict(Counter)
    for problem, codes in examples:
        votes[normalize_text(problem.query_text())].update(codes)
    out = []
    for problem, codes in examples:
        counts = votes[normalize_text(problem.query_text())]
        top = max(counts.values())
        kept = [c for c in codes if counts[c] == top]
        if kept:
            out.append((problem, kept))
    return out


def _calibration_folds(examples: list[tuple[Problem, list[str]]], params: TextLabelerParams) -> np.ndarray:
    """The held-out fold of each problem (-1: always trained on). Small sets get ``small_folds`` folds, so that
    nearly every problem is held out once and the choices rest on more than a few dozen problems; larger ones a
    single fold of ``calibration_share`` (at most ``max_held_out``). A standard never loses its last example to a
    fold, and problems of the same normalised text share a fold (an exact copy left in training would flatter
    every choice)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, (problem, _) in enumerate(examples):
        groups[normalize_text(problem.query_text())].append(i)
    total = Counter(code for _, codes in examples for code in codes)
    k = params.small_folds if len(examples) < params.small_set else 1
    share = 1.0 if k > 1 else min(params.calibration_share, params.max_held_out / len(examples))
    in_fold = [Counter() for _ in range(k)]
    rng = np.random.default_rng(params.seed)
    folds = np.full(len(examples), -1, dtype=int)
    for key in rng.permutation(sorted(groups)):
        members = groups[str(key)]
        chosen = int(rng.integers(k))
        if rng.random() >= share:
            continue
        counts = Counter(code for i in members for code in examples[i][1])
        if all(in_fold[chosen][code] + n < total[code] for code, n in counts.items()):
            in_fold[chosen].update(counts)
            folds[members] = chosen
    return folds


def _fit_svm(features, labels: list[str], C: float, seed: int):
    from sklearn.svm import LinearSVC

    with warnings.catch_warnings():  # a standard with one example is a class: sklearn warns, and that is intended
        warnings.simplefilter("ignore", UserWarning)
        return LinearSVC(C=C, random_state=seed).fit(features, labels)


def _blend(
    model: np.ndarray, retrieval: np.ndarray, fit: Any, weight: float, grade_weighting: bool, temperature: float
) -> np.ndarray:
    """Rows of problems x standards: ``model`` (probabilities over standards) blended with ``retrieval``
    (retriever scores), then re-weighted by grade fit; each row sums to 1."""
    if weight < 1.0:
        shifted = np.exp((retrieval - retrieval.max(axis=1, keepdims=True)) / temperature)
        model = weight * model + (1 - weight) * shifted / shifted.sum(axis=1, keepdims=True)
    if grade_weighting:
        model = model * fit
    return model / np.maximum(model.sum(axis=1, keepdims=True), 1e-12)


def train_text_labeler(
    problems: Sequence[Problem],
    standards: list[dict[str, Any]],
    params: TextLabelerParams | None = None,
    *,
    retriever: LexicalRetriever | None = None,
) -> TextLabelerModel:
    """Fit the labeler on labeled problems whose codes exist among ``standards`` (the graph export).

    ``retriever`` scores the held-out problems when choosing the blend; by default the one labeling runs use
    (``LexicalRetriever(standards)``), built here.

    Raises:
        TrainingError: when fewer than two standards have examples.
    """
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer

    params = params or TextLabelerParams()
    started = time.perf_counter()
    by_code = {s["code"]: s for s in standards}
    examples = _examples(problems, set(by_code), params.duplicates)
    labeled = sorted({code for _, codes in examples for code in codes})
    if len(labeled) < 2:
        raise TrainingError("need labeled examples of at least two standards that exist in the graph")

    # Rows: one per (problem, code); then OCR-like copies; then each labeled standard's document.
    rng = np.random.default_rng(params.seed)
    row_problem = [i for i, (_, codes) in enumerate(examples) for _ in codes]
    row_label = [code for _, codes in examples for code in codes]
    items: list[Problem] = [p for p, _ in examples]
    copies = []
    for _ in range(params.ocr_copies):
        for i, (problem, _) in enumerate(examples):
            noisy = problem.model_copy(update={"text": ocr_noise(problem.query_text(), rng)})
            copies.append((len(items), i))
            items.append(noisy)
    documents = [Problem(id=f"standard:{code}", text=standard_document(by_code[code])) for code in labeled]
    n_items = len(items)
    items.extend(documents)

    normalized = [normalize_text(p.query_text()) for p in items]
    words = [_word_tokens(p, params) for p in items]
    char_vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=params.char_ngrams, sublinear_tf=True,
                                      dtype=np.float32)  # fmt: skip
    word_vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, dtype=np.float32)
    matrix = hstack([char_vectorizer.fit_transform(normalized), word_vectorizer.fit_transform(words)]).tocsr()

    def rows(keep: np.ndarray, with_documents: bool):
        """Training rows of the problems in ``keep`` (their copies too), with the documents when asked."""
        chosen = set(keep.tolist())
        index = [i for i in row_problem if i in chosen]
        labels = [code for i, code in zip(row_problem, row_label, strict=True) if i in chosen]
        for item, source in copies:
            for code in examples[source][1] if source in chosen else ():
                index.append(item)
                labels.append(code)
        if with_documents:
            index.extend(range(n_items, len(items)))
            labels.extend(labeled)
        return matrix[index], labels

    folds = _calibration_folds(examples, params)
    choice: dict[str, Any] = {
        "C": params.default_C,
        "standard_documents": params.standard_documents == "always"
        or (params.standard_documents == "auto" and params.default_standard_documents),
        "model_weight": params.default_model_weight,
        "grade_weighting": True,
        "temperature": params.default_temperature,
        "held_out": int((folds >= 0).sum()),
        "folds": int(folds.max() + 1),
        "chosen_on": "defaults",
    }
    if (folds >= 0).sum() >= params.min_calibration:
        choice.update(_choose(examples, folds, rows, matrix, standards, params, retriever))
    features, labels = rows(np.arange(len(examples)), choice["standard_documents"])
    classifier = _fit_svm(features, labels, choice["C"], params.seed)
    texts = [p.query_text() for p, codes in examples for _ in codes]
    return TextLabelerModel(
        char_vectorizer=char_vectorizer,
        word_vectorizer=word_vectorizer,
        classifier=classifier,
        classes=list(classifier.classes_),
        params=params,
        temperature=choice["temperature"],
        feature_version=2,
        model_weight=choice["model_weight"],
        grade_weighting=choice["grade_weighting"],
        meta={
            "temperature": round(choice["temperature"], 4),
            "examples": len(row_label),
            "problems": len(examples),
            "standards_with_examples": len(labeled),
            "classes": len(classifier.classes_),
            "selection": choice,
            "C": choice["C"],  # the choices again as numbers: the registry logs numbers of the meta as metrics
            "model_weight": choice["model_weight"],
            "grade_weighting": int(choice["grade_weighting"]),
            "standard_documents": int(choice["standard_documents"]),
            "train_seconds": round(time.perf_counter() - started, 2),
            "fingerprint": _fingerprint(texts, row_label, params),
        },
    )


def _choose(examples, folds, rows, matrix, standards, params: TextLabelerParams, retriever) -> dict[str, Any]:
    """C, standard documents, temperature and blend, by held-out top-1 (then top-3); on a tie the simpler choice
    (no documents, smaller C, no blend, no re-weighting) stays. Each fold's model is trained on the other problems,
    at most ``max_selection_train`` of them (a sample: the choices transfer, and 20,000 problems train in time)."""
    rng = np.random.default_rng(params.seed)
    held = np.flatnonzero(folds >= 0)
    held_problems = [examples[i][0] for i in held]
    truth = [set(examples[i][1]) for i in held]
    position = {s["code"]: i for i, s in enumerate(standards)}
    retriever = retriever or LexicalRetriever(standards)
    retrieval = retriever.score_batch(held_problems)
    fit = np.vstack([retriever.fit_weights(p) for p in held_problems])
    gold = np.zeros_like(retrieval, dtype=bool)
    for row, codes in enumerate(truth):
        gold[row, [position[c] for c in codes]] = True
    trains = []
    for fold in range(folds.max() + 1):
        rest = np.flatnonzero(folds != fold)
        if len(rest) > params.max_selection_train:
            rest = np.sort(rng.choice(rest, params.max_selection_train, replace=False))
        trains.append((fold, rest))
    documents = {"auto": (False, True), "always": (True,), "never": (False,)}[params.standard_documents]
    best: tuple | None = None
    trials = 0
    for with_documents in documents:
        for C in params.C_grid:
            margins = np.full(retrieval.shape, -np.inf)
            for fold, rest in trains:
                features, labels = rows(rest, with_documents)
                classifier = _fit_svm(features, labels, C, params.seed)
                mine = folds[held] == fold
                found = _margins(classifier, matrix[held[mine]])
                columns = np.array([position[c] for c in classifier.classes_])
                block = np.full((found.shape[0], len(standards)), -np.inf)
                block[:, columns] = found
                margins[mine] = block
            seen = np.isfinite(margins).any(axis=0)
            first = np.where(gold[:, seen].any(axis=1), np.argmax(gold[:, seen], axis=1), -1)
            known = first >= 0
            seen_margins = np.where(np.isfinite(margins[:, seen]), margins[:, seen], -1e3)
            temperature = (
                _fit_temperature(seen_margins[known], first[known]) if known.any() else params.default_temperature
            )
            proba = np.zeros_like(retrieval)
            proba[:, seen] = _softmax(seen_margins, temperature)
            for weight in params.model_weights:
                for grade_weighting in (False, True):
                    blended = _blend(proba, retrieval, fit, weight, grade_weighting, params.retrieval_temperature)
                    top = np.argsort(-blended, axis=1, kind="stable")[:, :3]
                    hits = np.take_along_axis(gold, top, axis=1)
                    score = (round(float(hits[:, 0].mean()), 4), round(float(hits.any(axis=1).mean()), 4))
                    trials += 1
                    if best is None or score > best[0]:
                        best = (score, with_documents, C, weight, grade_weighting, temperature, seen_margins, seen)
    assert best is not None
    (top1, top3), with_documents, C, weight, grade_weighting, temperature, seen_margins, seen = best
    # The likelihood-fitted temperature can still auto-accept too many wrong labels where the model is weak (few
    # examples): flatten the scores until the held-out labels scored at or above auto_accept_score are right often
    # enough (nothing is auto-accepted at all is right too).
    fitted = temperature
    for candidate_temperature in np.geomspace(temperature, 4 * temperature, 16):
        proba = np.zeros_like(retrieval)
        proba[:, seen] = _softmax(seen_margins, float(candidate_temperature))
        blended = _blend(proba, retrieval, fit, weight, grade_weighting, params.retrieval_temperature)
        top = blended.argmax(axis=1)
        accepted = blended[np.arange(len(top)), top] >= params.auto_accept_score
        temperature = float(candidate_temperature)
        if not accepted.any() or gold[np.arange(len(top)), top][accepted].mean() >= params.auto_accept_precision:
            break
    return {
        "C": C,
        "standard_documents": with_documents,
        "model_weight": weight,
        "grade_weighting": grade_weighting,
        "temperature": temperature,
        "likelihood_temperature": fitted,
        "held_out_top1": top1,
        "held_out_top3": top3,
        "chosen_on": "held-out",
        "trials": trials,
    }


class TrainedLabeler:
    """Ranks standards by the trained model, blended with retrieval and re-weighted by grade fit where the model
    chose to be (``model.model_weight`` below 1, ``model.grade_weighting``). Its scores are calibrated: the softmax
    temperature is fitted on held-out verified labels, so an auto-accept threshold can rest on them."""

    calibrated = True

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
        proba = self.model.predict_proba(problems)
        model = np.where(self.columns >= 0, proba[:, np.maximum(self.columns, 0)], 0.0)
        weight, grade_weighting = self.model.model_weight, self.model.grade_weighting
        retrieval = self.retriever.score_batch(problems) if weight < 1.0 else model
        fit = np.vstack([self.retriever.fit_weights(p) for p in problems]) if grade_weighting else 1.0
        blended = _blend(model, retrieval, fit, weight, grade_weighting, self.model.params.retrieval_temperature)
        standards = self.retriever.standards
        out = []
        for row in blended:
            order = np.argsort(-row, kind="stable")[:top_k]
            out.append([candidate(standards[i], float(row[i])) for i in order])
        return out
