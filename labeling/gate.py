"""The quality gate: after a labeling run is finished, compare it with the trailing baseline of its curricula and
model, mark its report, and send one alert when it breached a threshold.

Four measures are compared, each chosen for a failure a person would want to hear of the same day:
- the needs-review rate (absolute rise): the queue is about to grow by that share of the run;
- the population-stability index of the top-1 score histogram: the labeler's confidence moved (problems of another
  curriculum, another language, a broken labeler);
- the mean OCR confidence (drop): a new scanner, blurred or empty pages;
- the quarantine rate (absolute rise): a producer's files changed shape.

The gate runs apart from ``finish_run`` (the ``batch_labeling`` DAG's ``quality_gate`` task), so a failed delivery
fails and retries that task only and never rewrites the run's filing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, fields
from typing import Any

from labeling.alerts import Alert, Notify, send_once
from labeling.batch import report_key
from labeling.quality import baseline_for, psi, run_measures
from labeling.report import render_html
from labeling.schemas import safe_run_id
from stores.objects import ObjectStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateThresholds:
    """The ``quality_gate`` settings (``mathlabel/defaults.yaml`` explains each)."""

    window: int = 10
    min_runs: int = 3
    min_problems: int = 20
    max_needs_review_rise: float = 0.2
    max_score_psi: float = 0.25
    max_ocr_confidence_drop: float = 0.1
    max_quarantine_rise: float = 0.1

    @classmethod
    def of(cls, section: Any) -> GateThresholds:
        """From the settings' ``quality_gate`` section (its drift keys are not the gate's)."""
        return cls(**{f.name: getattr(section, f.name) for f in fields(cls)})


def alert_key(run_id: str) -> str:
    """The marker that says the run's gate alert was sent."""
    return report_key(run_id, "alert.json")


def _diff(value: float | None, base: float | None, sign: int) -> float | None:
    """How far ``value`` moved from ``base`` the bad way (``sign`` 1: a rise, -1: a drop); None if either is missing."""
    return None if value is None or base is None else round(sign * (value - base), 4)


SMOOTHING = 0.5  # counts added to every bin: an empty bin of a small run is no infinite (or huge) shift


def _score_shift(expected: list[int], actual: list[int]) -> tuple[float | None, float | None, float | None]:
    """The PSI of the top-1 score histograms (bins smoothed), the PSI two samples of these sizes from one
    distribution show by chance, about (bins - 1)(1/n + 1/m), and how far the first exceeds the second.

    Without that allowance a run of 25 problems against a baseline of 75 "shifts" by 0.48 on noise alone (10 bins),
    and the gate would cry wolf after every small run."""
    n, m = sum(expected), sum(actual)
    value = psi([c + SMOOTHING for c in expected], [c + SMOOTHING for c in actual]) if n and m else None
    if value is None:
        return None, None, None
    chance = round((len(expected) - 1) * (1 / n + 1 / m), 4)
    return value, chance, round(value - chance, 4)


def judge(run: dict[str, Any], baseline: dict[str, Any] | None, limits: GateThresholds) -> dict[str, Any]:
    """The gate's verdict on one run's measures (``quality.run_measures``) against its baseline.

    Returns ``status`` (passed, breached, no_baseline or too_small), each measure with its value, the baseline's,
    the change and the threshold, and the ``breaches`` (the names of the measures over their threshold).
    """
    thresholds = {"needs_review_rate": limits.max_needs_review_rise, "score_psi": limits.max_score_psi,
                  "ocr_confidence_mean": limits.max_ocr_confidence_drop,
                  "quarantine_rate": limits.max_quarantine_rise}  # fmt: skip
    verdict: dict[str, Any] = {"status": "passed", "thresholds": thresholds, "measures": {}, "breaches": [],
                               "baseline_runs": (baseline or {}).get("runs", [])}  # fmt: skip
    if run["problems"] < limits.min_problems:
        verdict.update(status="too_small", note=f"{run['problems']} problems, under the {limits.min_problems} the "
                                                "gate judges: not compared")  # fmt: skip
        return verdict
    if baseline is None:
        verdict.update(
            status="no_baseline",
            note=f"fewer than {limits.min_runs} earlier runs of curricula "
            f"{run['curriculum'] or '-'} and model {run['model_version'] or '-'}: nothing to compare with",
        )
        return verdict  # fmt: skip
    measured = {
        "needs_review_rate": (run["needs_review_rate"], baseline["needs_review_rate"],
                              _diff(run["needs_review_rate"], baseline["needs_review_rate"], 1)),
        "score_psi": _score_shift(baseline["histogram"], run["histogram"]),
        "ocr_confidence_mean": (run["ocr_confidence_mean"], baseline["ocr_confidence_mean"],
                                _diff(run["ocr_confidence_mean"], baseline["ocr_confidence_mean"], -1)),
        "quarantine_rate": (run["quarantine_rate"], baseline["quarantine_rate"],
                            _diff(run["quarantine_rate"], baseline["quarantine_rate"], 1)),
    }  # fmt: skip
    for name, (value, base, change) in measured.items():
        breached = change is not None and change > thresholds[name]
        verdict["measures"][name] = {"value": value, "baseline": base, "change": change,
                                     "threshold": thresholds[name], "breached": breached}  # fmt: skip
        if breached:
            verdict["breaches"].append(name)
    verdict["status"] = "breached" if verdict["breaches"] else "passed"
    return verdict


