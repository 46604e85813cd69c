"""``mathlabel training ...``: the training jobs, on the configured stores.

nightly_retraining runs ``text`` (as a subprocess, or on the GPU instance through SSM Run Command) and ``layout`` (as a
subprocess of its worker); by hand they train on any snapshot or dataset, and ``pages`` writes a layout dataset.
Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from training.layout import LayoutTraining

training_app = typer.Typer(help="Training jobs: what nightly_retraining runs, also by hand.", no_args_is_help=True)


def _settings() -> Any:
    from mathlabel.config import get_settings

    return get_settings()


@training_app.command("text")
def train_text(
    snapshot: Annotated[str, typer.Option(help="Snapshot folder in the object store")],
    curriculum: Annotated[str, typer.Option(help="Curriculum id(s) the labeler is trained for")],
) -> None:
    """Train the text labeler on a snapshot, log it to the model registry and keep it under models/text-labeler/."""
    from labeling.index import CurriculumIndex
    from mathlabel.clients import build_stores
    from training.nightly import train_from_snapshot

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stores = build_stores(_settings())
    index = CurriculumIndex(stores.graph, curriculum)
    typer.echo(json.dumps(train_from_snapshot(stores.objects, index, snapshot, stores.registry)))


def layout_args(config: LayoutTraining, result_key: str | None = None) -> list[str]:
    """The ``mathlabel training layout`` arguments that train ``config`` (and write the result to ``result_key``)."""
    args = ["--dataset", config.dataset, "--epochs", str(config.epochs), "--imgsz", str(config.imgsz),
            "--batch", str(config.batch), "--model", config.model, "--seed", str(config.seed),
            "--precision", config.precision]  # fmt: skip
    for flag, value in (("--nbs", config.nbs), ("--device", config.device), ("--workdir", config.workdir),
                        ("--result-key", result_key)):  # fmt: skip
        if value is not None:
            args += [flag, str(value)]
    return args + (["--resume"] if config.resume else [])


@training_app.command("layout")
def train_layout(
    dataset: Annotated[str, typer.Option(help="Object-store prefix, e.g. input-data/layout/v1")],
    epochs: int = 50,
    imgsz: int = 640,
    batch: int = 8,
    nbs: Annotated[int | None, typer.Option(help="Nominal batch size (default: --batch, no accumulation)")] = None,
    model: Annotated[str, typer.Option(help="Ultralytics model YAML (no weights are loaded)")] = "yolov8n.yaml",
    device: Annotated[str | None, typer.Option(help="cpu, 0, 0,1... (default: first GPU, else CPU)")] = None,
    seed: int = 0,
    precision: Annotated[str, typer.Option(help="fp32, or bf16: mixed precision on a GPU")] = "fp32",
    workdir: Annotated[Path | None, typer.Option(help="Keep the dataset copy and run folder here")] = None,
    no_registry: Annotated[bool, typer.Option("--no-registry", help="Neither log nor register the model")] = False,
    result_key: Annotated[str | None, typer.Option(help="Also write the result JSON to this object key")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the interrupted run of --workdir")] = False,
    promote: Annotated[
        bool, typer.Option(help="Make the registered version the champion if it beats the current one (the DAG's gate)")
    ] = False,
) -> None:
    """Train the layout detector (Ultralytics YOLO, offline) on a dataset of the object store and register it."""
    from pydantic import ValidationError

    from mathlabel.clients import model_registry, object_store
    from training.layout import LayoutTraining, result_json, train_layout_detector
    from training.promotion import promote_if_better

    if promote and no_registry:
        raise typer.BadParameter("--promote needs the model registry: it promotes the version the run registers")
    options = {"nbs": nbs, "model": model, "device": device, "seed": seed, "precision": precision}
    try:
        config = LayoutTraining(dataset=dataset, epochs=epochs, imgsz=imgsz, batch=batch, workdir=workdir,
                                resume=resume, **options)  # fmt: skip
    except ValidationError as exc:
        raise typer.BadParameter("; ".join(e["msg"] for e in exc.errors())) from exc
    settings = _settings()
    objects, registry = object_store(settings), None if no_registry else model_registry(settings)
    result = train_layout_detector(objects, config, registry, ultralytics_dir=settings.var_path / "ultralytics")
    if promote and registry is not None:
        from training.layout import MODEL_NAME

        decision = promote_if_better(registry, MODEL_NAME, result, settings.training.layout_margin)
        result["promoted"], result["promotion"] = decision.promote, decision.reason
    if result_key:
        objects.write_bytes(result_key, result_json(result))
    typer.echo(json.dumps({k: v for k, v in result.items() if k != "history"}, ensure_ascii=False, indent=2))


@training_app.command("pages")
def write_pages(
    version: Annotated[str, typer.Option(help="Dataset version, e.g. v1 (input-data/layout/<version>/)")],
    train: Annotated[int, typer.Option(help="Training pages")] = 200,
    val: Annotated[int, typer.Option(help="Validation pages")] = 50,
    seed: int = 0,
    imgsz: Annotated[int | None, typer.Option(help="Image size the trainer should use (recorded only)")] = None,
) -> None:
    """Write a synthetic layout dataset (worksheet pages with their regions) to the configured object store."""
    from posixpath import join

    from tqdm import tqdm

    from mathlabel.clients import object_store
    from training.pages import write_yolo_dataset

    objects = object_store(_settings())
    with tqdm(total=train + val, unit="page", desc=f"layout {version}") as bar:
        manifest = write_yolo_dataset(objects, version, train=train, val=val, seed=seed, imgsz_hint=imgsz,
                                      progress=bar.update)  # fmt: skip
    summary = {k: manifest[k] for k in ("prefix", "pages", "noisy_pages")} | {"regions": manifest["regions"]["total"]}
    typer.echo(json.dumps(summary | {"uri": objects.uri(join(manifest["prefix"], "data.yaml"))}, ensure_ascii=False))
