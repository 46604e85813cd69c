"""Train the layout detector (Ultralytics YOLO) on a layout dataset of the object store, offline, and register it.

``train_layout_detector(objects, "input-data/layout/v1", epochs=...)`` copies the dataset (written by
``training.pages.write_yolo_dataset``) into a work folder, trains a YOLO detector from its model YAML (no pretrained
weights), uploads ``best.pt`` to ``models/layout-detector/<dataset version>/<run>/best.pt`` every epoch it improves,
and, given an MLflow tracking URI, logs per-epoch metrics to the ``layout-detector`` experiment and registers the
best checkpoint as a new version of the ``layout-detector`` model: a pyfunc (``LayoutDetectorPyfunc``) whose one
artifact is ``best.pt`` (``artifacts/best.pt`` among the version's files; MLflow 3 keeps it as a logged model of the
run, ``models:/m-<id>``).

From the command line, ``--promote`` then makes that version the ``champion`` if it passes the nightly DAG's gate
(``promote``), and ``--resume --workdir <folder>`` continues a run that was interrupted (a reclaimed spot
instance, a restarted worker) from its last epoch instead of starting over.

Offline: nothing is downloaded, ever. ``configure_ultralytics`` sets ``YOLO_OFFLINE=1`` (Ultralytics' ``ONLINE`` is
False: no pip update check, no analytics, no auto-install), ``YOLO_AUTOINSTALL=false`` and ``YOLO_CONFIG_DIR`` (its
``settings.json`` lives in a folder of ours, ``<var>/ultralytics`` from the CLI), turns off its analytics ``sync``
and its MLflow/Comet/ClearML/DVC/Ray Tune/TensorBoard/W&B integrations in those settings, drops
``ULTRALYTICS_API_KEY`` (which would stream the run to Ultralytics Platform), and copies local fonts to the
``Arial.ttf`` / ``Arial.Unicode.ttf`` that Ultralytics otherwise fetches from GitHub at every dataset check. Training
runs with ``plots=False`` and ``amp=False``, or ``amp="bf16"`` on a GPU, which skips Ultralytics' AMP check (that
check downloads a model). MLflow's client telemetry is turned
off with ``MLFLOW_DISABLE_TELEMETRY=true``. These variables are set process-wide, on purpose: a training process is
an offline process.

GPU recipe (a recommendation, NOT yet measured: no GPU was lent to the sessions that wrote this):
    Data: ``python -m training.pages --version v2 --train 2000 --val 300 --imgsz 1024`` (about 7 minutes on one CPU
    core at the 0.17 s a page measured; pages are A4 at 150 dpi, 1240x1754 pixels).
    Training: ``python -m training.layout --dataset input-data/layout/v2 --epochs 100 --imgsz 1024 --batch 16
    --device 0 --precision bf16``. ``imgsz`` 1024 (or 1280) because text lines are thin: at 640 a 1754-pixel-high
    page shrinks 2.7 times and a line of text becomes a few pixels high, below the 8-pixel stride of YOLO's finest
    head.
    Batch 16-32 as memory allows (an estimate: at 1280 on a 24 GB A10G, the g5.xlarge's GPU, batch 8-16).
    ``yolov8n.yaml`` first (six classes of large, regular regions); ``yolov8s.yaml`` if the AP of ``text`` and
    ``formula`` stays low. ``bf16`` mixed precision needs an Ampere or newer GPU (A10G, A100, H100); Ultralytics' fp16
    AMP is not offered because its check downloads a model. Expect the best epoch late: from scratch, a detector
    learns slowly (see below).

Measured on 2 CPU cores (shared with other work: timings vary), 40 train / 10 val pages, imgsz 640, batch 8:
    - smoke run, 3 epochs: 38-40 s in ``train_layout_detector``, 44-46 s for the whole command (start-up, MLflow
      logging and registration included). mAP50 stays 0: Ultralytics warms the learning rate up over at least 100
      batches (20 epochs here), so the smoke run proves the pipeline, not the model.
    - 30 epochs: 284 s; mAP50 0.37, mAP50-95 0.16, still rising (AP50: problem 0.56, text 0.47, figure 0.45, table
      0.45, choices 0.26, formula 0.00, most formulas being small inline ones). The same seed gave the same metrics
      twice. With Ultralytics' default ``nbs=64`` the same run reached mAP50 0.015, hence ``nbs`` = ``batch`` here.
    - 300 train / 60 val pages (``--version cpu1 --train 300 --val 60 --seed 7``), imgsz 640, batch 8, 40 epochs:
      1-5 minutes an epoch beside other work (interrupted after epoch 22 and finished with ``--resume``); mAP50 on
      its validation pages 0.54 at epoch 6, 0.82 at 16, 0.894 at 21, unstable until mosaic augmentation stops at
      epoch 31, then 0.93-0.94; best 0.939 at epoch 40. On 200 held-out pages (benchmarks/layout.py): mAP50 0.926,
      problem AP50 0.987, formula AP50 0.68 (small inline formulas at 640 px). Registered as layout-detector v1.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from stores.objects import ObjectStore, join
from training.text_labeler import TrainingError

MODEL_NAME = "layout-detector"
EXPERIMENT = "layout-detector"
MODELS = "models/layout-detector"
# Dataset folders the trainer needs; lines/ and problems/ are for OCR and stay in the store.
DATASET_FOLDERS = ("images", "labels")
# A mirrored worksheet (numbers and choices on the right, text right-aligned) is never seen at inference time.
AUGMENT = {"fliplr": 0.0}
_INTEGRATIONS = ("clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb")

try:
    import mlflow.pyfunc

    class LayoutDetectorPyfunc(mlflow.pyfunc.PythonModel):
        """MLflow wrapper: ``best.pt`` is the artifact; ``predict`` takes image paths and returns, per image, its
        regions ``[{cls, class_id, conf, box: [x0, y0, x1, y1]}]``."""

        def load_context(self, context) -> None:
            from ultralytics import YOLO

            self.model = YOLO(context.artifacts["weights"])

        def predict(self, context, model_input: list[str], params=None):
            return [regions(result) for result in self.model.predict(list(model_input), verbose=False)]

except ImportError:  # pragma: no cover - mlflow is a pinned dependency
    LayoutDetectorPyfunc = None  # type: ignore[assignment,misc]


def regions(result: Any) -> list[dict[str, Any]]:
    """The boxes of one Ultralytics result as plain dicts, pixel coordinates of the original image."""
    boxes = result.boxes
    return [
        {"cls": result.names[int(c)], "class_id": int(c), "conf": round(float(p), 4), "box": [round(v, 1) for v in b]}
        for c, p, b in zip(boxes.cls.tolist(), boxes.conf.tolist(), boxes.xyxy.tolist(), strict=True)
    ]


# ------------------------------------------------------------------------------------------------------- offline


def _local_font(unicode: bool) -> Path:
    """A TTF to stand in for Arial: Nanum Gothic (has Hangul) for the Unicode one when installed, else DejaVu Sans,
    which matplotlib always ships."""
    if unicode:
        from training.pages import font_file

        with contextlib.suppress(RuntimeError):
            return Path(font_file("gothic"))
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def configure_ultralytics(config_dir: Path) -> Path:
    """Make Ultralytics run offline with its settings under ``config_dir``; returns its settings folder.

    Call before Ultralytics is first imported: it reads ``YOLO_CONFIG_DIR`` and ``YOLO_OFFLINE`` at import. When it
    was imported earlier, the folder it chose then is kept (the fonts are placed there) and its online flags are
    turned off in place. Idempotent.
    """
    import sys

    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.pop("ULTRALYTICS_API_KEY", None)
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    imported = "ultralytics.utils" in sys.modules
    if not imported:
        config_dir.mkdir(parents=True, exist_ok=True)
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir.resolve())

    import ultralytics.utils as yolo_utils

    if imported:
        for name in ("ultralytics.utils", "ultralytics.utils.checks", "ultralytics.utils.events"):
            module = sys.modules.get(name)
            if module is not None and getattr(module, "ONLINE", False):
                module.ONLINE = False
    home = Path(yolo_utils.USER_CONFIG_DIR)
    for name, unicode in (("Arial.ttf", False), ("Arial.Unicode.ttf", True)):
        if not (home / name).is_file():
            shutil.copyfile(_local_font(unicode), home / name)
    wanted: dict[str, Any] = {"sync": False, "api_key": "", **dict.fromkeys(_INTEGRATIONS, False)}
    wanted |= {key: str(home / key.removesuffix("_dir")) for key in ("datasets_dir", "weights_dir", "runs_dir")}
    if any(yolo_utils.SETTINGS.get(key) != value for key, value in wanted.items()):
        yolo_utils.SETTINGS.update(wanted)
    return home


def _disable_mlflow_telemetry() -> None:
    """MLflow decides at import whether to send usage telemetry; re-decide now that the variable is set."""
    with contextlib.suppress(ImportError, AttributeError):
        from mlflow.telemetry import set_telemetry_client

        set_telemetry_client()


# ------------------------------------------------------------------------------------------------------- dataset


def dataset_version(prefix: str) -> str:
    """``input-data/layout/v1/`` -> ``v1``."""
    return PurePosixPath(prefix.strip("/")).name


def fetch_dataset(
    objects: ObjectStore, prefix: str, folder: Path, splits: tuple[str, ...] = ("train", "val")
) -> tuple[Path, dict[str, Any]]:
    """Copy a complete layout dataset to ``folder``; returns its ``data.yaml`` (``path`` set to ``folder``) and
    its manifest. ``splits``: those that must hold images (an evaluation set has ``val`` alone).

    Raises:
        TrainingError: the prefix holds no complete dataset (no ``manifest.json``) or one of ``splits`` no images.
    """
    import yaml

    prefix = prefix.strip("/")
    manifest_key = join(prefix, "manifest.json")
    if not objects.exists(manifest_key):
        raise TrainingError(
            f"no complete layout dataset at {prefix}/ (no manifest.json): write one with "
            f"`python -m training.pages --version {dataset_version(prefix)}`"
        )
    manifest = json.loads(objects.read_bytes(manifest_key))
    for kind in DATASET_FOLDERS:
        for key in objects.list(join(prefix, kind)):
            target = folder / key[len(prefix) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(objects.read_bytes(key))
    if not all(any((folder / "images" / split).glob("*")) for split in splits):
        raise TrainingError(f"layout dataset {prefix}/ has no {' or no '.join(splits)} images")
    data = yaml.safe_load(objects.read_bytes(join(prefix, "data.yaml")))
    data["path"] = str(folder.resolve())
    data_file = folder / "data.yaml"
    data_file.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return data_file, manifest


# ------------------------------------------------------------------------------------------------------ training


def _epoch_metrics(trainer: Any) -> dict[str, float]:
    """Validation metrics, losses and learning rates of the epoch just finished, with MLflow-safe names."""
    raw = {**trainer.label_loss_items(trainer.tloss, prefix="train"), **(trainer.metrics or {}), **trainer.lr}
    return {k.removeprefix("metrics/").replace("(B)", ""): float(v) for k, v in raw.items()}


class _Progress:
    """Ultralytics callbacks: upload ``best.pt`` whenever it improves; log each epoch's metrics to MLflow."""

    def __init__(self, objects: ObjectStore, key: str, log: bool) -> None:
        self.objects, self.key, self.log = objects, key, log
        self.best_epoch: int | None = None
        self.history: list[dict[str, float]] = []
        self.done = False  # the last regular epoch has ended: the next on_fit_epoch_end is the final evaluation

    def on_model_save(self, trainer: Any) -> None:
        if trainer.fitness is not None and trainer.fitness == trainer.best_fitness and trainer.best.is_file():
            self.objects.write_bytes(self.key, trainer.best.read_bytes())
            self.best_epoch = trainer.epoch + 1

    def on_fit_epoch_end(self, trainer: Any) -> None:
        if self.done:
            return  # final evaluation of best.pt: its metrics are read after training
        metrics = _epoch_metrics(trainer)
        self.history.append({"epoch": trainer.epoch + 1, **metrics})
        if self.log:
            import mlflow

            mlflow.log_metrics(metrics, step=trainer.epoch + 1)
        self.done = bool(trainer.stop)


