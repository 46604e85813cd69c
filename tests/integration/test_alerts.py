"""Alerts a user would believe: real labeling runs (``run_batch`` on the embedded stores) judged by the quality gate,
and a champion its reviewers keep correcting, delivered through Airflow's SMTP and SNS notifiers to a local SMTP
sink and moto's SNS."""

import dataclasses
import json

import boto3
import pytest

from labeling.batch import CurriculumIndex, run_batch
from labeling.evaluate import VersionedLabeler
from labeling.gate import GateThresholds, alert_key, check_run
from labeling.intake import claim_files
from mathlabel.config import PROJECT_ROOT, Settings, get_settings
from mathlabel.runs import batch_config
from operators.alerts import notify
from review.workspace import ReviewWorkspace
from tests.moto_server import REGION, moto_server
from tests.smtp_sink import smtp_sink
from training.drift import check_drift

pytestmark = pytest.mark.integration

SAMPLE = [json.loads(line) for line in (PROJECT_ROOT / "labeling/samples/kr2022_sample.jsonl").read_text().splitlines()]
# Problems a user might drop by mistake into a kr-2022 run: English, US middle-school style (written for this test).
ENGLISH = [
    "A rectangle is 7 inches long and 4 inches wide. What is its perimeter?",
    "Solve for x: 3x + 5 = 20.",
    "What is the greatest common factor of 24 and 36?",
    "A bag has 3 red marbles and 5 blue marbles. What is the probability of drawing a red marble?",
    "Find the slope of the line through the points (1, 2) and (3, 8).",
    "Round 4.678 to the nearest tenth.",
    "Write 0.35 as a fraction in simplest form.",
    "The sum of two consecutive integers is 41. What are the integers?",
    "How many minutes are there in three and a half hours?",
    "Evaluate 2 to the fifth power minus 10.",
    "A car travels 150 miles in 3 hours. What is its average speed in miles per hour?",
    "What is the area of a circle with radius 5 centimeters? Use 3.14 for pi.",
    "Simplify the expression 4(a + 3) - 2a.",
    "Which is larger, 3/5 or 5/8? Explain your answer.",
    "A shirt costs 20 dollars and is on sale for 15 percent off. What is the sale price?",
    "List all the prime numbers between 20 and 40.",
    "The angles of a triangle are 50 degrees and 60 degrees. What is the third angle?",
    "Find the mean of the numbers 4, 8, 15, 16 and 23.",
    "Convert 2.5 kilometers to meters.",
    "If y = 2x - 1, what is y when x = 6?",
    "A recipe uses 2 cups of flour for 12 cookies. How much flour is needed for 30 cookies?",
    "What is the volume of a cube whose edges are 3 feet long?",
    "Order from least to greatest: -2, 5, 0, -7, 3.",
    "Tom read 45 pages on Monday and twice as many on Tuesday. How many pages did he read in all?",
    "Factor the expression x squared minus 9.",
]


@pytest.fixture
def index(seeded_graph):
    return CurriculumIndex(seeded_graph, "kr-2022")


@pytest.fixture
def channels(tmp_path):
    """An SMTP sink and moto's SNS (a topic with an SQS queue subscribed), and the settings that send alerts to both
    through their Airflow connections. Yields (settings, sink, read_sns) where read_sns() gives the SNS messages."""
    with smtp_sink("alert_smtp") as sink, moto_server("alert_sns") as endpoint:
        sns = boto3.client("sns", endpoint_url=endpoint, region_name=REGION)
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION)
        topic = sns.create_topic(Name="mathlabel-alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="alert-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

        def read_sns() -> list[dict]:
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            return [json.loads(m["Body"]) for m in got]  # the SNS envelope: Subject, Message

        settings = Settings(alerts={"connections": ["alert_smtp", "alert_sns"], "email_to": ["ops@example.org"],
                                    "sns_target_arn": topic})  # fmt: skip
        yield settings, sink, read_sns


def _run(objects, labels, index, run_id: str, records: list[dict], labeler=None) -> str:
    """One labeling run of ``records`` through the drop folder (claim, prepare, label, finish); its run id."""
    objects.write_bytes(f"incoming/{run_id}.jsonl",
                        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode())  # fmt: skip
    cfg = batch_config(get_settings(), run_id)
    if labeler is not None:
        cfg = dataclasses.replace(cfg, model_version=labeler.version)
    run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg, labeler=labeler)
    return cfg.run_id


def _baseline(objects, labels, index) -> None:
    for i in range(3):  # three normal runs of Korean problems
        _run(objects, labels, index, f"base-{i}", SAMPLE[i * 25 : (i + 1) * 25])


