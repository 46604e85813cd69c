"""Champion drift: do reviewers still agree with the champion as often as its hold-out said they would?

A champion is promoted on its hold-out top-1 (``reports/retraining/<run>.promotion.json``). In production the share
of its reviewed labels whose top-1 the reviewer kept (verified with the model's own first candidate first) is the
same measure on the problems that actually arrive. When it falls below the hold-out top-1 by more than a margin,
over enough reviews to mean something, the problems have moved away from what the model learned, and a person should
look: one alert per model version per day at most.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from posixpath import join
from typing import Any

from labeling.alerts import Alert, Notify, send_once
from labeling.documents import HUMAN_DECISIONS, VERIFIED
from labeling.schemas import safe_run_id
from stores.labels import LabelStore
from stores.objects import ObjectStore
from training.nightly import REPORTS
from training.registry import MODEL_NAME

log = logging.getLogger(__name__)
REVIEWER_ACTIONS = ("accept", "correct", "reject", "bulk_accept")  # a reviewer's decision, not an imported label


def reviewer_agreement(labels: LabelStore, model_version: str) -> dict[str, Any]:
    """How many of ``model_version``'s documents a reviewer decided, and the share whose top-1 they kept."""
    query = {"model_version": model_version, "decision.status": {"$in": list(HUMAN_DECISIONS)}}
    reviewed = kept = 0
    for doc in labels.find_labels(query):
        if (doc.get("verification") or {}).get("action") not in REVIEWER_ACTIONS or not doc.get("candidates"):
            continue
        reviewed += 1
        chosen = doc.get("labels") or []
        top1 = doc["candidates"][0].get("code")
        kept += doc["decision"]["status"] == VERIFIED and bool(chosen) and chosen[0] == top1
    return {"reviewed": reviewed, "kept": kept, "agreement": round(kept / reviewed, 4) if reviewed else None}


def holdout_top1(objects: ObjectStore, model_version: str) -> float | None:
    """The hold-out top-1 that the promotion report of ``model_version`` (``text-labeler-v<N>``) records."""
    for key in reversed(objects.list(REPORTS)):
        if not key.endswith(".promotion.json"):
            continue
        try:
            body = json.loads(objects.read_bytes(key))
        except ValueError:
            continue
        if f"{MODEL_NAME}-v{body.get('version')}" == model_version:
            top1 = (body.get("challenger") or {}).get("top1")
            return None if top1 is None else float(top1)
    return None


def drift_alert_key(model_version: str, day: str) -> str:
    """The marker that says the drift alert of ``model_version`` was sent on ``day`` (YYYY-MM-DD)."""
    return join("reports", "drift", f"{safe_run_id(model_version)}.{day}.alert.json")


def check_drift(
    objects: ObjectStore,
    labels: LabelStore,
    model_version: str,
    *,
    margin: float,
    min_reviews: int,
    notify: Notify,
    curriculum: str = "",
    holdout: float | None = None,
    day: str | None = None,
    review_url: str = "",
) -> dict[str, Any]:
    """Compare reviewer agreement with ``model_version`` against its hold-out top-1 (``holdout``, else read from its
    promotion report); send the drift alert when agreement is lower by more than ``margin`` over at least
    ``min_reviews`` reviews, once per model version and ``day``.

    Returns the comparison: ``status`` drifted, held, too_few_reviews or no_holdout. Raises what ``notify`` raises.
    """
    found = reviewer_agreement(labels, model_version)
    holdout = holdout_top1(objects, model_version) if holdout is None else holdout
    out: dict[str, Any] = {"model_version": model_version, "curriculum": curriculum, "holdout_top1": holdout,
                           "margin": margin, "min_reviews": min_reviews, **found}  # fmt: skip
    if holdout is None:
        out["status"] = "no_holdout"
    elif found["reviewed"] < min_reviews:
        out["status"] = "too_few_reviews"
    elif found["agreement"] < holdout - margin:
        out["status"] = "drifted"
        day = day or datetime.now(UTC).strftime("%Y-%m-%d")
        marker = drift_alert_key(model_version, day)
        out["alert_sent"] = send_once(objects, marker, drift_alert(out, review_url), notify)
        out["marker"] = marker
    else:
        out["status"] = "held"
    log.info("champion drift of %s: %s", model_version, out)
    return out


def drift_alert(found: dict[str, Any], review_url: str = "") -> Alert:
    """The drift alert: the model, its agreement with reviewers, its hold-out top-1 and the margin."""
    version, curricula = found["model_version"], found["curriculum"] or "-"
    lines = [
        f"Champion {version} (curricula {curricula}) agrees less with reviewers than its hold-out promised.",
        f"- reviewer agreement (top-1 kept): {found['agreement']} over {found['reviewed']} reviewed labels "
        f"({found['kept']} kept)",
        f"- hold-out top-1 at promotion: {found['holdout_top1']} (allowed margin {found['margin']}: alert below "
        f"{round(found['holdout_top1'] - found['margin'], 4)})",
        "",
        "The problems arriving may have moved away from the training data: look at the latest corrections, verify "
        "more labels and retrain (nightly_retraining).",
    ]
    if review_url:
        lines.append(f"Review page: {review_url}")
    subject = f"[mathlabel] champion drift: {version} agreement {found['agreement']} < hold-out {found['holdout_top1']}"
    return Alert(kind="champion_drift", subject=subject, text="\n".join(lines), link=review_url)
