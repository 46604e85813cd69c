"""Learn every night from what reviewers verified; promote a better text labeler, never a worse one."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable

from operators.alerts import nightly_deadline, on_failure

CHAMPION_ASSET = Asset("text_labeler_champion")
LAYOUT_CHAMPION_ASSET = Asset("layout_detector_champion")

DOC_MD = """
### nightly_retraining
Every night at 02:00 Asia/Seoul (and from the UI with Params):

1. **import_verified** imports verified-label files dropped under `incoming/verified/` (problem JSONL/CSV with
   `labels`) into the label store; bad rows go to `quarantine/<date>/verified/` with reasons. Re-importing changes
   nothing; a new verification of a problem supersedes the old one, which is kept.
2. **snapshot** reads the current verified labels through a read-only client (readPreference `secondaryPreferred`)
   plus `input-data/text/`, cuts them against the frozen hold-out (`input-data/holdout/<curriculum>/v<N>/`) and
   writes `input-data/snapshots/<date>/<sha>/` (train.jsonl + manifest.json; holdout.jsonl when the hold-out is a
   new candidate, not yet frozen).
3. **validate** runs the Great Expectations snapshot suite (texts, codes, examples per label, conflicting labels,
   leakage, hold-out size); on failure the run stops, nothing is trained, no hold-out is frozen, and the task log and
   `reports/retraining/<run>.validation.json` say why and what to add (e.g. how many more verified problems: a first
   model needs about `training.min_holdout / training.holdout_share` of them, 200 by default). When it passes, a
   candidate hold-out is frozen as `v<N>`.
4. **train** runs `mathlabel training text` as a subprocess (`compute=local`) or on the GPU instance through SSM Run
   Command (`compute=ec2`: start → run → collect → stop, the stop even on failure, with the AWS connection
   `training.aws_conn_id`). The model is logged to MLflow and kept under `models/text-labeler/<snapshot>/`.
5. **evaluate** scores the challenger and its curricula's champion on the same frozen hold-out, overall and per
   curriculum; **register** makes the challenger a registered version with alias `challenger`.
6. **promote** sets alias `champion-<curricula>` (e.g. `champion-us-ccss`; other curricula keep their champions)
   when the challenger beats the champion by the margin and no curriculum is worse
   (`promotion=auto`), or after a person approves in the Airflow UI (`promotion=approval`); the
   `text_labeler_champion` Asset then tells downstream runs. A worse or rejected challenger stays registered.

With `layout` among `models`, **train_layout** trains the YOLO layout detector (`mathlabel training layout`, as a
subprocess on this worker) on `training.layout_dataset` (generated first when missing), registers it as a
`layout-detector` version (a retry of the task continues the epochs an earlier try finished, from
`<var>/work/layout/<run>/`, and a try after registration reuses its result), and **promote_layout** makes it the
champion when there is none or when its validation mAP50 beats the champion's on the same dataset (the
`layout_detector_champion` Asset then tells labeling runs).

**champion_drift** (beside the training, from the same options) compares reviewer agreement with the champion of the
curricula (the share of its reviewed labels whose top-1 the reviewer kept) with its hold-out top-1 at promotion; below
it by more than `quality_gate.drift_margin`, over at least `quality_gate.drift_min_reviews` reviews, it sends the
drift alert, at most once a day per model version (`reports/drift/<version>.<date>.alert.json`).

Every task that fails after its retries sends a failure alert (`alerts.connections`); a run not finished by
`alerts.nightly_finish_hour` (Asia/Seoul) sends a deadline alert.

