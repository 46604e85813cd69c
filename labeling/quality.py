"""How a labeling run went, measured from its report, and the runs before it: what the quality gate compares and the
Health page plots.

A run's report (``reports/<run id>.json``, written by ``finish_run``) already holds its counts, its top-1 score
histogram and its OCR confidence; ``run_measures`` turns one into the few rates that can be compared across runs of
different sizes. ``record_run`` keeps them in a history whose keys sort by time (``history/runs/``), from which
``recent_runs`` reads the latest back; ``trailing_baseline`` pools the runs before a given one that used the same
curricula and model (a new champion or another curriculum starts its own history), and ``psi`` says how far a run's
top-1 score distribution moved from the baseline's.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from stores.objects import ObjectStore

HISTORY = "history/runs/"  # one small entry of measures per run (record_run), apart from the reports people read
# Rates a run is compared on, each a share of the run's problems or a mean (None when the run had none to measure).
MEASURES = ("needs_review_rate", "auto_accept_rate", "quarantine_rate", "ocr_confidence_mean", "problems_per_second")


def run_measures(report: dict[str, Any]) -> dict[str, Any]:
    """The comparable measures of one run's report, with what identifies its history (curricula, model)."""
    stored = (report.get("labeled") or 0) + (report.get("skipped") or 0)
    quarantined = report.get("quarantined") or 0
    seen = stored + quarantined
    label_seconds = report.get("label_seconds") or 0.0
    return {
        "run_id": report.get("run_id"),
        "finished_at": report.get("finished_at"),
        "curriculum": ",".join(report.get("curricula") or []),
        "model_version": ",".join(report.get("model_versions") or []),
        "problems": seen,
        "labeled": report.get("labeled") or 0,
        "quarantined": quarantined,
        "unfinished": len(report.get("unfinished") or []),  # files a failed labeling task left for the retry
        "needs_review_rate": report.get("needs_review_rate"),
        "auto_accept_rate": report.get("auto_accept_rate"),
        "quarantine_rate": round(quarantined / seen, 4) if seen else None,
        "ocr_confidence_mean": report.get("ocr_confidence_mean"),
        "ocr_problems": report.get("ocr_problems") or 0,
        "problems_per_second": round(report["labeled"] / label_seconds, 2)
        if label_seconds and report.get("labeled")
        else None,
        "histogram": [b["count"] for b in report.get("histogram") or []],
        "report": report.get("report"),
        "report_html": report.get("report_html"),
    }


def record_run(objects: ObjectStore, summary: dict[str, Any]) -> str | None:
    """Keep a run's measures in the history (``history/runs/<finished at>__<run id>.json``): keys sort by time, so
    ``recent_runs`` reads only the latest few, however many runs came before. A retried report writes another entry;
    ``recent_runs`` keeps a run's latest. Returns the key (None for a summary without ``finished_at``)."""
    measures = run_measures(summary)
    if not measures["finished_at"] or not measures["run_id"]:
        return None
    stamp = re.sub(r"[^0-9T]", "", measures["finished_at"])[:15]  # 20261202T184552: sorts as time does
    key = f"{HISTORY}{stamp}__{measures['run_id']}.json"
    objects.write_bytes(key, json.dumps(measures, ensure_ascii=False).encode())
    return key


def recent_runs(objects: ObjectStore, limit: int = 50) -> list[dict[str, Any]]:
    """The measures of the latest ``limit`` runs in the history (``record_run``), oldest first; one entry per run."""
    keys = sorted(key for key in objects.list(HISTORY) if key.endswith(".json"))
    runs: dict[str, dict[str, Any]] = {}
    for key in reversed(keys):  # newest first, reading no more than it keeps
        if len(runs) == limit:
            break
        try:
            measures = json.loads(objects.read_bytes(key))
        except (ValueError, UnicodeDecodeError):
            continue  # an entry being written, or damaged: the history does without it
        if isinstance(measures, dict) and measures.get("run_id") and measures["run_id"] not in runs:
            runs[measures["run_id"]] = measures
    return sorted(runs.values(), key=lambda r: (r["finished_at"] or "", r["run_id"]))


def trailing_baseline(
    runs: Sequence[dict[str, Any]], run: dict[str, Any], *, window: int = 10, min_runs: int = 3
) -> dict[str, Any] | None:
    """The pooled measures of up to ``window`` runs before ``run`` with its curricula and model that labeled
    something; None with fewer than ``min_runs`` of them (no baseline yet: nothing to compare with)."""
    before = [
        r
        for r in runs
        if r["run_id"] != run["run_id"]
        and (r["finished_at"] or "") <= (run["finished_at"] or "")
        and r["curriculum"] == run["curriculum"]
        and r["model_version"] == run["model_version"]
        and r["problems"]
    ][-window:]
    if len(before) < min_runs:
        return None
    out: dict[str, Any] = {"runs": [r["run_id"] for r in before], "problems": sum(r["problems"] for r in before)}
    for measure in MEASURES:
        values = [(r[measure], r["problems"]) for r in before if r[measure] is not None]
        weight = sum(w for _, w in values)
        out[measure] = round(sum(v * w for v, w in values) / weight, 4) if weight else None
    width = max((len(r["histogram"]) for r in before), default=0)
    out["histogram"] = [sum(r["histogram"][i] for r in before if len(r["histogram"]) == width) for i in range(width)]
    return out


BASELINE_SEARCH = 200  # latest runs read for a baseline: enough to find `window` runs of a curricula among others


def baseline_for(objects: ObjectStore, summary: dict[str, Any], *, window: int = 10, min_runs: int = 3):
    """The trailing baseline of a finished run's summary, from the history (``trailing_baseline``)."""
    return trailing_baseline(
        recent_runs(objects, BASELINE_SEARCH), run_measures(summary), window=window, min_runs=min_runs
    )


def psi(expected: Sequence[float], actual: Sequence[float], floor: float = 1e-4) -> float | None:
    """Population stability index of two histograms over the same bins (counts or shares): the sum over bins of
    (a - e) ln(a / e) on shares, each floored at ``floor`` so an empty bin does not make it infinite. Under 0.1 is
    usually read as stable, over 0.25 as a shift. None when either is empty or the bins differ."""
    if len(expected) != len(actual) or not sum(expected) or not sum(actual):
        return None
    e_total, a_total = float(sum(expected)), float(sum(actual))
    value = 0.0
    for e, a in zip(expected, actual, strict=True):
        e_share, a_share = max(e / e_total, floor), max(a / a_total, floor)
        value += (a_share - e_share) * math.log(a_share / e_share)
    return round(value, 4)
