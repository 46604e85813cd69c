"""nightly_retraining under dag.test() on the embedded stack: import → snapshot → validate → train → evaluate →
register → promote, asserting the MLflow registry; a worse challenger, invalid data and a human's answer."""

import contextlib
import json
import threading
import time

import pytest

from labeling import events
from tests.retraining import CODES, mathcamps_problems, registry_without

pytestmark = pytest.mark.dag

CHAMPION = "champion-us-ccss"  # the runs train us-ccss: its champion, no other curriculum's
ALIASES = ("champion", CHAMPION, "champion-kr-2022", "challenger")


def _jsonl(rows) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


@pytest.fixture(scope="module")
def dag(stack, seeded_graph):
    from airflow.dag_processing.dagbag import DagBag

    from mathlabel.config import PROJECT_ROOT

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "nightly_retraining.py")).get_dag("nightly_retraining")


@pytest.fixture
def registry(settings, monkeypatch):
    """The MLflow registry with no text-labeler champion."""
    with registry_without(settings, monkeypatch, ALIASES) as models:
        yield models


def _run(dag, **conf):
    # Every param, every time: dag.test() keeps the previous run's conf on the shared DAG object.
    defaults = {"curriculum": "us-ccss", "models": ["text"], "promotion": "auto", "margin": None, "compute": "local",
                "instance_type": None, "epochs": None, "new_holdout": False, "settle_seconds": 0}  # fmt: skip
    return dag.test(run_conf={**defaults, **conf})