**Params**: `curriculum`, `models` (`text`, `layout`), `promotion` (auto|approval),
`margin`, `compute` (local|ec2), `instance_type`, `epochs` (for epoch-based models), `new_holdout`,
`settle_seconds`.
"""


def _settings():
    from mathlabel.config import get_settings

    return get_settings()


def _stores():
    from operators.clients import build_stores
    from plugins.mathlabel_metrics import register_metrics

    register_metrics()  # every task that reaches the stores may train or promote: its events become metrics
    return build_stores()


@contextlib.contextmanager
def _outcome():
    """Training's outcomes as Airflow's: nothing to do skips the task (and what needs it); invalid training data
    fails it without retries, as no retry makes the data valid."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    from training.errors import InvalidTrainingData, NothingToDo

    try:
        yield
    except NothingToDo as exc:
        raise AirflowSkipException(str(exc)) from exc
    except InvalidTrainingData as exc:
        raise AirflowFailException(str(exc)) from exc


@dag(
    dag_id="nightly_retraining",
    schedule=CronTriggerTimetable("0 2 * * *", timezone="Asia/Seoul"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Seoul"),
    catchup=False,
    max_active_runs=1,
    tags=["training", "mathlabel"],
    doc_md=DOC_MD,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1), "on_failure_callback": on_failure},
    deadline=nightly_deadline(schedule_hour=2),
    params={
        "curriculum": Param(None, type=["null", "string"], description="Curricula to train for; empty = configured"),
        "models": Param(["text"], type="array", items={"enum": ["text", "layout"]}, description="Models to train"),
        "promotion": Param(
            None,
            type=["null", "string"],
            enum=[None, "auto", "approval"],
            description="auto: promote at once; approval: after a person approves",
        ),
        "margin": Param(None, type=["null", "number"], minimum=0, description="Top-1 gain needed; empty = configured"),
        "compute": Param(None, type=["null", "string"], enum=[None, "local", "ec2"], description="Where to train"),
        "instance_type": Param(None, type=["null", "string"], description="EC2 instance type for compute=ec2"),
        "epochs": Param(None, type=["null", "integer"], minimum=1, description="Epochs of epoch-based models"),
        "new_holdout": Param(False, type="boolean", description="Freeze a new hold-out version from today's labels"),
        "settle_seconds": Param(
            None,
            type=["null", "number"],
            minimum=0,
            description="Leave verified-label files younger than this; empty = configured",
        ),
    },
)
def nightly_retraining():
    @task
    def options() -> dict:
        """The run's effective options: its Params over the configured defaults (one place, shown in the log)."""
        from training.nightly import run_options

        return run_options(get_current_context()["params"], _settings())

    @task
    def import_verified(opts: dict) -> list[dict]:
        from training.nightly import import_verified_files

        return import_verified_files(_stores(), _settings(), opts, get_current_context()["run_id"])

    @task
    def snapshot(opts: dict, imported: list[dict]) -> dict:
        from training.nightly import take_snapshot

        when = pendulum.instance(get_current_context().get("logical_date") or pendulum.now("UTC"))
        return take_snapshot(_stores(), _settings(), opts, when.in_timezone("Asia/Seoul").strftime("%Y-%m-%d"))

    @task
    def validate(opts: dict, snap: dict) -> dict:
        from training.nightly import check_snapshot

        with _outcome():
            return check_snapshot(_stores(), _settings(), opts, snap, get_current_context()["run_id"])

    @task.branch
    def route_compute(opts: dict, checked: dict) -> str:
        from operators.ec2_training import FIRST

        return f"ec2_training.{FIRST}" if opts["compute"] == "ec2" else "train_local"

    @task(execution_timeout=timedelta(hours=2))
    def train_local(opts: dict, snap: dict) -> dict:
        from operators.local_training import run_job

        run_job(["training", "text", "--snapshot", snap["prefix"], "--curriculum", opts["curriculum"]], "training")
        return {"compute": "local"}

    @task(trigger_rule="none_failed_min_one_success")
    def trained() -> dict:
        """The training result, whichever compute produced it (read from the object store, not from the machine).
        Only the two trainings are upstream: with this trigger rule, the snapshot's success alone must not run it."""
        from training.nightly import read_result

        snap = get_current_context()["ti"].xcom_pull(task_ids="snapshot")
        return read_result(_stores().objects, snap["prefix"])

    @task
    def evaluate(opts: dict, snap: dict, result: dict) -> dict:
        from training.nightly import evaluate_challenger

        return evaluate_challenger(_stores(), _settings(), opts, snap, result)

    @task
    def register(opts: dict, result: dict, scores: dict) -> dict:
        from training.nightly import register_challenger

        return register_challenger(_stores(), opts, result, scores, get_current_context()["run_id"])

    @task.branch
    def route_promotion(opts: dict, registered: dict) -> str:
        if not registered["decision"]["promote"]:
            return "keep_champion"
        return "approve" if opts["promotion"] == "approval" else "promote_now"

    @task
    def keep_champion(registered: dict) -> None:
        print(f"version {registered['version']} stays a challenger: {registered['decision']['reasons']}")

    @task
    def promote_now() -> None:
        print("promotion=auto: promoting without approval")

    @task(trigger_rule="none_failed_min_one_success", outlets=[CHAMPION_ASSET])
    def promote() -> dict:
        """Runs after promote_now or an approval, nothing else: ``register`` is read from XCom, not made upstream
        (with this trigger rule its success alone would promote a challenger the policy kept back)."""
        from training.nightly import promote_text_labeler

        return promote_text_labeler(_stores().registry, get_current_context()["ti"].xcom_pull(task_ids="register"))

    @task
    def champion_drift(opts: dict) -> dict:
        """Reviewer agreement with tonight's champion (before any promotion) against its hold-out top-1."""
        from operators.alerts import check_champion_drift

        return check_champion_drift(opts["curriculum"])

    @task(execution_timeout=timedelta(hours=8))
    def train_layout(opts: dict) -> dict:
        from mathlabel.jobs import layout_args
        from operators.local_training import run_job
        from training.nightly import train_layout as train_layout_step

        def train(config, result_key: str) -> None:
            run_job(["training", "layout", *layout_args(config, result_key)], "layout training")

        with _outcome():
            return train_layout_step(_stores().objects, _settings(), opts, get_current_context()["run_id"], train)

    @task(outlets=[LAYOUT_CHAMPION_ASSET])
    def promote_layout(result: dict) -> dict:
        """Skipped when the detector is kept back, so the Asset is not updated."""
        from training.nightly import promote_layout as promote_layout_step

        with _outcome():
            return promote_layout_step(_stores().registry, _settings(), result)

    promote_layout(train_layout(opts := options()))
    champion_drift(opts)

    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from operators.ec2_training import ec2_training

    snap = snapshot(opts, import_verified(opts))
    checked = validate(opts, snap)
    route = route_compute(opts, checked)
    local = train_local(opts, snap)
    command = (
        "cd {{ ti.xcom_pull(task_ids='options')['workdir'] }} && .venv/bin/python -m mathlabel training text "
        "--snapshot {{ ti.xcom_pull(task_ids='snapshot')['prefix'] }} "
        "--curriculum '{{ ti.xcom_pull(task_ids='options')['curriculum'] }}'"
    )
    remote = ec2_training(
        instance_id="{{ ti.xcom_pull(task_ids='options')['instance_id'] }}",
        instance_type="{{ ti.xcom_pull(task_ids='options')['instance_type'] }}",
        aws_conn_id="{{ ti.xcom_pull(task_ids='options')['aws_conn_id'] }}",
        command=command,
    )
    route >> [local, remote]
    result = trained()
    [local, remote] >> result
    scores = evaluate(opts, snap, result)
    registered = register(opts, result, scores)
    decision = route_promotion(opts, registered)
    approve = ApprovalOperator(
        task_id="approve",
        subject="Promote text-labeler version {{ ti.xcom_pull(task_ids='register')['version'] }} to champion?",
        body="{{ ti.xcom_pull(task_ids='register')['comparison'] }}",
        response_timeout=timedelta(days=2),
        defaults="Reject",
    )
    now = promote_now()
    decision >> [keep_champion(registered), approve, now]
    [approve, now] >> promote()


nightly_retraining()
