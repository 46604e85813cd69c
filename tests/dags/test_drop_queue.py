"""The production trigger of batch_labeling: S3 event notifications on SQS, read by an Asset watcher's trigger.

The trigger is the Amazon provider's own ``SqsSensorTrigger``, run here (as the triggerer would) against moto's
SQS server over HTTP; the DAG is parsed with the queue configured.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.moto_server import moto_server

pytestmark = pytest.mark.dag

CONN_ID = "aws_moto_sqs"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def moto_sqs():
    import boto3

    with moto_server(CONN_ID, REGION) as endpoint:
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION)
        yield sqs, sqs.create_queue(QueueName="mathlabel-drop")["QueueUrl"]


def _s3_event(key: str) -> str:
    """What S3 sends to SQS when an object is created (trimmed to the fields anyone reads)."""
    record = {"eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
              "s3": {"bucket": {"name": "mathlabel"}, "object": {"key": key, "size": 120}}}  # fmt: skip
    return json.dumps({"Records": [record]})


def _parse(monkeypatch, **env):
    from airflow.dag_processing.dagbag import DagBag

    from mathlabel.config import PROJECT_ROOT, get_settings

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "batch_labeling.py"))
        assert not bag.import_errors, bag.import_errors
        return bag.dags["batch_labeling"]
    finally:
        for key in env:
            monkeypatch.delenv(key)
        get_settings.cache_clear()


def test_without_a_queue_the_drop_folder_is_polled_every_15_minutes(monkeypatch):
    from datetime import timedelta

    dag = _parse(monkeypatch)
    assert dag.schedule == timedelta(minutes=15)


def test_with_a_queue_an_s3_notification_triggers_the_dag_through_the_asset_watcher(moto_sqs, monkeypatch):
    from airflow.providers.amazon.aws.triggers.sqs import SqsSensorTrigger

    sqs, queue_url = moto_sqs
    env = {"MATHLABEL_LABELING__DROP_QUEUE_URL": queue_url, "MATHLABEL_LABELING__DROP_QUEUE_CONN_ID": CONN_ID,
           "MATHLABEL_LABELING__DROP_QUEUE_POLL_SECONDS": "1"}  # fmt: skip
    dag = _parse(monkeypatch, **env)

    (asset,) = dag.schedule
    assert asset.name == "drop_folder" and asset.uri.rstrip("/").endswith("/objects/incoming")
    (watcher,) = asset.watchers
    trigger = watcher.trigger
    assert isinstance(trigger, SqsSensorTrigger)
    assert (trigger.sqs_queue, trigger.aws_conn_id, trigger.waiter_delay) == (queue_url, CONN_ID, 1)

    sqs.send_message(QueueUrl=queue_url, MessageBody=_s3_event("incoming/set-7.jsonl"))

    async def first_event():
        return await asyncio.wait_for(anext(trigger.run()), timeout=30)

    event = asyncio.run(first_event())

    assert event.payload["status"] == "success"
    (message,) = event.payload["message_batch"]
    assert json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"] == "incoming/set-7.jsonl"
    remaining = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    assert remaining["Attributes"]["ApproximateNumberOfMessages"] == "0"  # consumed once, not re-delivered
