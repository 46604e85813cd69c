"""Which of a problem's label documents is current, finding label documents by run, status and reason, and the
review queue.

A problem (identified by its ``problem_key``: its id within its problem set, ``labeling.schemas.problem_key``)
gathers documents over time: one per labeling model version (the cold start's, then each champion's) and one per
verification (``training.verified``; a newer one supersedes the older). Reviewers, the CLI and the
review API all show the same one as current: the latest verification if any, else the newest label of a trained
model (the champion's), else the cold start's.

The review queue pages through the label documents a reviewer should look at (by default those that need review and
were not superseded by a verification), most uncertain first (the smallest margin between the first two candidates'
scores) or by age. Documents written before the margin and the reasons' kinds were stored lack them: they sort first
by uncertainty, and only count under a reason, and match a reason filter, once labeled again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from labeling.schemas import safe_run_id, stored_problem_key
from stores.labels import LabelStore

VERIFIED = "verified"  # decision.status of a verified label (labeling.verification writes them)
NEEDS_REVIEW = "needs_review"
STATUSES = ("auto_accepted", NEEDS_REVIEW, VERIFIED, "rejected")
HUMAN_DECISIONS = (VERIFIED, "rejected")  # a reviewer's: never overwritten by a machine label

LIST_LIMIT = 50
QUEUE_ORDERS = {"uncertainty": ("margin", False), "oldest": ("created_at", False), "newest": ("created_at", True)}
SOURCES = ("text", "page")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class LabelHistory:
    """A problem's current label document and the others, newest first."""

    current: dict[str, Any] | None
    older: list[dict[str, Any]] = field(default_factory=list)


def _when(doc: dict[str, Any]) -> datetime:
    """When a document last changed: a verification's time, else its last write."""
    return (doc.get("verification") or {}).get("at") or doc.get("updated_at") or doc.get("created_at") or _EPOCH


def _tier(doc: dict[str, Any], cold_start_version: str) -> int:
    """0 a current verification, 1 a trained model's label, 2 the cold start's, 3 a superseded verification."""
    if (doc.get("decision") or {}).get("status") == VERIFIED:
        return 3 if doc.get("current") is False else 0
    return 2 if doc.get("model_version") == cold_start_version else 1


def pick_current(docs: list[dict[str, Any]], *, cold_start_version: str) -> LabelHistory:
    """The current document of one problem's ``docs`` (see the module's rule) and the rest, newest first.

    ``cold_start_version`` is the cold-start labeler's model version (``labeling.model_version``); a machine
    label of any other version is a trained model's.
    """
    if not docs:
        return LabelHistory(None)
    current = min(docs, key=lambda d: (_tier(d, cold_start_version), -_when(d).timestamp(), d["_id"]))
    older = sorted((d for d in docs if d is not current), key=lambda d: (_when(d), d["_id"]), reverse=True)
    return LabelHistory(current, older)


