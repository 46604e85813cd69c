"""Labeling and reviewing on the real embedded stores reach Airflow's metrics (an in-process OTel reader)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from labeling import events
from labeling.batch import CurriculumIndex, run_batch
from labeling.intake import claim_files
from mathlabel.config import get_settings
from mathlabel.runs import batch_config
from plugins.mathlabel_metrics import LISTENER
from tests.otel_metrics import otel_metrics, total  # noqa: F401 - the fixture
from tests.review_client import login

pytestmark = pytest.mark.integration
API = "/mathlabel/api/v1"
RECORDS = [
    {"id": "m-1", "text": "180을 소인수분해하여 거듭제곱을 사용한 곱으로 나타내시오."},
    {"id": "m-2", "text": "삼각형의 세 내각의 크기의 합을 구하시오."},
]


def _label(objects, labels, graph, run_id: str, extra: str = "") -> dict:
    lines = [json.dumps(r, ensure_ascii=False) for r in RECORDS] + ([extra] if extra else [])
    objects.write_bytes("incoming/set.jsonl", ("\n".join(lines) + "\n").encode())
    cfg = batch_config(get_settings(), run_id)
    index = CurriculumIndex(graph, "kr-2022")
    return run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg)


def test_a_labeled_chunk_reaches_airflow_metrics(clean_objects, clean_labels, seeded_graph, otel_metrics):  # noqa: F811
    heard: list = []
    with events.listening(LISTENER), events.listening(heard.append):
        summary = _label(clean_objects, clean_labels, seeded_graph, "run-metrics", extra="{not json")
    (chunk,) = [e for e in heard if isinstance(e, events.ChunkLabeled)]
    assert (chunk.labeled, chunk.problems, chunk.run_id) == (2, 2, "run-metrics")
    assert {"ingest", "ranking", "write"} <= set(chunk.stage_seconds)
    (bad,) = [e for e in heard if isinstance(e, events.RecordQuarantined)]
    assert (bad.record, bad.reason_kind) == (3, "parse")
    read = otel_metrics()
    tags = {"curriculum": "kr-2022", "model_version": chunk.model_version}
    assert total(read, "airflow.mathlabel.problems.labeled", **tags) == summary["labeled"] == 2
    assert total(read, "airflow.mathlabel.problems.needs_review", **tags) == chunk.needs_review
    assert total(read, "airflow.mathlabel.problems.quarantined", reason_kind="parse") == 1
    assert total(read, "airflow.mathlabel.problems.top1_score", **tags) == 2  # the histogram's buckets
    assert total(read, "airflow.mathlabel.run.needs_review_rate", **tags) == chunk.needs_review / 2
    assert total(read, "airflow.mathlabel.stage.ranking", **tags) > 0


def test_a_failing_listener_does_not_break_labeling(clean_objects, clean_labels, seeded_graph):
    def broken(event):
        raise RuntimeError("statsd is down")

    with events.listening(broken):
        summary = _label(clean_objects, clean_labels, seeded_graph, "run-broken-listener")
    assert summary["labeled"] == 2 and clean_labels.count_labels() == 2


def test_review_decisions_requests_and_the_queue_reach_airflow_metrics(
    client,
    clean_objects,
    clean_labels,
    seeded_graph,
    otel_metrics,  # noqa: F811
):
    from plugins.mathlabel_review.app import workspace

    workspace.cache_clear()  # the workspace holds the store it opened: this test's fresh one
    try:
        _label(clean_objects, clean_labels, seeded_graph, "run-review-metrics")
        headers = login(client, "reviewer")
        assert client.get(f"{API}/queue", headers=headers).status_code == 200  # measures the queue
        needs_review = clean_labels.count_labels({"decision.status": "needs_review"})
        doc = clean_labels.find_labels(limit=1)[0]
        path = f"{API}/labels/{quote(doc['_id'], safe='')}/accept"
        version = {"If-Match": f'"{doc["version"]}"'}
        assert client.post(path, json={}, headers=headers | version).status_code == 200
        assert client.post(path, json={}, headers=headers | version).status_code == 409  # stale now
    finally:
        workspace.cache_clear()
    read = otel_metrics()
    assert total(read, "airflow.mathlabel.review.decisions", decision="accept", kept_top1="true",
                 model_version=doc["model_version"], curriculum="kr-2022") == 1  # fmt: skip
    route = "/api/v1/labels/{doc_id:path}/accept"
    assert total(read, "airflow.mathlabel.api.requests", route=route, method="POST", status="200") == 1
    assert total(read, "airflow.mathlabel.api.requests", route=route, method="POST", status="409") == 1
    assert total(read, "airflow.mathlabel.api.latency", route="/api/v1/queue") > 0
    assert total(read, "airflow.mathlabel.review.queue_size") == needs_review  # as it stood when read
    assert total(read, "airflow.mathlabel.review.oldest_age_seconds") >= 0