MEASURE_NAMES = {
    "needs_review_rate": ("needs-review rate", "rise"),
    "score_psi": ("top-1 score PSI against the baseline's histogram", "shift beyond chance"),
    "ocr_confidence_mean": ("mean OCR confidence", "drop"),
    "quarantine_rate": ("quarantine rate", "rise"),
}


def gate_alert(report: dict[str, Any], run: dict[str, Any], verdict: dict[str, Any], objects: ObjectStore) -> Alert:
    """The alert of a run that breached the gate: the run, each breached measure with its value, the baseline and
    the threshold, and links to the report and the run's review queue."""
    run_id = report["run_id"]
    lines = [f"Labeling run {run_id} breached the quality gate ({len(verdict['breaches'])} of 4 measures).",
             f"Curricula {run['curriculum'] or '-'}, model {run['model_version'] or '-'}, {run['problems']} problems, "
             f"finished {run['finished_at']}; baseline: {len(verdict['baseline_runs'])} earlier runs "
             f"({', '.join(verdict['baseline_runs'])}).", ""]  # fmt: skip
    for name in verdict["breaches"]:
        m = verdict["measures"][name]
        label, change = MEASURE_NAMES[name]
        base = "expected by chance" if name == "score_psi" else "baseline"
        lines.append(f"- {label}: {m['value']} ({base} {m['baseline']}; {change} {m['change']} > "
                     f"{m['threshold']} allowed)")  # fmt: skip
    link = objects.uri(report.get("report_html") or report_key(run_id, "html"))
    lines += ["", f"Report: {link}", f"Report (JSON): {objects.uri(report.get('report') or report_key(run_id))}"]
    if report.get("review_url"):
        lines.append(f"Review queue of the run: {report['review_url']}")
    subject = f"[mathlabel] quality gate: run {run_id} breached {', '.join(verdict['breaches'])}"
    return Alert(kind="quality_gate", subject=subject, text="\n".join(lines), link=link)


def check_run(objects: ObjectStore, run_id: str, limits: GateThresholds, notify: Notify) -> dict[str, Any]:
    """Judge the finished run ``run_id`` against its trailing baseline, record the verdict in its report (JSON and
    HTML, under ``quality_gate``) and send one alert when it breached; safe to run again (no second alert).

    Returns the verdict (an XCom: small). Raises what ``notify`` raises, after the report says the alert failed.
    """
    report = json.loads(objects.read_bytes(report_key(run_id)))
    run = run_measures(report)
    if "baseline" in report:  # finish_run judged the history once, with these settings: the same baseline
        baseline = report["baseline"]
    else:  # a report written before finish_run stored its baseline
        baseline = baseline_for(objects, report, window=limits.window, min_runs=limits.min_runs)
    verdict = judge(run, baseline, limits)
    if baseline is not None:
        verdict["baseline"] = {k: v for k, v in baseline.items() if k != "runs"}
    failure: Exception | None = None
    if verdict["status"] == "breached":
        marker = alert_key(run_id)
        try:
            sent = send_once(objects, marker, gate_alert(report, run, verdict, objects), notify)
            verdict["alert"] = {"sent": sent, "marker": marker, "note": "sent" if sent else "sent before"}
        except Exception as exc:  # recorded in the report, then raised: the task fails and its retry sends
            failure = exc
            verdict["alert"] = {"sent": False, "marker": marker, "note": f"delivery failed: {exc}"}
    report["quality_gate"] = verdict
    objects.write_bytes(report_key(run_id), json.dumps(report, ensure_ascii=False, indent=2, default=str).encode())
    objects.write_bytes(report.get("report_html") or report_key(run_id, "html"), render_html(report).encode())
    log.info("run %s: quality gate %s %s", safe_run_id(run_id), verdict["status"], verdict["breaches"])
    if failure is not None:
        raise failure
    return {k: v for k, v in verdict.items() if k not in ("baseline",)}