def find_by_keys(store: LabelStore, keys: list[str], query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The documents of the problems ``keys`` that match ``query``.

    A document stored before documents carried ``problem_key`` (and not migrated since) is found by its problem id,
    which is its key or the part of it after a ``#``, and kept when its computed key is one of ``keys``.
    """
    keys = list(dict.fromkeys(keys))
    query = query or {}
    docs = store.find_labels({**query, "problem_key": {"$in": keys}})
    ids = list(dict.fromkeys(part for key in keys for part in _id_suffixes(key)))
    older = store.find_labels({**query, "problem_key": {"$exists": False}, "problem_id": {"$in": ids}})
    wanted = set(keys)
    return docs + [doc for doc in older if stored_problem_key(doc) in wanted]


def _id_suffixes(key: str) -> list[str]:
    """The problem ids a key may have been made of: the key itself, and what follows each ``#`` in it."""
    return [key] + [key[i + 1 :] for i, ch in enumerate(key) if ch == "#" and i + 1 < len(key)]


def label_history(store: LabelStore, problem_key: str, *, cold_start_version: str) -> LabelHistory:
    """Every label document of the problem ``problem_key`` (``find_by_keys``), split into the current one and the
    rest."""
    return pick_current(find_by_keys(store, [problem_key]), cold_start_version=cold_start_version)


def problem_keys(store: LabelStore, problem_id: str) -> list[str]:
    """The keys of the problems whose record id is ``problem_id`` (several when problem sets reuse it), sorted."""
    return sorted({stored_problem_key(doc) for doc in store.find_labels({"problem_id": problem_id})})


def version_row(doc: dict[str, Any]) -> dict[str, Any]:
    """What tells one document of a problem from another: id, model version, decision, times."""
    verification = doc.get("verification") or {}
    return {
        "id": doc["_id"],
        "model_version": doc.get("model_version") or (f"verified by {verification['by']}" if verification else None),
        "status": (doc.get("decision") or {}).get("status"),
        "current": doc.get("current"),
        "updated_at": doc.get("updated_at"),
        "created_at": doc.get("created_at"),
    }


def labels_query(
    *, run_id: str | None = None, status: str | None = None, reason: str | None = None, curriculum: str | None = None
) -> dict[str, Any]:
    """The label-store query of ``list_labels``: ``reason`` is a case-insensitive substring of any decision reason;
    ``curriculum`` matches documents of runs over several curricula too (``kr-2022,kr-2015``)."""
    query: dict[str, Any] = {}
    if run_id:  # Airflow's run id (manual__2026-12-02T15:23:25+00:00) or its stored, folder-safe spelling
        query["run_id"] = safe_run_id(run_id)
    if status:
        query["decision.status"] = status
    if reason:
        query["decision.reasons"] = {"$regex": re.escape(reason), "$options": "i"}
    if curriculum:
        query["curriculum"] = {"$regex": f"(^|,){re.escape(curriculum)}(,|$)"}
    return query


def list_labels(store: LabelStore, *, limit: int = LIST_LIMIT, **filters: str | None) -> list[dict[str, Any]]:
    """Label documents matching ``labels_query(**filters)``, the most recently written first, at most ``limit``
    (0: all)."""
    sort = [("updated_at", -1), ("batch_id", 1), ("record", 1)]
    return store.find_labels(labels_query(**filters), sort=sort, limit=limit)


def label_row(doc: dict[str, Any]) -> dict[str, Any]:
    """One entry of a listing: id, problem, run, decision, chosen code and its score, the reasons."""
    candidates = doc.get("candidates") or []
    decision = doc.get("decision") or {}
    labels = doc.get("labels") or []
    return {
        "id": doc["_id"],
        "problem_id": doc.get("problem_id"),
        "problem_key": stored_problem_key(doc) if doc.get("problem_id") else None,
        "run_id": doc.get("run_id"),
        "status": decision.get("status"),
        "code": labels[0] if labels else None,
        "score": candidates[0].get("score") if candidates and candidates[0].get("code") in labels[:1] else None,
        "reasons": decision.get("reasons") or [],
    }


@dataclass
class ReviewQueue:
    """One page of the review queue, the cursor of the next (None after the last), and counts over every page."""

    docs: list[dict[str, Any]]
    cursor: str | None
    total: int | None = None  # documents matching every filter
    reasons: dict[str, int] | None = None  # documents per reason kind, matching every filter but the reason


def queue_query(
    *,
    curriculum: str | None = None,
    run_id: str | None = None,
    status: str | None = NEEDS_REVIEW,
    reason: str | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The label-store query of ``review_queue``: ``reason`` is a kind (``labeling.acceptance.REASON_KINDS``), the
    score that of the chosen (first) candidate, ``source`` ``text`` or ``page`` (read off an image); ``status``
    None takes any. Superseded documents are left out.

    Raises:
        ValueError: an unknown status or source, or a score range that is empty.
    """
    if status is not None and status not in STATUSES:
        raise ValueError(f"review queue: status {status!r} is not one of {', '.join(STATUSES)}")
    if source is not None and source not in SOURCES:
        raise ValueError(f"review queue: source {source!r} is not one of {', '.join(SOURCES)}")
    if min_score is not None and max_score is not None and min_score > max_score:
        raise ValueError(f"review queue: no score is at least {min_score} and at most {max_score}")
    query = labels_query(run_id=run_id, status=status, curriculum=curriculum)
    query["current"] = {"$ne": False}
    if reason:
        query["decision.reason_kinds"] = {"$regex": f"^{re.escape(reason)}$"}  # any element of the list
    score = {op: value for op, value in (("$gte", min_score), ("$lte", max_score)) if value is not None}
    if score:
        query["candidates.0.score"] = score
    if source:
        query["input.page"] = None if source == "text" else {"$ne": None}
    return query


def review_queue(
    store: LabelStore,
    *,
    order: str = "uncertainty",
    limit: int = LIST_LIMIT,
    cursor: str | None = None,
    counts: bool = True,
    **filters: Any,
) -> ReviewQueue:
    """A page of the label documents matching ``queue_query(**filters)`` in ``order`` (``QUEUE_ORDERS``), after
    ``cursor`` (the previous page's); with ``counts``, the total and the documents per reason kind too.

    Raises:
        ValueError: a bad filter (``queue_query``), order, limit or cursor.
    """
    if order not in QUEUE_ORDERS:
        raise ValueError(f"review queue: order {order!r} is not one of {', '.join(QUEUE_ORDERS)}")
    key, descending = QUEUE_ORDERS[order]
    query = queue_query(**filters)
    page = store.find_page(query, key=key, descending=descending, limit=limit, cursor=cursor)
    if not counts:
        return ReviewQueue(page.docs, page.cursor)
    unfiltered = queue_query(**(filters | {"reason": None}))
    reasons = store.count_values("decision.reason_kinds", unfiltered)
    by_count = dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))  # the commonest first
    # With a reason, the total is that reason's count (the same documents), not a second pass matching it in each one.
    reason = filters.get("reason")
    total = reasons.get(reason, 0) if reason else store.count_labels(query)
    return ReviewQueue(page.docs, page.cursor, total, by_count)