def _best_metrics(validator_metrics: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Mean metrics and per-class AP50 of the final evaluation (of ``best.pt``)."""
    mean = {k.removeprefix("metrics/").replace("(B)", ""): float(v) for k, v in validator_metrics.results_dict.items()}
    names = validator_metrics.names
    per_class = {
        names[int(c)]: round(float(ap), 4)
        for c, ap in zip(validator_metrics.ap_class_index, validator_metrics.box.ap50, strict=True)
    }
    return {k: round(v, 4) for k, v in mean.items()}, per_class


def _use_all_cores(trainer: Any) -> None:
    """Ultralytics trains on cpu_count - 1 threads (1 on a 2-core runner): use every core this process may run on."""
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _interrupted_run(runs: Path) -> Path:
    """``last.pt`` of the newest run under ``runs`` (a work folder's ``runs/``), if that run did not finish.

    A finished run's ``last.pt`` has no optimizer state and epoch -1; Ultralytics would start a new training of its
    default 100 epochs from it, so it is refused here.
    """
    import torch

    found = sorted(runs.glob("*/weights/last.pt"), key=lambda path: path.stat().st_mtime)
    if not found:
        raise TrainingError(f"nothing to resume: no run with a weights/last.pt under {runs}")
    checkpoint = torch.load(found[-1], map_location="cpu", weights_only=False)
    if checkpoint.get("epoch", -1) < 0 or checkpoint.get("optimizer") is None:
        raise TrainingError(f"run {found[-1].parent.parent.name} finished: nothing to resume in {found[-1]}")
    return found[-1]


def resumable(workdir: Path) -> bool:
    """Whether ``workdir`` holds a run that stopped before its last epoch (``train_layout_detector(resume=True)``
    would continue it)."""
    try:
        _interrupted_run(workdir / "runs")
    except TrainingError:
        return False
    return True


def _resolve_device(device: str | None) -> str:
    import torch

    if device is None:
        return "0" if torch.cuda.is_available() else "cpu"
    return str(device)


@contextlib.contextmanager
def _work_folder(workdir: Path | None) -> Iterator[Path]:
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        yield workdir
        return
    with tempfile.TemporaryDirectory(prefix="layout-") as folder:
        yield Path(folder)


def train_layout_detector(
    objects: ObjectStore,
    dataset_prefix: str,
    *,
    epochs: int,
    imgsz: int = 640,
    batch: int = 8,
    nbs: int | None = None,
    model_yaml: str = "yolov8n.yaml",
    device: str | None = None,
    workdir: Path | None = None,
    tracking_uri: str | None = None,
    seed: int = 0,
    precision: str = "fp32",
    ultralytics_dir: Path | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Train a YOLO layout detector from scratch on a dataset of the object store; keep and register the best.

    Args:
        objects: the object store holding the dataset; checkpoints are written to it.
        dataset_prefix: the dataset folder, e.g. ``input-data/layout/v1``.
        epochs, imgsz, batch, seed: Ultralytics training arguments.
        nbs: nominal batch size: gradients of ``nbs / batch`` batches are accumulated before each optimizer step.
            None: ``batch``, a step per batch. Ultralytics' own default, 64, gives a small dataset very few steps
            (40 pages at batch 8: one step every 1.6 epochs, mAP50 0.015 after 30 epochs against 0.37 with a step
            per batch).
        model_yaml: an Ultralytics model configuration (``yolov8n.yaml``, ``yolov8s.yaml``...); no weights are loaded.
        device: ``cpu``, ``0`` (first GPU)...; None: the first GPU if there is one, else the CPU.
        workdir: where the dataset copy and the Ultralytics run go; None: a temporary folder, removed afterwards.
        tracking_uri: MLflow tracking URI; None: no MLflow run and no registration.
        precision: ``fp32``, or ``bf16`` (mixed precision on a GPU that supports it; ignored on the CPU). Ultralytics'
            fp16 AMP is not offered: its check downloads a model.
        ultralytics_dir: Ultralytics' settings folder (``YOLO_CONFIG_DIR``); None: the one already in the
            environment, else ``<temp>/mathlabel-ultralytics``.
        resume: continue the interrupted run of ``workdir`` (the newest ``runs/*/weights/last.pt``) to its epochs,
            with its optimizer state, learning-rate schedule and best fitness. ``epochs``, ``imgsz``, the model and
            ``seed`` are the interrupted run's; ``batch`` and ``device`` may change. Its ``best.pt`` key is the run's.
            The MLflow run is a new one, tagged ``resumed``, with the resumed epochs' metrics.

    Returns:
        ``checkpoint`` (object key of ``best.pt``), ``checkpoint_uri``, ``run``, ``dataset``, ``dataset_version``,
        ``best_epoch``, ``metrics`` (``mAP50``, ``mAP50-95``, ``precision``, ``recall``, ``fitness`` of ``best.pt``),
        ``per_class_ap50``, ``history`` (per-epoch metrics), ``epochs``, ``imgsz``, ``seconds`` (wall time, copying
        and registering included), ``device``, ``mlflow_run_id`` and ``registered_version`` (None without tracking).

    Raises:
        TrainingError: no complete dataset at the prefix, training produced no checkpoint, or (``resume``) the
            work folder has no interrupted run.
        ValueError: ``precision`` is neither ``fp32`` nor ``bf16``, or ``resume`` without ``workdir``.
    """
    if precision not in {"fp32", "bf16"}:
        raise ValueError(f"precision must be fp32 or bf16, not {precision!r} (fp16 AMP's check downloads a model)")
    if resume and workdir is None:
        raise ValueError("resume needs the work folder of the interrupted run (workdir)")
    started = time.monotonic()
    default_home = Path(os.environ.get("YOLO_CONFIG_DIR") or Path(tempfile.gettempdir()) / "mathlabel-ultralytics")
    configure_ultralytics(ultralytics_dir or default_home)
    from ultralytics import YOLO

    prefix = dataset_prefix.strip("/")
    version = dataset_version(prefix)
    last = _interrupted_run(workdir / "runs") if resume and workdir is not None else None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
    run = last.parent.parent.name if last else stamp
    key = join(MODELS, version, run, "best.pt")
    device = _resolve_device(device)
    log = tracking_uri is not None
    with _work_folder(workdir) as folder:
        data_file, manifest = fetch_dataset(objects, prefix, folder / "dataset" / version)
        progress = _Progress(objects, key, log)
        model = YOLO(str(last) if last else model_yaml, task="detect")
        model.add_callback("on_model_save", progress.on_model_save)
        model.add_callback("on_fit_epoch_end", progress.on_fit_epoch_end)
        if device == "cpu":
            model.add_callback("on_pretrain_routine_start", _use_all_cores)
        args = {
            "data": str(data_file), "epochs": epochs, "imgsz": imgsz, "batch": batch, "nbs": nbs or batch,
            "device": device,
            "seed": seed, "deterministic": True, "plots": False,
            "amp": "bf16" if precision == "bf16" and device != "cpu" else False, "pretrained": False,
            "project": str(folder / "runs"), "name": run, "exist_ok": True, "verbose": False, **AUGMENT,
        }  # fmt: skip
        if device == "cpu":
            args["workers"] = 0  # worker processes only add start-up time and memory on a CPU
        if last:
            # Ultralytics takes the run's own arguments from last.pt; of ours it keeps data, device, batch, workers
            args = {k: v for k, v in args.items() if k in {"data", "device", "batch", "workers", "plots"}}
            args["resume"] = True
        with _mlflow_run(tracking_uri, run) as mlflow_run:
            if log:
                _log_start(args, prefix, version, run, model_yaml, manifest)
                if last:
                    import mlflow

                    mlflow.set_tag("resumed", str(last))
            validated = model.train(**args)
            trainer = model.trainer
            if not trainer.best.is_file():
                raise TrainingError(f"training of run {run} wrote no best.pt")
            # best.pt now has its optimizer state stripped: upload that final, smaller file
            objects.write_bytes(key, trainer.best.read_bytes())
            metrics, per_class = _best_metrics(validated)
            result = {
                "checkpoint": key,
                "checkpoint_uri": objects.uri(key),
                "run": run,
                "dataset": prefix,
                "dataset_version": version,
                "best_epoch": progress.best_epoch,
                "metrics": metrics,
                "per_class_ap50": per_class,
                "history": progress.history,
                "epochs": progress.history[-1]["epoch"] if progress.history else 0,
                "imgsz": int(trainer.args.imgsz),
                "device": str(trainer.device),
                "mlflow_run_id": mlflow_run.info.run_id if mlflow_run else None,
                "registered_version": None,
            }
            objects.write_bytes(join(MODELS, version, run, "metrics.json"), _metrics_json(result))
            if log:
                _log_end(trainer, metrics, per_class, progress.best_epoch)
        if log:
            result["registered_version"] = register_run(result, tracking_uri)
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def _metrics_json(result: dict[str, Any]) -> bytes:
    return json.dumps({k: v for k, v in result.items() if k != "checkpoint_uri"}, indent=2).encode()


@contextlib.contextmanager
def _mlflow_run(tracking_uri: str | None, run: str) -> Iterator[Any]:
    if tracking_uri is None:
        yield None
        return
    import mlflow

    _disable_mlflow_telemetry()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=run) as active:
        yield active


def _log_start(args: dict[str, Any], prefix: str, version: str, run: str, model_yaml: str, manifest: dict) -> None:
    import mlflow

    params = {k: v for k, v in args.items() if k not in {"data", "project", "name", "exist_ok", "verbose"}}
    mlflow.log_params({**params, "pages_train": manifest["pages"]["train"], "pages_val": manifest["pages"]["val"]})
    mlflow.set_tags({"dataset": prefix, "dataset_version": version, "run": run, "model_yaml": model_yaml})


def _log_end(trainer: Any, metrics: dict[str, float], per_class: dict[str, float], best_epoch: int | None) -> None:
    import mlflow

    mlflow.log_metrics({f"best/{k}": v for k, v in metrics.items()})
    mlflow.log_metrics({f"best/ap50/{name}": v for name, v in per_class.items()})
    if best_epoch is not None:
        mlflow.log_metric("best_epoch", best_epoch)
    for name in ("results.csv", "args.yaml"):
        if (trainer.save_dir / name).is_file():
            mlflow.log_artifact(str(trainer.save_dir / name), artifact_path="train")
    import torch
    import ultralytics

    mlflow.pyfunc.log_model(
        name="model",
        python_model=LayoutDetectorPyfunc(),
        artifacts={"weights": str(trainer.best)},
        pip_requirements=[
            f"ultralytics=={ultralytics.__version__}",
            f"torch=={torch.__version__.split('+')[0]}",
            "mlflow",
        ],
    )


def register_run(result: dict[str, Any], tracking_uri: str) -> str:
    """Register the model logged by ``result["mlflow_run_id"]`` as a new ``layout-detector`` version."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    tags = {
        "dataset": result["dataset"],
        "dataset_version": result["dataset_version"],
        "epochs": str(result["epochs"]),
        "imgsz": str(result["imgsz"]),
        "mAP50": str(result["metrics"].get("mAP50", "")),
        "mAP50-95": str(result["metrics"].get("mAP50-95", "")),
        "checkpoint": result["checkpoint"],
        "run_id": result["mlflow_run_id"],
    }
    model_uri = f"runs:/{result['mlflow_run_id']}/model"
    return str(mlflow.register_model(model_uri, MODEL_NAME, tags=tags).version)


def promotion_decision(result: dict[str, Any], champion: Any | None, margin: float) -> tuple[bool, str]:
    """Whether a newly trained detector (``train_layout_detector``'s result) should replace ``champion`` (an MLflow
    model version or None), and why. Only validation on the same dataset version is comparable."""
    ours = float(result["metrics"].get("mAP50", 0.0))
    if champion is None:
        return True, f"no champion yet; mAP50 {ours:.3f}"
    tags = champion.tags or {}
    if tags.get("dataset_version") != result["dataset_version"]:
        return False, (
            f"champion v{champion.version} was validated on dataset {tags.get('dataset_version')!r}, this one on "
            f"{result['dataset_version']!r}: not comparable; promote by hand if wanted"
        )
    theirs = float(tags.get("mAP50") or 0.0)
    if ours > theirs + margin:
        return True, f"mAP50 {ours:.3f} beats champion v{champion.version}'s {theirs:.3f} by more than {margin:g}"
    return False, f"mAP50 {ours:.3f} does not beat champion v{champion.version}'s {theirs:.3f} by more than {margin:g}"


def promote(result: dict[str, Any], tracking_uri: str, margin: float) -> tuple[bool, str]:
    """Make the version ``result`` registered the ``champion`` of ``layout-detector`` when ``promotion_decision``
    says so against the current champion (none: it is promoted); returns the decision and why."""
    import mlflow
    from mlflow.exceptions import MlflowException

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    try:
        current = client.get_model_version_by_alias(MODEL_NAME, "champion")
    except MlflowException:
        current = None
    promoted, reason = promotion_decision(result, current, margin)
    if promoted:
        client.set_registered_model_alias(MODEL_NAME, "champion", result["registered_version"])
    return promoted, reason


def download_weights(model_uri: str, tracking_uri: str, cache_dir: Path) -> tuple[Path, str, int]:
    """``best.pt`` of a registered layout detector (``models:/layout-detector@champion`` or ``.../3``), downloaded
    once into ``cache_dir/<name>-v<version>/``; returns the path, ``layout-detector-v<version>`` and its training
    image size.

    Raises:
        TrainingError: the URI names no version, or the version has no ``best.pt``.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    _disable_mlflow_telemetry()
    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    ref = model_uri.removeprefix("models:/")
    try:
        if "@" in ref:
            name, _, alias = ref.partition("@")
            version = client.get_model_version_by_alias(name, alias)
        else:
            name, _, number = ref.partition("/")
            version = client.get_model_version(name, number)
    except MlflowException as exc:
        raise TrainingError(f"{model_uri}: no such registered layout detector ({str(exc).splitlines()[0]})") from exc
    target = cache_dir / f"{name}-v{version.version}"
    weights = target / "best.pt"
    if not weights.is_file():
        mlflow.set_tracking_uri(tracking_uri)
        folder = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version.version}",
                                                          dst_path=str(target / "download")))  # fmt: skip
        found = sorted(folder.rglob("best.pt"))
        if not found:
            raise TrainingError(f"{model_uri}: version {version.version} has no best.pt among its files")
        shutil.copyfile(found[0], weights)
    imgsz = int((version.tags or {}).get("imgsz") or 640)
    return weights, f"{name}-v{version.version}", imgsz


