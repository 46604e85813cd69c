"""The domain's event seam (labeling.events) and the listener that turns events into Airflow metrics."""

from __future__ import annotations

import logging

from labeling import events
from plugins.mathlabel_metrics import MetricsListener, score_bucket
from tests.otel_metrics import otel_metrics, total  # noqa: F401 - the fixture

QUEUE = events.QueueMeasured(size=3, oldest_age_seconds=12.0)


def test_a_listener_hears_events_only_while_registered_and_once_however_often_added():
    heard: list = []
    with events.listening(heard.append):
        events.add_listener(heard.append)
        events.emit(QUEUE)
    events.emit(QUEUE)
    assert heard == [QUEUE]
    assert heard.append not in events.listeners()
    events.remove_listener(heard.append)  # removing one that is gone is no error


def test_a_failing_listener_is_logged_and_the_others_still_hear(caplog):
    heard: list = []

    def broken(event):
        raise RuntimeError("metrics backend down")

    with events.listening(broken), events.listening(heard.append), caplog.at_level(logging.ERROR):
        events.emit(QUEUE)
    assert heard == [QUEUE]
    assert "metrics backend down" in caplog.text


def test_quarantine_reasons_fall_into_few_kinds():
    assert events.quarantine_kind("not valid JSON: Expecting value") == "parse"
    assert events.quarantine_kind("cannot decode as UTF-8 or CP949") == "encoding"
    assert events.quarantine_kind("text must not be empty") == "validation"
    assert events.quarantine_kind("set.jsonl: cannot be prepared (ZeroDivisionError: x)") == "error"
    assert events.quarantine_kind("something new") == "other"


def test_score_buckets_cover_zero_to_one():
    assert [score_bucket(s) for s in (0.0, 0.05, 0.55, 0.99, 1.0, 1.7)] == ["0.0", "0.0", "0.5", "0.9", "0.9", "0.9"]


def test_a_chunk_becomes_counters_timers_and_gauges_in_airflow_metrics(otel_metrics):  # noqa: F811
    chunk = events.ChunkLabeled(run_id="r", curriculum="kr-2022", model_version="v1", file="f.jsonl", problems=4,
                                labeled=2, skipped=1, quarantined=1, needs_review=1, auto_accepted=2,
                                top_scores=(0.95, 0.4, 0.41), ocr_confidences=(0.9, 0.7),
                                stage_seconds={"ranking": 0.5, "write": 0.1}, seconds=2.0)  # fmt: skip
    listener = MetricsListener()
    listener(chunk)
    listener(events.ReviewDecided("d", "correct", "reviewer", "v1", "kr-2022", kept_top1=False))
    listener(events.ModelPromoted("text-labeler-v3", "kr-2022", 0.81))
    read = otel_metrics()
    tags = {"curriculum": "kr-2022", "model_version": "v1"}
    assert total(read, "airflow.mathlabel.problems.labeled", **tags) == 2
    assert total(read, "airflow.mathlabel.problems.quarantined", **tags) == 1
    assert total(read, "airflow.mathlabel.problems.auto_accepted", **tags) == 2
    assert total(read, "airflow.mathlabel.problems.top1_score", bucket="0.4") == 2
    assert total(read, "airflow.mathlabel.stage.ranking") == 500.0  # milliseconds
    assert total(read, "airflow.mathlabel.run.needs_review_rate") == 1 / 3
    assert total(read, "airflow.mathlabel.run.ocr_confidence_mean") == 0.8
    assert total(read, "airflow.mathlabel.run.problems_per_second") == 2.0
    assert total(read, "airflow.mathlabel.review.decisions", decision="correct", kept_top1="false") == 1
    assert total(read, "airflow.mathlabel.model.holdout_top1", model_version="text-labeler-v3") == 0.81
