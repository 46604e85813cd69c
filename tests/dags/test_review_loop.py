"""The loop end to end: a batch labels a problem set, reviewers verify and correct its labels through the review API,
and the next nightly_retraining run, reading the label store with no file step, trains the new champion on exactly
those reviews."""

import json
from urllib.parse import quote

import pytest

from tests.retraining import mathcamps_problems, registry_without
from tests.review_client import login

pytestmark = pytest.mark.dag

CHAMPION = "champion-us-ccss"
ALIASES = ("champion", CHAMPION, "challenger")


@pytest.fixture
def registry(settings, monkeypatch):
    """The MLflow registry with no us-ccss champion."""
    with registry_without(settings, monkeypatch, ALIASES) as models:
        yield models


def test_reviews_made_in_the_api_are_what_the_next_nightly_champion_trains_on(
    stack, seeded_graph, registry, clean_objects, clean_labels, client
):
    from airflow.dag_processing.dagbag import DagBag

    from labeling.batch import CurriculumIndex, run_batch
    from labeling.intake import claim_files
    from mathlabel.config import PROJECT_ROOT, get_settings
    from mathlabel.runs import batch_config
    from plugins.mathlabel_review.app import workspace
    from training.registry import MODEL_NAME
    from training.snapshot import read_jsonl

    objects, labels = clean_objects, clean_labels
    workspace.cache_clear()  # the API's workspace opens this test's fresh label store
    problems = mathcamps_problems()  # real problems (MathCAMPS), not text we wrote
    truth = {p["id"]: p["labels"] for p in problems}
    unlabeled = [{k: v for k, v in p.items() if k != "labels"} for p in problems]
    objects.write_bytes("incoming/worksheets.jsonl", "".join(json.dumps(p) + "\n" for p in unlabeled).encode())
    cfg = batch_config(get_settings(), "run-loop", curriculum="us-ccss")
    index = CurriculumIndex(seeded_graph, "us-ccss")
    run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg)
    docs = labels.find_labels({"run_id": "run-loop"})
    assert len(docs) == len(problems)

    # Reviewers: bulk-accept the labels that are right, correct the others one by one.
    headers = login(client, "reviewer") | {"X-Requested-With": "mathlabel"}
    right = [d for d in docs if d["labels"] == truth[d["problem_id"]]]
    wrong = [d for d in docs if d["labels"] != truth[d["problem_id"]]]
    assert right and wrong  # both paths are exercised
    bulk = client.post(
        "/mathlabel/api/v1/labels/bulk-accept",
        json={"items": [{"id": d["_id"], "version": d["version"]} for d in right]},
        headers=headers,
    )
    assert bulk.status_code == 200 and len(bulk.json()["accepted"]) == len(right), bulk.text
    for doc in wrong:
        response = client.post(
            f"/mathlabel/api/v1/labels/{quote(doc['_id'], safe='')}/correct",
            json={"codes": truth[doc["problem_id"]]},
            headers=headers | {"If-Match": str(doc["version"])},
        )
        assert response.status_code == 200, response.text
    assert labels.count_labels({"decision.status": "verified", "current": True}) == len(problems)
    assert labels.count_events({"by": "reviewer"}) == len(problems)
    assert objects.list("incoming/verified") == []  # no file step

    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "nightly_retraining.py")).get_dag("nightly_retraining")
    conf = {"curriculum": "us-ccss", "models": ["text"], "promotion": "auto", "margin": None, "compute": "local",
            "instance_type": None, "epochs": None, "new_holdout": False, "settle_seconds": 0}  # fmt: skip
    run = dag.test(run_conf=conf)
    assert run.state == "success", {ti.task_id: ti.state for ti in run.get_task_instances()}

    champion = registry.by_alias(MODEL_NAME, CHAMPION)
    assert champion is not None and champion.tags["curricula"] == "us-ccss"
    snapshot = registry.run_tags(champion.tags["run_id"])["snapshot"]
    manifest = json.loads(objects.read_bytes(f"{snapshot.rstrip('/')}/manifest.json"))
    rows = read_jsonl(objects, f"{snapshot.rstrip('/')}/train.jsonl") + read_jsonl(objects, manifest["holdout"]["key"])
    reviewed = {row["key"]: row["labels"] for row in rows if row["source"].startswith("verified:")}
    expected = {f"worksheets.jsonl#{pid}": codes for pid, codes in truth.items()}
    set_aside = manifest["held_back"] + manifest["dropped_as_hold_out_duplicates"]
    assert len(reviewed) + set_aside == len(expected) and len(reviewed) > 0.8 * len(expected)  # every review
    assert all(expected[key] == codes for key, codes in reviewed.items())  # with the reviewers' labels
    corrected = {f"worksheets.jsonl#{d['problem_id']}" for d in wrong} & set(reviewed)
    assert corrected  # the corrections, not the machine's wrong labels, are what it trained on