def main(argv: list[str] | None = None) -> None:
    """``python -m training.layout --dataset input-data/layout/v1 --epochs 50``: train on the configured stores."""
    parser = argparse.ArgumentParser(prog="python -m training.layout", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True, help="object-store prefix, e.g. input-data/layout/v1")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--nbs", type=int, default=None, help="nominal batch size (default: --batch, no accumulation)")
    parser.add_argument("--model", default="yolov8n.yaml", help="Ultralytics model YAML (no weights are loaded)")
    parser.add_argument("--device", default=None, help="cpu, 0, 0,1... (default: first GPU, else CPU)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: mixed precision on a GPU")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the dataset copy and run folder here")
    parser.add_argument("--no-mlflow", action="store_true", help="neither log nor register in MLflow")
    parser.add_argument("--result-key", default=None, help="also write the result JSON to this object key")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run of --workdir")
    parser.add_argument(
        "--promote", action="store_true",
        help="make the registered version the champion if it beats the current one (the nightly DAG's gate)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.resume and args.workdir is None:
        parser.error("--resume needs --workdir, the work folder of the interrupted run")
    if args.promote and args.no_mlflow:
        parser.error("--promote needs MLflow: it promotes the version the run registers")

    from mathlabel.clients import object_store
    from mathlabel.config import get_settings

    settings = get_settings()
    result = train_layout_detector(
        object_store(settings), args.dataset, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, nbs=args.nbs,
        model_yaml=args.model, device=args.device, workdir=args.workdir, seed=args.seed, precision=args.precision,
        tracking_uri=None if args.no_mlflow else settings.mlflow_tracking_uri,
        ultralytics_dir=settings.var_path / "ultralytics", resume=args.resume,
    )  # fmt: skip
    if args.promote:
        result["promoted"], result["promotion"] = promote(
            result, settings.mlflow_tracking_uri, settings.training.layout_margin
        )
    if args.result_key:
        object_store(settings).write_bytes(args.result_key, _metrics_json(result))
    print(json.dumps({k: v for k, v in result.items() if k != "history"}, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
