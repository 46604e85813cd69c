"""Learn every night from what reviewers verified; promote a better text labeler, never a worse one."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, Param, dag, get_current_context, task
from airflow.timetables.trigger import CronTriggerTimetable

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
4. **train** runs `python -m training.nightly train` as a subprocess (`compute=local`) or on the GPU instance through
   SSM Run Command (`compute=ec2`: start → run → collect → stop, the stop even on failure). The model is logged to
   MLflow and kept under `models/text-labeler/<snapshot>/`.
5. **evaluate** scores the challenger and the current champion on the same frozen hold-out, overall and per
   curriculum; **register** makes the challenger a registered version with alias `challenger`.
6. **promote** sets alias `champion` when the challenger beats the champion by the margin and no curriculum is worse
   (`promotion=auto`), or after a person approves in the Airflow UI (`promotion=approval`); the
   `text_labeler_champion` Asset then tells downstream runs. A worse or rejected challenger stays registered.

With `layout` among `models`, **train_layout** trains the YOLO layout detector (`python -m training.layout`, as a
subprocess on this worker) on `training.layout_dataset` (generated first when missing), registers it as a
`layout-detector` version (a retry of the task continues the epochs an earlier try finished, from
`<var>/work/layout/<run>/`, and a try after registration reuses its result), and **promote_layout** makes it the
champion when there is none or when its validation mAP50 beats the champion's on the same dataset (the
`layout_detector_champion` Asset then tells labeling runs).

**Params**: `curriculum`, `models` (`text`, `layout`), `promotion` (auto|approval),
`margin`, `compute` (local|ec2), `instance_type`, `epochs` (for epoch-based models), `new_holdout`,
`settle_seconds`.
"""


def _settings():
    from mathlabel.config import get_settings

    return get_settings()


def _report(objects, run_id: str, name: str, body: dict) -> str:
    import json

    from labeling.batch import safe_run_id

    key = f"reports/retraining/{safe_run_id(run_id)}.{name}.json"
    objects.write_bytes(key, json.dumps(body, ensure_ascii=False, indent=2, default=str).encode())
    return key


