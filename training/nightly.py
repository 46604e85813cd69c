"""The steps of nightly retraining, as plain functions: the nightly_retraining DAG's task bodies call these.

``stores`` is ``mathlabel.clients.Stores`` (objects, graph, labels, registry) and ``settings`` the settings, both
passed in by the caller. A step with nothing to do raises ``NothingToDo`` (the task is skipped), one whose data fails
validation ``InvalidTrainingData`` (the task fails without retries).

``train_from_snapshot`` is the text labeler's training job: ``mathlabel training text --snapshot <prefix> --curriculum
<id>``, which the DAG runs as a local subprocess (compute ``local``) or on the GPU instance through SSM Run Command
(compute ``ec2``), with the same ``MATHLABEL_*`` settings. It logs the model, its parameters and metrics to a tracking
run, keeps the model file under ``models/text-labeler/<snapshot>/`` in the object store, and writes a small result file
there that the DAG reads.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from posixpath import join
from typing import Any

from labeling import events
from labeling.evaluate import evaluate
from labeling.index import CurriculumIndex
from labeling.schemas import Problem, safe_run_id
from stores.objects import ObjectStore
from stores.registry import ModelRegistry
from training.errors import InvalidTrainingData, NothingToDo
from training.snapshot import problems, read_jsonl

log = logging.getLogger(__name__)

MODELS = "models/text-labeler"
REPORTS = "reports/retraining"


def run_options(params: dict[str, Any], settings: Any) -> dict[str, Any]:
    """The run's effective options: its Params over the configured defaults (one place, shown in the log).

    Raises:
        ValueError: ``compute=ec2`` without the GPU instance to start.
    """
    training = settings.training
    chosen = {
        "curriculum": params["curriculum"] or training.curriculum,
        "models": list(params["models"]),
        "promotion": params["promotion"] or training.promotion,
        "margin": training.promotion_margin if params["margin"] is None else params["margin"],
        "compute": params["compute"] or training.compute,
        "instance_id": training.ec2_instance_id,
        "instance_type": params["instance_type"] or training.ec2_instance_type,
        "workdir": training.ec2_workdir,
        "aws_conn_id": training.aws_conn_id,
        "epochs": params["epochs"],
        "new_holdout": params["new_holdout"],
        "settle_seconds": params["settle_seconds"],
    }
    if "layout" in chosen["models"] and chosen["compute"] == "ec2":
        log.info("layout detector: trains on this worker; compute=ec2 moves the text labeler's training only")
    if chosen["compute"] == "ec2" and not chosen["instance_id"]:
        raise ValueError("compute=ec2 needs MATHLABEL_TRAINING__EC2_INSTANCE_ID (the GPU instance to start)")
    log.info("options: %s", chosen)
    return chosen


def write_report(objects: ObjectStore, run_id: str, name: str, body: dict[str, Any]) -> str:
    """``reports/retraining/<run>.<name>.json``; returns its key."""
    key = f"{REPORTS}/{safe_run_id(run_id)}.{name}.json"
    objects.write_bytes(key, json.dumps(body, ensure_ascii=False, indent=2, default=str).encode())
    return key


def import_verified_files(stores: Any, settings: Any, opts: dict[str, Any], run_id: str) -> list[dict[str, Any]]:
    """Import the verified-label files dropped under ``incoming/verified/``."""
    from training.verified import import_dropped

    settle = settings.labeling.settle_seconds if opts["settle_seconds"] is None else opts["settle_seconds"]
    results = import_dropped(
        stores.objects,
        stores.labels,
        CurriculumIndex(stores.graph, opts["curriculum"]),
        run_id=run_id,
        run_date=datetime.now(UTC).strftime("%Y-%m-%d"),
        settle_seconds=settle,
        max_text_chars=settings.labeling.max_text_chars,
    )
    log.info("imported %d verified-label file(s): %s", len(results), results)
    return results


def take_snapshot(stores: Any, settings: Any, opts: dict[str, Any], date: str) -> dict[str, Any]:
    """Snapshot the current verified labels (read through the label store's read-only client) for training."""
    from training.snapshot import build_snapshot

    curriculum = CurriculumIndex(stores.graph, opts["curriculum"]).curriculum
    snap = build_snapshot(stores.objects, stores.labels.reader(), curriculum, date=date,
                          holdout_share=settings.training.holdout_share, new_holdout=opts["new_holdout"])  # fmt: skip
    held = snap.manifest["holdout"]
    state = "frozen" if held["frozen"] else "candidate, frozen once the snapshot validates"
    log.info("snapshot %s: %d training problems, hold-out v%s (%d problems, %s)", snap.prefix,
             snap.manifest["train"]["problems"], held["version"], held["problems"], state)  # fmt: skip
    return snap.to_dict()


def check_snapshot(stores: Any, settings: Any, opts: dict[str, Any], snap: dict[str, Any], run_id: str) -> dict:
    """Validate the snapshot and, when it passes, freeze its candidate hold-out; the report is written either way.

    Raises:
        NothingToDo: the text labeler is not trained in this run, or there are no verified labels yet.
        InvalidTrainingData: the snapshot failed validation (the message says why and where the report is).
    """
    from training.snapshot import Snapshot
    from training.snapshot_validation import validate_and_freeze, verified_needed

    training = settings.training
    if "text" not in opts["models"]:
        raise NothingToDo(f"models={opts['models']}: the text labeler is not trained in this run")
    if snap["manifest"]["train"]["problems"] == 0 and snap["manifest"]["holdout"]["problems"] == 0:
        needed = verified_needed(training.min_holdout, training.holdout_share)
        raise NothingToDo(f"no verified labels for {opts['curriculum']} yet: nothing to train tonight "
                          f"(a first model needs about {needed} verified problems)")  # fmt: skip
    report = validate_and_freeze(
        stores.objects,
        Snapshot.from_dict(snap),
        CurriculumIndex(stores.graph, opts["curriculum"]).codes,
        min_examples_per_label=training.min_examples_per_label,
        min_holdout=training.min_holdout,
    )
    key = write_report(stores.objects, run_id, "validation", {"snapshot": snap["prefix"], **report.to_dict()})
    log.info(report.summary())
    if not report.ok:
        raise InvalidTrainingData(f"{report.summary()}\nreport: {stores.objects.uri(key)}")
    return {"report": key, "train": report.train, "holdout": report.holdout, "holdout_key": report.holdout_key}


def result_key(snapshot_prefix: str) -> str:
    return join(MODELS, snapshot_prefix.rstrip("/").rsplit("/", 1)[-1], "result.json")


def train_from_snapshot(
    objects: ObjectStore, index: CurriculumIndex, snapshot_prefix: str, registry: ModelRegistry
) -> dict[str, Any]:
    """Train the text labeler on a snapshot, log it to a tracking run (not yet registered), write the result file."""
    import tempfile
    from pathlib import Path

    import joblib

    from training.registry import log_text_labeler
    from training.text_labeler import train_text_labeler

    manifest = json.loads(objects.read_bytes(join(snapshot_prefix, "manifest.json")))
    rows = read_jsonl(objects, join(snapshot_prefix, "train.jsonl"))
    started = time.perf_counter()
    model = train_text_labeler(problems(rows), index.standards, retriever=index.retriever)
    seconds = round(time.perf_counter() - started, 2)
    ref = log_text_labeler(
        model,
        registry,
        curricula=index.curricula,
        metrics={"snapshot_problems": len(rows)},
        register=False,
        tags={"snapshot": snapshot_prefix, "snapshot_sha256": manifest["train"]["sha256"]},
    )
    folder = join(MODELS, snapshot_prefix.rstrip("/").rsplit("/", 1)[-1])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "text_labeler.joblib"
        joblib.dump(model, path)
        objects.write_bytes(join(folder, "text_labeler.joblib"), path.read_bytes())
    result = {
        "run_id": ref.tags["run_id"],
        "model_uri": f"runs:/{ref.tags['run_id']}/model",
        "object_key": join(folder, "text_labeler.joblib"),
        "snapshot": snapshot_prefix,
        "examples": model.meta["examples"],
        "train_seconds": seconds,
    }
    objects.write_bytes(result_key(snapshot_prefix), json.dumps(result, indent=2).encode())
    log.info("trained the text labeler on %d problems in %.1fs (run %s)", len(rows), seconds, result["run_id"])
    return result


def read_result(objects: ObjectStore, snapshot_prefix: str) -> dict[str, Any]:
    """The training result, whichever compute produced it (read from the object store, not from the machine)."""
    result = json.loads(objects.read_bytes(result_key(snapshot_prefix)))
    log.info("trained: %s", result)
    return result


def holdout_metrics(labeler: Any, index: CurriculumIndex, rows: list[dict[str, Any]], auto_accept_score: float) -> dict:
    """Overall metrics on the hold-out, and top-1/top-3 per curriculum of the gold labels (one ranking for both)."""

    def curricula(problem: Problem) -> set[str]:
        return {index.by_code[c]["curriculum"] for c in problem.labels if c in index.by_code}

    scores = evaluate(labeler, problems(rows), auto_accept_score=auto_accept_score, standards=index.by_code,
                      groups=curricula)  # fmt: skip
    scores.pop("problems_per_second", None)
    return {**scores, "per_curriculum": scores.pop("per_group")}


def evaluate_challenger(stores: Any, settings: Any, opts: dict, snap: dict, result: dict) -> dict[str, Any]:
    """Score the challenger and the current champion of its curricula on the same frozen hold-out; the challenger's
    scores go to its tracking run."""
    from stores.registry import UntrustedModelError
    from training.registry import champion
    from training.text_labeler import TrainedLabeler

    index = CurriculumIndex(stores.graph, opts["curriculum"])
    holdout_key = snap["manifest"]["holdout"]["key"]  # frozen by validate, which passed
    holdout = read_jsonl(stores.objects, holdout_key)
    auto = settings.labeling.auto_accept_score
    model = stores.registry.load(result["model_uri"])
    ours = holdout_metrics(TrainedLabeler(model, index.retriever), index, holdout, auto)
    try:
        found = champion(stores.registry, index.curricula)
    except UntrustedModelError as exc:  # never loaded; a signed challenger promoted now replaces it
        log.error("the champion is not trusted, so the challenger is compared with none: %s", exc)
        found = None
    theirs = holdout_metrics(TrainedLabeler(found[0], index.retriever), index, holdout, auto) if found else None
    logged = {"holdout_top1": ours["top1"], "holdout_top3": ours["top3"], "holdout_mrr": ours["mrr"]}
    if theirs:
        logged["champion_holdout_top1"] = theirs["top1"]
    stores.registry.log_metrics(result["run_id"], logged)
    stores.registry.set_tags(result["run_id"], {"holdout": holdout_key})
    log.info("hold-out: challenger top-1 %s, champion %s", ours["top1"], theirs["top1"] if theirs else "none")
    return {"challenger": ours, "champion": theirs, "champion_version": found[1].version if found else None}


def register_challenger(stores: Any, opts: dict, result: dict, scores: dict, run_id: str) -> dict[str, Any]:
    """Register the challenger (alias ``challenger``) and decide whether it may become champion; the decision and
    the comparison an approver sees go to ``reports/retraining/<run>.promotion.json``."""
    from training.promotion import comparison_markdown, decide_text_labeler
    from training.registry import MODEL_NAME, register_run

    ref = register_run(result["run_id"], stores.registry)
    stores.registry.set_alias(MODEL_NAME, "challenger", ref.version)
    decision = decide_text_labeler(scores["challenger"], scores["champion"], margin=opts["margin"])
    summary = {"version": ref.version, "decision": decision.to_dict(), "training": result, **scores,
               "comparison": comparison_markdown(scores["challenger"], scores["champion"], decision)}  # fmt: skip
    summary["report"] = write_report(stores.objects, run_id, "promotion", summary)
    log.info(summary["comparison"])
    events.emit(events.ModelTrained(ref.label, opts["curriculum"], _top1(scores["challenger"])))
    return summary


def _top1(scores: dict[str, Any] | None) -> float | None:
    """The hold-out top-1 of ``holdout_metrics``' scores, if any."""
    top1 = (scores or {}).get("top1")
    return None if top1 is None else float(top1)


def promote_text_labeler(registry: ModelRegistry, registered: dict[str, Any]) -> dict[str, Any]:
    """Make the registered challenger the champion of its curricula (after the policy, and an approval where one is
    asked for); other curricula keep theirs."""
    from training.registry import MODEL_NAME, promote

    alias = promote(registry, registered["version"])
    log.info("%s version %s is the champion (%s@%s)", MODEL_NAME, registered["version"], MODEL_NAME, alias)
    curricula = alias.removeprefix("champion-").replace("--", ",")  # training.promotion.champion_alias, read back
    label = f"{MODEL_NAME}-v{registered['version']}"  # stores.registry.ModelRef.label: the documents' model version
    events.emit(events.ModelPromoted(label, curricula, _top1(registered.get("challenger"))))
    return {"champion": registered["version"], "alias": alias}


def train_layout(
    objects: ObjectStore, settings: Any, opts: dict[str, Any], run_id: str, train: Callable[[Any, str], None]
) -> dict[str, Any]:
    """Train the layout detector on ``training.layout_dataset`` (generated first when missing) with ``train(config,
    result_key)``, which runs ``train_layout_detector`` and writes its result to ``result_key``; returns the result.

    One work folder per run: a retry continues the epochs an earlier try finished instead of starting over, and a
    try after an earlier one registered returns that one's result.

    Raises:
        NothingToDo: the layout detector is not trained in this run.
    """
    from training.layout import LayoutTraining, dataset_version, resumable
    from training.pages import write_yolo_dataset

    if "layout" not in opts["models"]:
        raise NothingToDo(f"models={opts['models']}: the layout detector is not trained in this run")
    training = settings.training
    prefix = training.layout_dataset.strip("/")
    if not objects.exists(join(prefix, "manifest.json")):
        log.info("%s does not exist yet: generating %d+%d pages", prefix, training.layout_train_pages,
                 training.layout_val_pages)  # fmt: skip
        write_yolo_dataset(objects, dataset_version(prefix), train=training.layout_train_pages,
                           val=training.layout_val_pages, imgsz_hint=training.layout_imgsz)  # fmt: skip
    run = safe_run_id(run_id)
    key = f"{REPORTS}/{run}.layout.json"
    if not objects.exists(key):
        workdir = settings.var_path / "work" / "layout" / run
        epochs = opts["epochs"] or training.layout_epochs
        config = LayoutTraining(dataset=prefix, epochs=epochs, imgsz=training.layout_imgsz, batch=training.layout_batch,
                                workdir=workdir, resume=resumable(workdir))  # fmt: skip
        train(config, key)
        shutil.rmtree(workdir, ignore_errors=True)  # best.pt is in the object store and the registry
    else:  # an earlier try of this run trained and registered; it failed after that
        log.info("%s exists: the detector of this run is already trained and registered", key)
    result = {k: v for k, v in json.loads(objects.read_bytes(key)).items() if k != "history"}
    log.info("layout-detector version %s: %s", result["registered_version"], result["metrics"])
    return result


def promote_layout(registry: ModelRegistry, settings: Any, result: dict[str, Any]) -> dict[str, Any]:
    """Make the trained detector the champion when it is the first, or beats the champion on the same dataset.

    Raises:
        NothingToDo: it is kept back (the champion stays, and labeling runs are not told of a new one).
    """
    from training.layout import MODEL_NAME
    from training.promotion import promote_if_better

    decision = promote_if_better(registry, MODEL_NAME, result, settings.training.layout_margin)
    if not decision.promote:
        raise NothingToDo(f"{MODEL_NAME} version {result['registered_version']} kept back: {decision.reason}")
    log.info("%s version %s is the champion: %s", MODEL_NAME, result["registered_version"], decision.reason)
    return {"version": result["registered_version"], "promoted": True, "reason": decision.reason}
