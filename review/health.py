"""How labeling and the model are doing, for the Health page: the last runs' measures, how often reviewers keep the
model's first choice, and how far behind the review queue is.

The run measures come from the run reports (``labeling.quality``); the rest from the label store. A document a
reviewer decided (``verification.action``: accept, correct, reject) still holds the candidates its model ranked, so
whether the reviewer kept the model's top-1 is read off the document itself, with the same rule as the
``review.decisions`` metric (``kept_top1``: verified with that code first; a rejection keeps nothing). Verifications
imported from a file have no action and no model to agree with: they are left out.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from labeling.documents import HUMAN_DECISIONS, VERIFIED, queue_query, review_queue
from labeling.quality import recent_runs, trailing_baseline
from stores.labels import LabelStore
from stores.objects import ObjectStore

REVIEWS_READ = 5000  # the latest reviews the agreement is measured on: the page stays quick on a big store


def _kept_top1(doc: dict[str, Any]) -> bool:
    labels = doc.get("labels") or []
    top1 = ((doc.get("candidates") or [{}])[0]).get("code")
    return (doc.get("decision") or {}).get("status") == VERIFIED and bool(labels) and labels[0] == top1


def agreement(labels: LabelStore, *, limit: int = REVIEWS_READ) -> list[dict[str, Any]]:
    """Per model version and curriculum, over the latest ``limit`` reviewed documents: reviews, how many kept the
    model's top-1, how many were rejected, the agreement (kept / reviews) and the last review's time; the most
    reviewed first."""
    query = {"decision.status": {"$in": list(HUMAN_DECISIONS)}, "verification.action": {"$exists": True}}
    groups: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"reviews": 0, "kept_top1": 0, "rejected": 0, "last_review": None}
    )
    for doc in labels.find_labels(query, sort=[("updated_at", -1)], limit=limit):
        if not doc.get("candidates") or not doc.get("model_version"):
            continue  # nothing the model said to agree with
        group = groups[(str(doc["model_version"]), str(doc.get("curriculum") or ""))]
        group["reviews"] += 1
        group["kept_top1"] += _kept_top1(doc)
        group["rejected"] += (doc.get("decision") or {}).get("status") != VERIFIED
        at = (doc.get("verification") or {}).get("at")
        at = at.isoformat() if isinstance(at, datetime) else at
        if at and (group["last_review"] is None or str(at) > group["last_review"]):
            group["last_review"] = str(at)
    rows = [
        {"model_version": model, "curriculum": curriculum, **g, "agreement": round(g["kept_top1"] / g["reviews"], 4)}
        for (model, curriculum), g in groups.items()
    ]
    return sorted(rows, key=lambda r: (-r["reviews"], r["model_version"], r["curriculum"]))


def queue_state(labels: LabelStore, *, now: datetime | None = None) -> dict[str, Any]:
    """The review queue's size, the age in seconds of its oldest document (None when it is empty), and how many of
    its documents each run left (the store keeps no history of the queue; what each run still waits for stands in)."""
    whole = review_queue(labels, order="oldest", limit=1, counts=False)
    size = labels.count_labels(queue_query())
    by_run = {str(k): v for k, v in labels.count_values("run_id", queue_query()).items()}
    oldest = whole.docs[0].get("created_at") if whole.docs else None
    state: dict[str, Any] = {"size": size, "by_run": by_run, "oldest_created_at": None, "oldest_age_seconds": None}
    if isinstance(oldest, datetime):
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        state["oldest_created_at"] = oldest.isoformat()
        state["oldest_age_seconds"] = round(((now or datetime.now(UTC)) - oldest).total_seconds(), 1)
    return state


def health(labels: LabelStore, objects: ObjectStore, *, limit: int = 30) -> dict[str, Any]:
    """What the Health page plots: the last ``limit`` runs' measures (oldest first), the latest run's trailing
    baseline (None before enough runs of its curricula and model), reviewer agreement and the queue."""
    # The baseline pools runs before the latest one, which may lie beyond the runs shown: read a wider window.
    history = recent_runs(objects, limit=limit + 50)
    runs = history[-limit:]
    return {
        "runs": runs,
        "latest_baseline": trailing_baseline(history, runs[-1]) if runs else None,
        "agreement": agreement(labels),
        "queue": queue_state(labels),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