def test_english_problems_against_kr_2022_trip_the_gate_and_send_exactly_one_alert(
    clean_objects, clean_labels, index, channels
):
    settings, sink, read_sns = channels
    limits = GateThresholds.of(settings.quality_gate)
    _baseline(clean_objects, clean_labels, index)
    run_id = _run(clean_objects, clean_labels, index, "english", [{"id": f"en-{i}", "text": t}
                                                                   for i, t in enumerate(ENGLISH)])  # fmt: skip
    verdict = check_run(clean_objects, run_id, limits, notify(settings))
    # The cold start sends every problem to review, Korean or English (no calibrated score): the top-1 scores shift
    assert verdict["status"] == "breached" and verdict["breaches"] == ["score_psi"], verdict
    (mail,) = sink.texts()
    (sns,) = read_sns()
    for text in (mail, sns["Message"]):
        assert "Labeling run english breached the quality gate" in text
        psi = verdict["measures"]["score_psi"]["value"]
        assert f"top-1 score PSI against the baseline's histogram: {psi} (expected by chance" in text
        assert "25 problems" in text and "baseline: 3 earlier runs (base-0, base-1, base-2)" in text
        assert f"Report: {clean_objects.uri('reports/english.html')}" in text
    assert sns["Subject"].startswith("[mathlabel] quality gate: run english")
    report = json.loads(clean_objects.read_bytes("reports/english.json"))
    assert report["quality_gate"]["status"] == "breached" and clean_objects.exists(alert_key(run_id))
    # the gate runs again for the same run (a retry, the report task cleared): no second alert anywhere
    assert check_run(clean_objects, run_id, limits, notify(settings))["alert"]["sent"] is False
    assert len(sink.messages) == 1 and read_sns() == []


def test_a_normal_run_after_a_normal_baseline_sends_nothing(clean_objects, clean_labels, index, channels):
    settings, sink, read_sns = channels
    _baseline(clean_objects, clean_labels, index)
    run_id = _run(clean_objects, clean_labels, index, "normal", SAMPLE[75:100])
    verdict = check_run(clean_objects, run_id, GateThresholds.of(settings.quality_gate), notify(settings))
    assert verdict["status"] == "passed", verdict
    assert sink.messages == [] and read_sns() == []


def test_a_champion_reviewers_keep_correcting_sends_the_drift_alert_once_a_day(
    clean_objects, clean_labels, index, seeded_graph, channels
):
    settings, sink, read_sns = channels
    champion = VersionedLabeler(index.retriever, "text-labeler-v7")  # labels as the registry's version 7 would
    _run(clean_objects, clean_labels, index, "champion-run", SAMPLE[:40], labeler=champion)
    clean_objects.write_bytes("reports/retraining/nightly-1.promotion.json",
                              json.dumps({"version": "7", "challenger": {"top1": 0.82}}).encode())  # fmt: skip
    workspace = ReviewWorkspace(clean_labels, seeded_graph, clean_objects)
    docs = clean_labels.find_labels({"model_version": "text-labeler-v7"}, sort=[("_id", 1)])
    assert len(docs) == 40
    for i, doc in enumerate(docs):  # 30 of 40 corrected to another standard, 10 accepted as the model ranked them
        if i < 30:
            other = next(c["code"] for c in doc["candidates"][1:] if c["code"] != doc["candidates"][0]["code"])
            workspace.correct(doc["_id"], version=doc["version"], reviewer="kim", codes=[other])
        else:
            workspace.correct(doc["_id"], version=doc["version"], reviewer="lee", codes=[doc["candidates"][0]["code"]])
    gate = settings.quality_gate
    found = check_drift(clean_objects, clean_labels, "text-labeler-v7", margin=gate.drift_margin,
                        min_reviews=gate.drift_min_reviews, notify=notify(settings), curriculum="kr-2022",
                        day="2026-12-02", review_url=settings.labeling.review_url)  # fmt: skip
    assert found["status"] == "drifted" and found["reviewed"] == 40 and found["agreement"] == 0.25, found
    (mail,) = sink.texts()
    (sns,) = read_sns()
    for text in (mail, sns["Message"]):
        assert "Champion text-labeler-v7 (curricula kr-2022) agrees less with reviewers" in text
        assert "reviewer agreement (top-1 kept): 0.25 over 40 reviewed labels (10 kept)" in text
        assert "hold-out top-1 at promotion: 0.82" in text
    print(f"drift alert as e-mailed:\n{mail}")
    again = check_drift(clean_objects, clean_labels, "text-labeler-v7", margin=gate.drift_margin,
                        min_reviews=gate.drift_min_reviews, notify=notify(settings), day="2026-12-02")  # fmt: skip
    assert again["alert_sent"] is False and len(sink.messages) == 1  # once a day per model version


def test_a_missed_deadline_is_mailed_with_the_run_and_its_deadline(monkeypatch):
    from operators.alerts import deadline_missed

    monkeypatch.setenv("MATHLABEL_ALERTS__CONNECTIONS", '["alert_smtp"]')
    monkeypatch.setenv("MATHLABEL_ALERTS__EMAIL_TO", '["ops@example.org"]')
    get_settings.cache_clear()
    try:
        with smtp_sink("alert_smtp") as sink:
            # the context the scheduler gives a DeadlineAlert's callback (models/deadline.py, handle_miss)
            deadline_missed(context={
                "dag_run": {"dag_id": "nightly_retraining", "dag_run_id": "scheduled__2026-12-02T17:00:00+00:00",
                            "state": "running", "queued_at": "2026-12-02T17:00:02+00:00"},
                "deadline": {"id": "d-1", "deadline_time": "2026-12-02T22:00:00+00:00"},
            })  # fmt: skip
    finally:
        get_settings.cache_clear()
    (mail,) = sink.texts()
    assert "[mathlabel] nightly_retraining missed its deadline (run scheduled__2026-12-02T17:00:00+00:00)" in mail
    assert "is not finished by its deadline 2026-12-02T22:00:00+00:00" in mail and "state running" in mail
