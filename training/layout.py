"""Train the layout detector (Ultralytics YOLO) on a layout dataset of the object store, offline, and register it.

``train_layout_detector(objects, LayoutTraining(dataset="input-data/layout/v1", epochs=...), registry)`` copies the
dataset (written by ``training.pages.write_yolo_dataset``) into a work folder, trains a YOLO detector from its model
YAML (no pretrained weights), uploads ``best.pt`` to ``models/layout-detector/<dataset version>/<run>/best.pt`` every
epoch it improves, and, given a model registry, logs the run to the ``layout-detector`` experiment through Ultralytics
callbacks (parameters, per-epoch metrics, the best epoch's metrics and the model) and registers the best checkpoint as
a new version of the ``layout-detector`` model, whose one artifact is ``best.pt`` (``LayoutDetectorPyfunc``:
``predict`` takes image paths and returns, per image, its regions).

``mathlabel training layout`` runs it on the configured stores; ``--promote`` then makes that version the champion if
it passes the nightly DAG's gate (``training.promotion``), and ``--resume --workdir <folder>`` continues a run that was
interrupted (a reclaimed spot instance, a restarted worker) from its last epoch instead of starting over.

Offline (``training.offline``), and training runs with ``plots=False`` and ``amp=False``, or ``amp="bf16"`` on a GPU,
which skips Ultralytics' AMP check (that check downloads a model).

GPU recipe (a recommendation, NOT yet measured: no GPU was lent to the sessions that wrote this):
    Data: ``mathlabel training pages --version v2 --train 2000 --val 300 --imgsz 1024`` (pages are A4 at 150 dpi,
    1240x1754 pixels). Training: ``mathlabel training layout --dataset input-data/layout/v2 --epochs 100 --imgsz 1024
    --batch 16 --device 0 --precision bf16``. ``imgsz`` 1024 (or 1280) because text lines are thin: at 640 a
    1754-pixel-high page shrinks 2.7 times and a line of text becomes a few pixels high, below the 8-pixel stride of
    YOLO's finest head. Batch 16-32 as memory allows (an estimate: at 1280 on a 24 GB A10G, batch 8-16).
    ``yolov8n.yaml`` first (six classes of large, regular regions); ``yolov8s.yaml`` if the AP of ``text`` and
    ``formula`` stays low. ``bf16`` needs an Ampere or newer GPU (A10G, A100, H100). From scratch, a detector learns
    slowly: expect the best epoch late. CPU measurements: benchmarks/RESULTS.md, "Layout detector".
"""

from __future__ import annotations

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

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from stores.errors import StoreError
from stores.objects import ObjectStore, join
from stores.registry import ModelRegistry, pyfunc_class
from training.errors import TrainingError
from training.offline import configure_ultralytics

MODEL_NAME = "layout-detector"
EXPERIMENT = "layout-detector"
# The version tags a signature covers (stores.registry): what the detector was trained on and its training run.
SIGNED_TAGS = ("dataset", "dataset_version", "imgsz", "run_id")
MODELS = "models/layout-detector"
# Dataset folders the trainer needs; lines/ and problems/ are for OCR and stay in the store.
DATASET_FOLDERS = ("images", "labels")
# A mirrored worksheet (numbers and choices on the right, text right-aligned) is never seen at inference time.
AUGMENT = {"fliplr": 0.0}
_PYFUNC = "LayoutDetectorPyfunc"