@dag(
    dag_id="nightly_retraining",
    schedule=CronTriggerTimetable("0 2 * * *", timezone="Asia/Seoul"),
    start_date=pendulum.datetime(2026, 1, 1, tz="Asia/Seoul"),
    catchup=False,
    max_active_runs=1,
    tags=["training", "mathlabel"],
    doc_md=DOC_MD,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=1)},
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
        context = get_current_context()
        params, training = context["params"], _settings().training
        chosen = {
            "curriculum": params["curriculum"] or training.curriculum,
            "models": list(params["models"]),
            "promotion": params["promotion"] or training.promotion,
            "margin": training.promotion_margin if params["margin"] is None else params["margin"],
            "compute": params["compute"] or training.compute,
            "instance_id": training.ec2_instance_id,
            "instance_type": params["instance_type"] or training.ec2_instance_type,
            "workdir": training.ec2_workdir,
            "epochs": params["epochs"],
            "new_holdout": params["new_holdout"],
            "settle_seconds": params["settle_seconds"],
        }
        if "layout" in chosen["models"] and chosen["compute"] == "ec2":
            print("layout detector: trains on this worker; compute=ec2 moves the text labeler's training only")
        if chosen["compute"] == "ec2" and not chosen["instance_id"]:
            raise ValueError("compute=ec2 needs MATHLABEL_TRAINING__EC2_INSTANCE_ID (the GPU instance to start)")
        print(f"options: {chosen}")
        return chosen

    @task
    def import_verified(opts: dict) -> list[dict]:
        from datetime import UTC, datetime

        from labeling.index import CurriculumIndex
        from operators.clients import build_stores
        from training.verified import import_dropped

        context, settings = get_current_context(), _settings()
        stores = build_stores()
        results = import_dropped(
            stores.objects,
            stores.labels,
            CurriculumIndex(stores.graph, opts["curriculum"]),
            run_id=context["run_id"],
            run_date=datetime.now(UTC).strftime("%Y-%m-%d"),
            settle_seconds=settings.labeling.settle_seconds
            if opts["settle_seconds"] is None
            else opts["settle_seconds"],
            max_text_chars=settings.labeling.max_text_chars,
        )
        print(f"imported {len(results)} verified-label file(s): {results}")
        return results

    @task
    def snapshot(opts: dict, imported: list[dict]) -> dict:
        from labeling.index import CurriculumIndex
        from operators.clients import build_stores
        from training.snapshot import build_snapshot

        context, settings = get_current_context(), _settings()
        stores = build_stores()
        curriculum = CurriculumIndex(stores.graph, opts["curriculum"]).curriculum
        when = pendulum.instance(context.get("logical_date") or pendulum.now("UTC"))
        snap = build_snapshot(
            stores.objects,
            stores.labels.reader(),
            curriculum,
            date=when.in_timezone("Asia/Seoul").strftime("%Y-%m-%d"),
            holdout_share=settings.training.holdout_share,
            new_holdout=opts["new_holdout"],
        )
        held = snap.manifest["holdout"]
        state = "frozen" if held["frozen"] else "candidate, frozen once the snapshot validates"
        print(f"snapshot {snap.prefix}: {snap.manifest['train']['problems']} training problems, "
              f"hold-out v{held['version']} ({held['problems']} problems, {state})")  # fmt: skip
        return snap.to_dict()

    @task
    def validate(opts: dict, snap: dict) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from labeling.index import CurriculumIndex
        from operators.clients import build_stores
        from training.snapshot import Snapshot
        from training.snapshot_validation import validate_and_freeze, verified_needed

        context, training = get_current_context(), _settings().training
        if "text" not in opts["models"]:
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"models={opts['models']}: the text labeler is not trained in this run")
        if snap["manifest"]["train"]["problems"] == 0 and snap["manifest"]["holdout"]["problems"] == 0:
            from airflow.sdk.exceptions import AirflowSkipException

            needed = verified_needed(training.min_holdout, training.holdout_share)
            raise AirflowSkipException(f"no verified labels for {opts['curriculum']} yet: nothing to train tonight "
                                       f"(a first model needs about {needed} verified problems)")  # fmt: skip
        stores = build_stores()
        report = validate_and_freeze(
            stores.objects,
            Snapshot.from_dict(snap),
            CurriculumIndex(stores.graph, opts["curriculum"]).codes,
            min_examples_per_label=training.min_examples_per_label,
            min_holdout=training.min_holdout,
        )
        key = _report(stores.objects, context["run_id"], "validation", {"snapshot": snap["prefix"], **report.to_dict()})
        print(report.summary())
        if not report.ok:
            raise AirflowFailException(f"{report.summary()}\nreport: {stores.objects.uri(key)}")
        return {"report": key, "train": report.train, "holdout": report.holdout, "holdout_key": report.holdout_key}

    @task.branch
    def route_compute(opts: dict, checked: dict) -> str:
        from operators.ec2_training import FIRST

        return f"ec2_training.{FIRST}" if opts["compute"] == "ec2" else "train_local"

    @task(execution_timeout=timedelta(hours=2))
    def train_local(opts: dict, snap: dict) -> dict:
        import subprocess
        import sys

        command = [sys.executable, "-m", "training.nightly", "train", "--snapshot", snap["prefix"],
                   "--curriculum", opts["curriculum"]]  # fmt: skip
        print("running: " + " ".join(command))
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        print(done.stdout[-4000:], done.stderr[-4000:])
        if done.returncode != 0:
            raise RuntimeError(f"training exited with {done.returncode}: {done.stderr.strip().splitlines()[-1:]}")
        return {"compute": "local"}

    @task(trigger_rule="none_failed_min_one_success")
    def trained() -> dict:
        """The training result, whichever compute produced it (read from the object store, not from the machine).
        Only the two trainings are upstream: with this trigger rule, the snapshot's success alone must not run it."""
        import json

        from operators.clients import build_stores
        from training.nightly import result_key

        snap = get_current_context()["ti"].xcom_pull(task_ids="snapshot")
        result = json.loads(build_stores().objects.read_bytes(result_key(snap["prefix"])))
        print(f"trained: {result}")
        return result

    @task
    def evaluate(opts: dict, snap: dict, result: dict) -> dict:
        import mlflow

        from labeling.index import CurriculumIndex
        from operators.clients import build_stores
        from training.nightly import holdout_metrics
        from training.registry import champion
        from training.snapshot import read_jsonl
        from training.text_labeler import TrainedLabeler

        settings = _settings()
        stores = build_stores()
        index = CurriculumIndex(stores.graph, opts["curriculum"])
        holdout_key = snap["manifest"]["holdout"]["key"]  # frozen by validate, which passed
        holdout = read_jsonl(stores.objects, holdout_key)
        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
        model = mlflow.pyfunc.load_model(result["model_uri"]).unwrap_python_model().model
        auto = settings.labeling.auto_accept_score
        ours = holdout_metrics(TrainedLabeler(model, index.retriever), index, holdout, auto)
        found = champion(settings.mlflow_tracking_uri, index.curricula)
        theirs = holdout_metrics(TrainedLabeler(found[0], index.retriever), index, holdout, auto) if found else None
        client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
        for key, value in {"holdout_top1": ours["top1"], "holdout_top3": ours["top3"], "holdout_mrr": ours["mrr"],
                           **({"champion_holdout_top1": theirs["top1"]} if theirs else {})}.items():  # fmt: skip
            client.log_metric(result["run_id"], key, value)
        client.set_tag(result["run_id"], "holdout", holdout_key)
        out = {"challenger": ours, "champion": theirs, "champion_version": found[1].version if found else None}
        print(f"hold-out: challenger top-1 {ours['top1']}, champion {theirs['top1'] if theirs else 'none'}")
        return out

    @task
    def register(opts: dict, result: dict, scores: dict) -> dict:
        from operators.clients import build_stores
        from training.nightly import comparison_markdown, decide
        from training.registry import MODEL_NAME, register_run, registry

        context, settings = get_current_context(), _settings()
        ref = register_run(result["run_id"], settings.mlflow_tracking_uri)
        models = registry(settings.mlflow_tracking_uri)
        models.set_alias(MODEL_NAME, "challenger", ref.version)
        decision = decide(scores["challenger"], scores["champion"], margin=opts["margin"])
        summary = {"version": ref.version, "decision": decision.to_dict(), "training": result, **scores,
                   "comparison": comparison_markdown(scores["challenger"], scores["champion"], decision)}  # fmt: skip
        summary["report"] = _report(build_stores().objects, context["run_id"], "promotion", summary)
        print(summary["comparison"])
        return summary

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
        from training.registry import MODEL_NAME, registry

        registered = get_current_context()["ti"].xcom_pull(task_ids="register")
        models = registry(_settings().mlflow_tracking_uri)
        models.set_alias(MODEL_NAME, "champion", registered["version"])
        print(f"{MODEL_NAME} version {registered['version']} is the champion")
        return {"champion": registered["version"]}

    @task(execution_timeout=timedelta(hours=8))
    def train_layout(opts: dict) -> dict:
        import json
        import shutil
        import subprocess
        import sys

        from airflow.sdk.exceptions import AirflowSkipException

        from labeling.batch import safe_run_id
        from operators.clients import build_stores
        from stores.objects import join
        from training.layout import dataset_version, resumable
        from training.pages import write_yolo_dataset

        if "layout" not in opts["models"]:
            raise AirflowSkipException(f"models={opts['models']}: the layout detector is not trained in this run")
        context, settings = get_current_context(), _settings()
        training = settings.training
        objects = build_stores().objects
        prefix = training.layout_dataset.strip("/")
        if not objects.exists(join(prefix, "manifest.json")):
            print(f"{prefix} does not exist yet: generating {training.layout_train_pages}+{training.layout_val_pages}"
                  " pages")  # fmt: skip
            write_yolo_dataset(objects, dataset_version(prefix), train=training.layout_train_pages,
                               val=training.layout_val_pages, imgsz_hint=training.layout_imgsz)  # fmt: skip
        run = safe_run_id(context["run_id"])
        result_key = f"reports/retraining/{run}.layout.json"
        if objects.exists(result_key):  # an earlier try of this run trained and registered; it failed after that
            print(f"{result_key} exists: the detector of this run is already trained and registered")
            return {k: v for k, v in json.loads(objects.read_bytes(result_key)).items() if k != "history"}
        # One work folder per DAG run: a retry continues the epochs an earlier try finished instead of starting over.
        workdir = settings.var_path / "work" / "layout" / run
        command = [sys.executable, "-m", "training.layout", "--dataset", prefix,
                   "--epochs", str(opts["epochs"] or training.layout_epochs), "--imgsz", str(training.layout_imgsz),
                   "--batch", str(training.layout_batch), "--result-key", result_key,
                   "--workdir", str(workdir)]  # fmt: skip
        if resumable(workdir):
            command.append("--resume")
        print("running: " + " ".join(command))
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        print(done.stdout[-4000:], done.stderr[-4000:])
        if done.returncode != 0:
            raise RuntimeError(
                f"layout training exited with {done.returncode}: {done.stderr.strip().splitlines()[-1:]}"
            )
        shutil.rmtree(workdir, ignore_errors=True)  # best.pt is in the object store and the registry
        result = json.loads(objects.read_bytes(result_key))
        result.pop("history", None)
        print(f"layout-detector version {result['registered_version']}: {result['metrics']}")
        return result

    @task(outlets=[LAYOUT_CHAMPION_ASSET])
    def promote_layout(result: dict) -> dict:
        from training.layout import MODEL_NAME as LAYOUT
        from training.layout import promote

        settings = _settings()
        promoted, reason = promote(result, settings.mlflow_tracking_uri, settings.training.layout_margin)
        if not promoted:  # skipped, so the Asset is not updated
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(f"{LAYOUT} version {result['registered_version']} kept back: {reason}")
        print(f"{LAYOUT} version {result['registered_version']} is the champion: {reason}")
        return {"version": result["registered_version"], "promoted": promoted, "reason": reason}

    promote_layout(train_layout(opts := options()))

    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from operators.ec2_training import ec2_training

    snap = snapshot(opts, import_verified(opts))
    checked = validate(opts, snap)
    route = route_compute(opts, checked)
    local = train_local(opts, snap)
    command = (
        "cd {{ ti.xcom_pull(task_ids='options')['workdir'] }} && .venv/bin/python -m training.nightly train "
        "--snapshot {{ ti.xcom_pull(task_ids='snapshot')['prefix'] }} "
        "--curriculum '{{ ti.xcom_pull(task_ids='options')['curriculum'] }}'"
    )
    remote = ec2_training(
        instance_id="{{ ti.xcom_pull(task_ids='options')['instance_id'] }}",
        instance_type="{{ ti.xcom_pull(task_ids='options')['instance_type'] }}",
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