def _states(run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def _versions(models) -> list[str]:
    from training.registry import MODEL_NAME

    return [ref.version for ref in models.versions(MODEL_NAME)]


def _alias(models, alias):
    from training.registry import MODEL_NAME

    ref = models.by_alias(MODEL_NAME, alias)
    return ref.version if ref else None


def _answer(dag_id: str, task_id: str, option: str, stop: threading.Event) -> None:
    """A person answering in the Airflow UI: the same steps as the HITL REST endpoint, on the metadata DB."""
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import handle_event_submit
    from airflow.triggers.base import TriggerEvent
    from airflow.utils import timezone
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    while not stop.is_set():
        with create_session() as session:
            ti = (
                session.query(TaskInstance)
                .filter_by(dag_id=dag_id, task_id=task_id, state=TaskInstanceState.AWAITING_INPUT)
                .one_or_none()
            )
            if ti is not None:
                detail = session.query(HITLDetail).filter_by(ti_id=ti.id).one()
                detail.responded_by = {"id": "reviewer-lee", "name": "reviewer-lee"}
                detail.responded_at = timezone.utcnow()
                detail.chosen_options = [option]
                detail.params_input = {}
                handle_event_submit(TriggerEvent(detail.as_resume_event_payload()), task_instance=ti, session=session)
                return
        time.sleep(0.5)


def _with_answer(dag, option: str, **conf):
    stop = threading.Event()
    responder = threading.Thread(target=_answer, args=(dag.dag_id, "approve", option, stop), daemon=True)
    responder.start()
    try:
        return _run(dag, **conf)
    finally:
        stop.set()
        responder.join(timeout=10)


def test_retraining_promotes_the_first_model_and_never_a_worse_one(dag, registry, clean_objects, clean_labels):
    objects, models = clean_objects, registry
    problems = mathcamps_problems()
    objects.write_bytes("incoming/verified/reviewed.jsonl", _jsonl(problems))
    before = _versions(models)

    heard: list = []
    with events.listening(heard.append):
        first = _run(dag)
    reports = {k: objects.read_bytes(k).decode() for k in objects.list("reports/retraining")}
    assert first.state == "success", (_states(first), reports)
    states = _states(first)
    assert states["promote"] == "success" and states["keep_champion"] == "skipped"
    assert states["ec2_training.start"] == "skipped" and states["ec2_training.stop"] == "skipped"
    (v1,) = [v for v in _versions(models) if v not in before]
    assert _alias(models, CHAMPION) == v1 and _alias(models, "challenger") == v1
    assert objects.list("incoming/verified") == [] and clean_labels.count_labels({"current": True}) == len(problems)
    assert objects.exists("input-data/holdout/us-ccss/v1/manifest.json")  # frozen once the snapshot validated
    promotion = json.loads(objects.read_bytes(next(k for k in objects.list("reports/retraining") if "promotion" in k)))
    assert promotion["decision"]["reasons"] == ["no champion yet: the first model becomes champion"]
    assert promotion["challenger"]["top1"] > 0.6 and promotion["champion"] is None
    # Trained and promoted were announced (plugins.mathlabel_metrics makes them the hold-out top-1 gauge).
    model = [(type(e).__name__, e.version, e.curriculum, e.holdout_top1) for e in heard
             if isinstance(e, events.ModelTrained | events.ModelPromoted)]  # fmt: skip
    top1 = promotion["challenger"]["top1"]
    assert model == [("ModelTrained", f"text-labeler-v{v1}", "us-ccss", top1),
                     ("ModelPromoted", f"text-labeler-v{v1}", "us-ccss", top1)]  # fmt: skip

    # Reviewers "correct" every label to the wrong code: the challenger trained on that loses on the frozen hold-out.
    shifted = [{**p, "labels": [CODES[(CODES.index(p["labels"][0]) + 1) % len(CODES)]]} for p in problems]
    objects.write_bytes("incoming/verified/relabeled.jsonl", _jsonl(shifted))
    worse = _run(dag)
    assert worse.state == "success", _states(worse)
    assert _states(worse)["keep_champion"] == "success" and _states(worse)["promote"] == "skipped"
    (v2,) = [v for v in _versions(models) if v not in [*before, v1]]
    assert _alias(models, CHAMPION) == v1 and _alias(models, "challenger") == v2  # registered, not champion


def test_invalid_training_data_stops_the_run_before_training(dag, registry, clean_objects, clean_labels):
    objects, models = clean_objects, registry
    problems = mathcamps_problems()
    objects.write_bytes("incoming/verified/reviewed.jsonl", _jsonl(problems))
    # The same problem, labeled another way in the extra training files: a conflict the suite must catch.
    from training.snapshot import in_holdout_share

    trained = next(p for p in problems if not in_holdout_share(p["id"], 0.1))
    objects.write_bytes("input-data/text/extra.jsonl", _jsonl([{**trained, "labels": ["6.EE.A.1"]}]))
    before = _versions(models)

    run = _run(dag)

    states = _states(run)
    assert run.state == "failed" and states["validate"] == "failed"
    assert states["train_local"] == "upstream_failed" and states["ec2_training.stop"] != "success"
    assert _versions(models) == before and objects.list("models") == []
    assert objects.list("input-data/holdout") == []  # a failed validation freezes no hold-out
    (key,) = [k for k in objects.list("reports/retraining") if k.endswith(".validation.json")]
    report = json.loads(objects.read_bytes(key))
    assert not report["ok"] and trained["id"] in report["failures"][0]["examples"]


def test_too_few_verified_problems_fail_validation_freeze_nothing_and_say_what_to_add(
    dag, registry, clean_objects, clean_labels
):
    objects = clean_objects
    few = [p for code in CODES for p in [q for q in mathcamps_problems() if q["labels"] == [code]][:4]]
    objects.write_bytes("incoming/verified/reviewed.jsonl", _jsonl(few))  # 24 problems: a hold-out of 2 < 5

    run = _run(dag)

    states = _states(run)
    assert run.state == "failed" and states["validate"] == "failed" and states["train_local"] == "upstream_failed"
    assert objects.list("input-data/holdout") == []
    (key,) = [k for k in objects.list("reports/retraining") if k.endswith(".validation.json")]
    (size,) = [f for f in json.loads(objects.read_bytes(key))["failures"] if f["check"] == "hold-out size"]
    assert (size["count"], size["needed"], size["add_verified"]) == (2, 5, 30)
    assert "about 50 verified problems in all (there are 24); verify about 30 more" in size["reason"]


def test_in_approval_mode_only_an_approved_challenger_becomes_champion(dag, registry, clean_objects, clean_labels):
    objects, models = clean_objects, registry
    problems = mathcamps_problems()
    objects.write_bytes("incoming/verified/reviewed.jsonl", _jsonl(problems))
    assert _run(dag).state == "success"
    champion = _alias(models, CHAMPION)
    # Another curriculum's champion (set by hand: only the alias matters here) must stay where it is.
    models.set_alias("text-labeler", "champion-kr-2022", champion)

    # Retrained on the same labels, the challenger is as good as the champion: margin 0 lets it through the policy.
    rejected = _with_answer(dag, "Reject", promotion="approval", margin=0.0)
    assert _states(rejected)["approve"] in {"skipped", "success"} and _states(rejected)["promote"] == "skipped"
    assert _alias(models, CHAMPION) == champion and _alias(models, "challenger") != champion

    approved = _with_answer(dag, "Approve", promotion="approval", margin=0.0)
    assert approved.state == "success" and _states(approved)["promote"] == "success"
    assert _alias(models, CHAMPION) == _alias(models, "challenger") != champion
    assert _alias(models, "champion-kr-2022") == champion and _alias(models, "champion") is None


def test_a_night_without_verified_labels_trains_nothing_and_is_not_an_alarm(dag, registry, clean_objects, clean_labels):
    before = _versions(registry)

    run = _run(dag)

    states = _states(run)
    assert run.state == "success", json.dumps(states)
    assert states["validate"] == "skipped" and states["promote"] == "skipped"
    assert _versions(registry) == before and _alias(registry, CHAMPION) is None


@pytest.fixture
def layout_settings(settings, monkeypatch):
    """A tiny generated layout dataset and no layout-detector champion."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from mathlabel.config import get_settings
    from training.layout import MODEL_NAME

    for key, value in {"LAYOUT_DATASET": "input-data/layout/nightly-test", "LAYOUT_TRAIN_PAGES": "8",
                       "LAYOUT_VAL_PAGES": "4", "LAYOUT_IMGSZ": "320", "LAYOUT_BATCH": "4"}.items():  # fmt: skip
        monkeypatch.setenv(f"MATHLABEL_TRAINING__{key}", value)
    get_settings.cache_clear()
    client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
    with contextlib.suppress(MlflowException):  # no alias (or no model) yet
        client.delete_registered_model_alias(MODEL_NAME, "champion")
    yield client
    with contextlib.suppress(MlflowException):  # a 1-epoch champion must not read the pages of later tests
        client.delete_registered_model_alias(MODEL_NAME, "champion")
    get_settings.cache_clear()


def test_the_layout_detector_is_retrained_registered_and_promoted_only_when_better(
    dag, registry, layout_settings, clean_objects, clean_labels, settings
):
    from training.layout import MODEL_NAME

    client = layout_settings
    text_versions = _versions(registry)

    first = _run(dag, models=["layout"], epochs=1)

    states = _states(first)
    assert first.state == "success", json.dumps(states)
    assert states["train_layout"] == "success" and states["promote_layout"] == "success"
    assert states["validate"] == "skipped" and _versions(registry) == text_versions  # the text labeler: untouched
    assert clean_objects.exists("input-data/layout/nightly-test/manifest.json")  # generated, as it was missing
    champion = client.get_model_version_by_alias(MODEL_NAME, "champion")
    assert champion.tags["dataset_version"] == "nightly-test" and champion.tags["epochs"] == "1"
    assert any(k.endswith("/best.pt") and "/nightly-test/" in k for k in clean_objects.list("models/layout-detector"))
    assert not any((settings.var_path / "work" / "layout").iterdir())  # the run's work folder is cleaned up

    second = _run(dag, models=["layout"], epochs=1)  # same data, same seed: the same mAP50 is no improvement

    states = _states(second)
    assert second.state == "success" and states["promote_layout"] == "skipped", json.dumps(states)
    newest = max(int(v.version) for v in client.search_model_versions(f"name='{MODEL_NAME}'"))
    assert newest > int(champion.version)  # registered, not promoted
    assert client.get_model_version_by_alias(MODEL_NAME, "champion").version == champion.version


def test_the_gpu_instance_is_reached_through_the_configured_aws_connection(dag, settings):
    """``training.aws_conn_id`` reaches every AWS call of the ec2_training group, through the run's options."""
    from training.nightly import run_options

    configured = settings.model_copy(
        update={"training": settings.training.model_copy(update={"aws_conn_id": "aws_training"})}
    )
    params = {"curriculum": None, "models": ["text"], "promotion": None, "margin": None, "compute": None,
              "instance_type": None, "epochs": None, "new_holdout": False, "settle_seconds": None}  # fmt: skip
    opts = run_options(params, configured)

    class TaskInstance:  # what the templates read: the options task's XCom
        @staticmethod
        def xcom_pull(task_ids):
            return opts if task_ids == "options" else {"prefix": "input-data/snapshots/2026-12-02/abc"}

    context = {"ti": TaskInstance(), "run_id": "manual__1"}
    for task_id in ("ec2_training.start", "ec2_training.run", "ec2_training.stop"):
        task = dag.get_task(task_id)
        assert task.render_template(task.aws_conn_id, context) == "aws_training", task_id
    for task_id in ("ec2_training.size", "ec2_training.collect"):  # (instance_id, ..., aws_conn_id, region_name)
        task = dag.get_task(task_id)
        assert task.render_template(task.op_args[2], context) == "aws_training", task_id