class LayoutTraining(BaseModel):
    """One training of the layout detector, validated; unknown fields are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str  # object-store prefix of the dataset, e.g. input-data/layout/v1
    epochs: int = Field(50, ge=1)
    imgsz: int = Field(640, ge=32)
    batch: int = Field(8, ge=1)
    # Nominal batch size: gradients of nbs / batch batches are accumulated before each optimizer step. None: batch, a
    # step per batch; Ultralytics' own default, 64, gives a small dataset very few steps (benchmarks/RESULTS.md).
    nbs: int | None = Field(None, ge=1)
    model: str = "yolov8n.yaml"  # an Ultralytics model configuration; no weights are loaded
    device: str | None = None  # cpu, 0 (first GPU), 0,1...; None: the first GPU if there is one, else the CPU
    seed: int = 0
    # fp32, or bf16: mixed precision on a GPU that supports it (ignored on the CPU).
    precision: str = "fp32"
    workdir: Path | None = None  # for the dataset copy and the Ultralytics run; None: a temporary folder
    # Continue the interrupted run of workdir (its newest runs/*/weights/last.pt) to that run's epochs, with its
    # optimizer state, learning-rate schedule and best fitness: epochs, imgsz, model and seed are the run's; batch and
    # device may change. The tracking run is a new one, tagged resumed, with the resumed epochs' metrics.
    resume: bool = False

    @field_validator("dataset")
    @classmethod
    def _prefix(cls, value: str) -> str:
        return value.strip("/")

    @field_validator("precision")
    @classmethod
    def _precision(cls, value: str) -> str:
        if value not in {"fp32", "bf16"}:
            raise ValueError(f"precision must be fp32 or bf16, not {value!r} (fp16 AMP's check downloads a model)")
        return value

    @model_validator(mode="after")
    def _resume_needs_workdir(self) -> LayoutTraining:
        if self.resume and self.workdir is None:
            raise ValueError("resume needs the work folder of the interrupted run (workdir)")
        return self


def regions(result: Any) -> list[dict[str, Any]]:
    """The boxes of one Ultralytics result as plain dicts, pixel coordinates of the original image."""
    boxes = result.boxes
    return [
        {"cls": result.names[int(c)], "class_id": int(c), "conf": round(float(p), 4), "box": [round(v, 1) for v in b]}
        for c, p, b in zip(boxes.cls.tolist(), boxes.conf.tolist(), boxes.xyxy.tolist(), strict=True)
    ]


class LayoutPredictor:
    """A registered detector's model: ``predict`` takes image paths and returns, per image, its regions
    ``[{cls, class_id, conf, box: [x0, y0, x1, y1]}]``."""

    def __init__(self, weights: str) -> None:
        from ultralytics import YOLO

        self.model = YOLO(weights)

    def predict(self, paths: list[str]) -> list[list[dict[str, Any]]]:
        return [regions(result) for result in self.model.predict(list(paths), verbose=False)]


def _load_predictor(artifacts: dict[str, str]) -> LayoutPredictor:
    return LayoutPredictor(artifacts["weights"])


def __getattr__(name: str) -> Any:
    if name == _PYFUNC:  # loading a registered version looks its class up here, as training.layout.LayoutDetectorPyfunc
        return pyfunc_class(__name__, _PYFUNC, _load_predictor)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
            f"`mathlabel training pages --version {dataset_version(prefix)}`"
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


# ----------------------------------------------------------------------------------------------------- callbacks


def _epoch_metrics(trainer: Any) -> dict[str, float]:
    """Validation metrics, losses and learning rates of the epoch just finished, with registry-safe names."""
    raw = {**trainer.label_loss_items(trainer.tloss, prefix="train"), **(trainer.metrics or {}), **trainer.lr}
    return {k.removeprefix("metrics/").replace("(B)", ""): float(v) for k, v in raw.items()}


def _best_metrics(validator_metrics: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Mean metrics and per-class AP50 of the final evaluation (of ``best.pt``)."""
    mean = {k.removeprefix("metrics/").replace("(B)", ""): float(v) for k, v in validator_metrics.results_dict.items()}
    names = validator_metrics.names
    per_class = {
        names[int(c)]: round(float(ap), 4)
        for c, ap in zip(validator_metrics.ap_class_index, validator_metrics.box.ap50, strict=True)
    }
    return {k: round(v, 4) for k, v in mean.items()}, per_class


class _Progress:
    """Ultralytics callbacks: upload ``best.pt`` whenever it improves; keep each epoch's metrics."""

    def __init__(self, objects: ObjectStore, key: str) -> None:
        self.objects, self.key = objects, key
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
        self.history.append({"epoch": trainer.epoch + 1, **_epoch_metrics(trainer)})
        self.done = bool(trainer.stop)


