"""The quality gate over run reports in an object store: the verdict in the report, one alert per breached run."""

import json

import pytest

from labeling.alerts import Alert
from labeling.gate import GateThresholds, alert_key, check_run, judge
from labeling.quality import record_run, run_measures
from labeling.report import summarize
from stores.objects import LocalObjectStore

NORMAL_BINS = [0, 0, 0, 2, 4, 8, 10, 8, 5, 3]  # top-1 scores of a normal run: mostly 0.5-0.8


def report(run_id: str, at: str, *, needs_review: float = 0.2, bins=None, quarantined: int = 0, ocr=None) -> dict:
    """A run report as ``finish_run`` writes it (``summarize``), from one chunk result with these measures."""
    bins = bins or NORMAL_BINS
    scores = [round(i / 10 + 0.05, 2) for i, count in enumerate(bins) for _ in range(count)]
    review = round(needs_review * len(scores))
    result = {"labeled": len(scores), "skipped": 0, "quarantined": quarantined, "with_provided_labels": 0,
              "top1_agreements": 0, "needs_review": review, "auto_accepted": len(scores) - review,
              "top_scores": scores, "ocr_confidences": [ocr] * len(scores) if ocr else [], "seconds": 2.0,
              "model_version": "lexical-bm25-v3", "curriculum": "kr-2022"}  # fmt: skip
    body = summarize(run_id, [], [result], {})
    body.update(finished_at=at, report=f"reports/{run_id}.json", report_html=f"reports/{run_id}.html",
                review_url=f"http://127.0.0.1:8080/mathlabel/?run_id={run_id}&status=any")  # fmt: skip
    return body


@pytest.fixture
def objects(tmp_path):
    store = LocalObjectStore(tmp_path)
    for i in range(1, 4):  # a normal baseline of three runs
        put(store, report(f"base-{i}", f"2026-12-0{i}T00:00:00"))
    return store


def put(objects, body: dict) -> str:
    """A finished run, as finish_run leaves it: its report, and its measures in the history."""
    objects.write_bytes(f"reports/{body['run_id']}.json", json.dumps(body).encode())
    record_run(objects, body)
    return body["run_id"]


class Outbox(list):
    def __call__(self, alert: Alert) -> None:
        self.append(alert)


def test_a_run_that_needs_review_everywhere_breaches_the_gate_once(objects):
    shifted = [30, 8, 2, 0, 0, 0, 0, 0, 0, 0]  # the labeler has no idea: every top-1 under 0.3
    run_id = put(objects, report("english", "2026-12-05T00:00:00", needs_review=1.0, bins=shifted))
    outbox = Outbox()
    verdict = check_run(objects, run_id, GateThresholds(), outbox)
    assert verdict["status"] == "breached" and verdict["breaches"] == ["needs_review_rate", "score_psi"]
    (alert,) = outbox
    assert "english" in alert.subject and "needs-review rate: 1.0 (baseline 0.2; rise 0.8 > 0.2 allowed)" in alert.text
    assert "baseline: 3 earlier runs (base-1, base-2, base-3)" in alert.text
    assert f"Report: {objects.uri('reports/english.html')}" in alert.text and "run_id=english" in alert.text
    stored = json.loads(objects.read_bytes("reports/english.json"))
    assert stored["quality_gate"]["measures"]["needs_review_rate"]["baseline"] == 0.2
    assert stored["quality_gate"]["alert"]["sent"] is True and objects.exists(alert_key("english"))
    assert objects.exists("reports/english.html")
    # the task retried, or the report task rerun: nothing is sent again, the report still says it was
    assert check_run(objects, run_id, GateThresholds(), outbox)["alert"]["note"] == "sent before"
    assert len(outbox) == 1


def test_a_normal_run_passes_and_sends_nothing(objects):
    run_id = put(objects, report("normal", "2026-12-05T00:00:00", needs_review=0.25))
    outbox = Outbox()
    verdict = check_run(objects, run_id, GateThresholds(), outbox)
    assert verdict["status"] == "passed" and verdict["breaches"] == [] and outbox == []
    assert json.loads(objects.read_bytes("reports/normal.json"))["quality_gate"]["status"] == "passed"


def test_without_a_baseline_nothing_is_judged_and_the_report_says_so(tmp_path):
    objects = LocalObjectStore(tmp_path)
    run_id = put(objects, report("first", "2026-12-01T00:00:00", needs_review=1.0))
    outbox = Outbox()
    assert check_run(objects, run_id, GateThresholds(), outbox)["status"] == "no_baseline" and outbox == []
    gate = json.loads(objects.read_bytes("reports/first.json"))["quality_gate"]
    assert "fewer than 3 earlier runs" in gate["note"]


def test_a_failed_delivery_fails_the_gate_and_its_retry_sends(objects):
    run_id = put(objects, report("late", "2026-12-05T00:00:00", needs_review=0.9))

    def broken(alert):
        raise ConnectionRefusedError("smtp down")

    with pytest.raises(ConnectionRefusedError):
        check_run(objects, run_id, GateThresholds(), broken)
    assert not objects.exists(alert_key("late"))  # nothing recorded: the retry must send
    assert "delivery failed" in json.loads(objects.read_bytes("reports/late.json"))["quality_gate"]["alert"]["note"]
    outbox = Outbox()
    check_run(objects, run_id, GateThresholds(), outbox)
    assert len(outbox) == 1


def test_ocr_confidence_drop_and_quarantine_rise_are_breaches():
    base = {"needs_review_rate": 0.2, "quarantine_rate": 0.0, "ocr_confidence_mean": 0.9, "histogram": NORMAL_BINS,
            "runs": ["a", "b", "c"]}  # fmt: skip
    run = run_measures(report("blurred", "2026-12-05T00:00:00", quarantined=10, ocr=0.55))
    verdict = judge(run, base, GateThresholds())
    assert verdict["breaches"] == ["ocr_confidence_mean", "quarantine_rate"]
    assert verdict["measures"]["ocr_confidence_mean"]["change"] == 0.35
    small = run_measures(report("tiny", "2026-12-05T00:00:00", bins=[1] * 10))
    assert judge(small, base, GateThresholds())["status"] == "too_small"  # 10 problems: rates are noise
