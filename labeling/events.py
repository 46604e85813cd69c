"""What the labeling, review and training code announce, and to whom: a small event seam, in the style of
Ultralytics' callbacks.

Domain code calls ``emit(SomeEvent(...))`` at the points that matter (a chunk labeled, a record quarantined, an LLM
error, a review decided, a model trained or promoted) and never knows who listens. Listeners are plain callables
taking one event; the Airflow side registers one that turns events into Airflow metrics
(``plugins/mathlabel_metrics.py``), a test registers a list's ``append``. A listener that raises is logged and
skipped: observing a run must never break it. Without listeners, ``emit`` costs a loop over an empty list.

This module imports nothing from the project, so ``labeling/``, ``review/`` and ``training/`` can all use it
without importing ``airflow``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Union

log = logging.getLogger(__name__)

STAGES = ("ingest", "ocr", "retrieval", "ranking", "llm", "write")  # ChunkLabeled.stage_seconds' keys


@dataclass(frozen=True)
class ChunkLabeled:
    """One chunk of a run labeled and stored. ``problems`` = labeled + skipped + quarantined (pages or image
    records nothing could be read from); ``needs_review`` and ``auto_accepted`` count the stored documents,
    ``top_scores`` every problem's top-1 score (skipped ones too), ``ocr_confidences`` those of problems read off
    images in this chunk; ``stage_seconds`` has the ``STAGES`` the chunk went through."""

    run_id: str
    curriculum: str
    model_version: str
    file: str
    problems: int
    labeled: int
    skipped: int
    quarantined: int
    needs_review: int
    auto_accepted: int
    top_scores: tuple[float, ...] = ()
    ocr_confidences: tuple[float, ...] = ()
    stage_seconds: Mapping[str, float] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class RecordQuarantined:
    """Records of an input set aside before labeling: one record (``record`` its number), or a whole input
    (``record`` None; ``records`` how many it held, when known). ``reason_kind`` is ``quarantine_kind(reason)``."""

    run_id: str
    file: str
    record: int | None
    reason_kind: str
    reason: str
    records: int = 1


@dataclass(frozen=True)
class LLMError:
    """The LLM step gave no usable answer for a problem (a provider error, a refusal, an answer outside the
    candidates): the problem is labeled without it."""

    problem_id: str
    llm_version: str
    reason: str


@dataclass(frozen=True)
class ReviewDecided:
    """A reviewer decided a label document. ``decision``: accept, correct, reject or bulk_accept;
    ``kept_top1``: the verified labels start with the model's own top-1 candidate (never for a rejection)."""

    doc_id: str
    decision: str
    reviewer: str
    model_version: str
    curriculum: str
    kept_top1: bool


@dataclass(frozen=True)
class QueueMeasured:
    """The review queue (current documents that need review) as it stood when read."""

    size: int
    oldest_age_seconds: float | None


@dataclass(frozen=True)
class ModelTrained:
    """A text labeler trained, registered and scored on the frozen hold-out of its curricula."""

    version: str
    curriculum: str
    holdout_top1: float | None


@dataclass(frozen=True)
class ModelPromoted:
    """A text labeler made the champion of its curricula."""

    version: str
    curriculum: str
    holdout_top1: float | None


Event = Union[ChunkLabeled, RecordQuarantined, LLMError, ReviewDecided, QueueMeasured, ModelTrained, ModelPromoted]  # noqa: UP007 - a runtime alias
Listener = Callable[[Event], None]

_listeners: list[Listener] = []
_lock = threading.Lock()


def add_listener(listener: Listener) -> Listener:
    """Register ``listener`` (once: adding it again changes nothing); returns it, so it can decorate."""
    with _lock:
        if listener not in _listeners:
            _listeners.append(listener)
    return listener


def remove_listener(listener: Listener) -> None:
    """Unregister ``listener``; one never added is ignored."""
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def listeners() -> list[Listener]:
    """The registered listeners, in the order they hear events."""
    with _lock:
        return list(_listeners)


@contextmanager
def listening(listener: Listener) -> Iterator[Listener]:
    """``listener`` registered for the ``with`` block only (tests, a CLI run); one that was registered before the
    block stays registered after it."""
    already = listener in listeners()
    add_listener(listener)
    try:
        yield listener
    finally:
        if not already:
            remove_listener(listener)


def emit(event: Event) -> None:
    """Hand ``event`` to every listener; a listener's exception is logged, never raised to the labeling code."""
    for listener in listeners():
        try:
            listener(event)
        except Exception:  # a broken metrics backend must not fail a label task
            log.exception("event listener %r failed on %s", listener, type(event).__name__)


_KINDS = (  # (kind, words any of which in a reason names it); the first match wins
    ("error", ("cannot be prepared",)),  # first: its reason names the file, whose suffix would read as "parse"
    ("unsupported", ("unsupported",)),  # before "parse": its reason lists the file types it takes
    ("encoding", ("encoding", "decode", "utf-8", "cp949")),
    ("parse", ("json", "csv", "parse", "header", "column")),
    ("duplicate", ("duplicate",)),
    ("validation", ("neither text nor", "required")),  # before "image": a record that lacks both is a bad record
    ("image", ("image", "page", "ocr", "pdf", "png", "jpeg")),
    ("metadata", ("metadata", "course", "grade", "school")),
    ("validation", ("expect", "must", "too long", "empty", "missing", "invalid", "not valid", "no valid")),
)


def quarantine_kind(reason: str) -> str:
    """A coarse kind for a quarantine reason (a metric tag must have few values): error, encoding, parse,
    duplicate, unsupported, validation, image, metadata or other."""
    text = (reason or "").lower()
    for kind, words in _KINDS:
        if any(word in text for word in words):
            return kind
    return "other"