class _Tracking:
    """Ultralytics callbacks that log the training to a run of the model registry: its parameters and tags at the
    start, each epoch's metrics (as ``_Progress`` kept them), the best epoch's metrics, files and model at the end."""

    def __init__(self, registry: ModelRegistry, run_id: str, progress: _Progress, params: dict, tags: dict) -> None:
        self.registry, self.run_id, self.progress = registry, run_id, progress
        self.params, self.tags = params, tags
        self.logged = 0  # epochs logged

    def on_pretrain_routine_start(self, trainer: Any) -> None:
        self.registry.log_params(self.run_id, self.params)
        self.registry.set_tags(self.run_id, self.tags)

    def on_fit_epoch_end(self, trainer: Any) -> None:
        for row in self.progress.history[self.logged :]:
            self.registry.log_metrics(self.run_id, {k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])
        self.logged = len(self.progress.history)

    def on_train_end(self, trainer: Any) -> None:
        import torch
        import ultralytics

        if not trainer.best.is_file():
            return  # nothing to log: the training fails with that
        metrics, per_class = _best_metrics(trainer.validator.metrics)
        best = {f"best/{k}": v for k, v in metrics.items()} | {f"best/ap50/{k}": v for k, v in per_class.items()}
        if self.progress.best_epoch is not None:
            best["best_epoch"] = self.progress.best_epoch
        self.registry.log_metrics(self.run_id, best)
        for name in ("results.csv", "args.yaml"):
            if (trainer.save_dir / name).is_file():
                self.registry.log_artifact(self.run_id, trainer.save_dir / name, "train")
        requirements = [f"ultralytics=={ultralytics.__version__}", f"torch=={torch.__version__.split('+')[0]}"]
        model_class = pyfunc_class(__name__, _PYFUNC, _load_predictor)
        self.registry.log_model(self.run_id, model_class, {"weights": str(trainer.best)}, requirements)


def _use_all_cores(trainer: Any) -> None:
    """Ultralytics trains on cpu_count - 1 threads (1 on a 2-core runner): use every core this process may run on."""
    import torch

    torch.set_num_threads(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _add_callbacks(model: Any, handler: object, events: tuple[str, ...]) -> None:
    for event in events:
        model.add_callback(event, getattr(handler, event))


# ------------------------------------------------------------------------------------------------------ training


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
    """Whether ``workdir`` holds a run that stopped before its last epoch (``LayoutTraining(resume=True)`` would
    continue it)."""
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


def _train_args(config: LayoutTraining, data_file: Path, folder: Path, run: str, device: str, resume: bool) -> dict:
    """Ultralytics' training arguments; resuming, Ultralytics takes the run's own from ``last.pt``."""
    args = {
        "data": str(data_file), "epochs": config.epochs, "imgsz": config.imgsz, "batch": config.batch,
        "nbs": config.nbs or config.batch, "device": device, "seed": config.seed, "deterministic": True,
        "plots": False, "amp": "bf16" if config.precision == "bf16" and device != "cpu" else False,
        "pretrained": False, "project": str(folder / "runs"), "name": run, "exist_ok": True, "verbose": False,
        **AUGMENT,
    }  # fmt: skip
    if device == "cpu":
        args["workers"] = 0  # worker processes only add start-up time and memory on a CPU
    if resume:  # of ours it keeps data, device, batch, workers
        args = {k: v for k, v in args.items() if k in {"data", "device", "batch", "workers", "plots"}}
        args["resume"] = True
    return args


def train_layout_detector(
    objects: ObjectStore,
    config: LayoutTraining,
    registry: ModelRegistry | None = None,
    *,
    ultralytics_dir: Path | None = None,
) -> dict[str, Any]:
    """Train a YOLO layout detector from scratch on a dataset of the object store; keep and register the best.

    Args:
        objects: the object store holding the dataset; checkpoints are written to it.
        config: what to train on and how.
        registry: where the run is logged and the best checkpoint registered; None: neither.
        ultralytics_dir: Ultralytics' settings folder (``YOLO_CONFIG_DIR``); None: the one already in the
            environment, else ``<temp>/mathlabel-ultralytics``.

    Returns:
        ``checkpoint`` (object key of ``best.pt``), ``checkpoint_uri``, ``run``, ``dataset``, ``dataset_version``,
        ``best_epoch``, ``metrics`` (``mAP50``, ``mAP50-95``, ``precision``, ``recall``, ``fitness`` of ``best.pt``),
        ``per_class_ap50``, ``history`` (per-epoch metrics), ``epochs``, ``imgsz``, ``seconds`` (wall time, copying
        and registering included), ``device``, ``tracking_run_id`` and ``registered_version`` (None without a
        registry).

    Raises:
        TrainingError: no complete dataset at the prefix, training produced no checkpoint, or (``resume``) the
            work folder has no interrupted run.
    """
    started = time.monotonic()
    default_home = Path(os.environ.get("YOLO_CONFIG_DIR") or Path(tempfile.gettempdir()) / "mathlabel-ultralytics")
    configure_ultralytics(ultralytics_dir or default_home)
    from ultralytics import YOLO

    version = dataset_version(config.dataset)
    last = _interrupted_run(config.workdir / "runs") if config.resume and config.workdir else None
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
    run = last.parent.parent.name if last else stamp
    key = join(MODELS, version, run, "best.pt")
    device = _resolve_device(config.device)
    with _work_folder(config.workdir) as folder:
        data_file, manifest = fetch_dataset(objects, config.dataset, folder / "dataset" / version)
        args = _train_args(config, data_file, folder, run, device, last is not None)
        progress = _Progress(objects, key)
        model = YOLO(str(last) if last else config.model, task="detect")
        _add_callbacks(model, progress, ("on_model_save", "on_fit_epoch_end"))
        if device == "cpu":
            model.add_callback("on_pretrain_routine_start", _use_all_cores)
        with _tracking_run(registry, run) as run_id:
            if run_id is not None:  # a registry was given
                params = {k: v for k, v in args.items() if k not in {"data", "project", "name", "exist_ok", "verbose"}}
                params |= {"pages_train": manifest["pages"]["train"], "pages_val": manifest["pages"]["val"]}
                tags = {"dataset": config.dataset, "dataset_version": version, "run": run, "model_yaml": config.model}
                tags |= {"resumed": str(last)} if last else {}
                tracking = _Tracking(registry, run_id, progress, params, tags)
                _add_callbacks(model, tracking, ("on_pretrain_routine_start", "on_fit_epoch_end", "on_train_end"))
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
                "dataset": config.dataset,
                "dataset_version": version,
                "best_epoch": progress.best_epoch,
                "metrics": metrics,
                "per_class_ap50": per_class,
                "history": progress.history,
                "epochs": progress.history[-1]["epoch"] if progress.history else 0,
                "imgsz": int(trainer.args.imgsz),
                "device": str(trainer.device),
                "tracking_run_id": run_id,
                "registered_version": None,
            }
            objects.write_bytes(join(MODELS, version, run, "metrics.json"), result_json(result))
        if run_id is not None:
            result["registered_version"] = register_run(result, registry)
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def result_json(result: dict[str, Any]) -> bytes:
    """A training result as stored beside its checkpoint (and at a result key the caller names)."""
    return json.dumps({k: v for k, v in result.items() if k != "checkpoint_uri"}, indent=2).encode()


def _tracking_run(registry: ModelRegistry | None, run: str) -> contextlib.AbstractContextManager[str | None]:
    return contextlib.nullcontext(None) if registry is None else registry.run(EXPERIMENT, run)


def register_run(result: dict[str, Any], registry: ModelRegistry) -> str:
    """Register the model logged by ``result["tracking_run_id"]`` as a new ``layout-detector`` version."""
    tags = {
        "dataset": result["dataset"],
        "dataset_version": result["dataset_version"],
        "epochs": str(result["epochs"]),
        "imgsz": str(result["imgsz"]),
        "mAP50": str(result["metrics"].get("mAP50", "")),
        "mAP50-95": str(result["metrics"].get("mAP50-95", "")),
        "checkpoint": result["checkpoint"],
        "run_id": result["tracking_run_id"],
    }
    return registry.sign(registry.register(result["tracking_run_id"], MODEL_NAME, tags), SIGNED_TAGS).version


def download_weights(model_uri: str, registry: ModelRegistry, cache_dir: Path) -> tuple[Path, str, int]:
    """``best.pt`` of a registered layout detector (``models:/layout-detector@champion`` or ``.../3``), downloaded
    once into ``cache_dir/<name>-v<version>/``; returns the path, ``layout-detector-v<version>`` and its training
    image size.

    Raises:
        TrainingError: the URI names no version, or the version has no ``best.pt``.
        UntrustedModelError: the version is not one the pipeline signed (with a signing secret).
    """
    try:
        ref = registry.resolve(model_uri)
    except StoreError as exc:
        raise TrainingError(f"{model_uri}: no such registered layout detector ({exc})") from exc
    target = cache_dir / ref.label
    weights = target / "best.pt"
    if not weights.is_file():
        # best.pt is a pickle (torch.load): only a version the pipeline signed is fetched (stores.registry)
        found = sorted(registry.fetch_verified(ref, target / "download", SIGNED_TAGS).rglob("best.pt"))
        if not found:
            raise TrainingError(f"{model_uri}: version {ref.version} has no best.pt among its files")
        shutil.copyfile(found[0], weights)
    return weights, ref.label, int(ref.tags.get("imgsz") or 640)
