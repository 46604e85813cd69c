"""``mathlabel train`` and ``import-verified``: training the text labeler by hand, and verified labels from a
file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from mathlabel.cli.common import app, get_settings
from mathlabel.cli.labeling import read_labeled


@app.command("train")
def train_command(
    train: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Labeled problems (JSONL/CSV with labels)")],
    curriculum: Annotated[str, typer.Option(help="Curriculum id(s); 'kr' = kr-2022,kr-2015")] = "",
    champion: Annotated[
        bool, typer.Option(help="Make this version the champion labeling runs of its curricula use")
    ] = False,
) -> None:
    """Train the text labeler on labeled problems and register it in MLflow (the first version of a curricula set
    becomes its champion, models:/text-labeler@champion-<curricula>)."""
    from labeling.batch import CurriculumIndex
    from mathlabel.clients import graph_store, model_registry
    from training.registry import MODEL_NAME, champion_ref, log_text_labeler, promote
    from training.text_labeler import train_text_labeler

    settings = get_settings()
    index = CurriculumIndex(graph_store(settings), curriculum or settings.labeling.curriculum)
    problems, _, _ = read_labeled(train, index, settings.labeling.max_text_chars)
    model = train_text_labeler(problems, index.standards, retriever=index.retriever)
    models = model_registry(settings)
    ref = log_text_labeler(model, models, curricula=index.curricula)
    first = champion_ref(models, index.curricula) is None
    alias = promote(models, ref.version) if champion or first else ""
    typer.echo(
        f"registered {MODEL_NAME} version {ref.version} ({model.meta['examples']} examples, "
        f"{model.meta['train_seconds']}s){f' as {MODEL_NAME}@{alias}' if alias else ''}"
    )


@app.command("import-verified")
def import_verified_command(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Problem JSONL/CSV with labels")],
    curriculum: Annotated[str, typer.Option(help="Curricula of the labels; empty = training.curriculum")] = "",
    reviewer: Annotated[str, typer.Option(help="Who verified them; default import:<file name>")] = "",
) -> None:
    """Import verified labels into the label store (re-importing the same file changes nothing); rejected rows are
    quarantined with their reasons under quarantine/<date>/verified/, as the drop folder's are."""
    from labeling.errors import IngestError
    from labeling.index import CurriculumIndex, current_verified
    from mathlabel.clients import build_stores
    from training.snapshot_validation import verified_needed
    from training.verified import import_verified, quarantine_rejected

    settings = get_settings()
    stores = build_stores(settings)
    index = CurriculumIndex(stores.graph, curriculum or settings.training.curriculum)
    try:
        result, parsed = import_verified(
            path.name,
            path.read_bytes(),
            labels=stores.labels,
            index=index,
            source_uri=path.resolve().as_uri(),
            verified_by=reviewer or None,
            max_text_chars=settings.labeling.max_text_chars,
        )
    except IngestError as exc:
        typer.echo(f"{path}: nothing imported: {exc}", err=True)
        raise typer.Exit(1) from exc
    for rejected in parsed.rejected[:10]:
        typer.echo(f"rejected {path.name} record {rejected.record} (id={rejected.id}): {rejected.reason}", err=True)
    if len(parsed.rejected) > 10:
        typer.echo(f"rejected {len(parsed.rejected) - 10} more records of {path.name}", err=True)
    if parsed.rejected:
        now = datetime.now(UTC)
        error_key = quarantine_rejected(
            stores.objects, path.name, parsed, run_id=f"import-verified__{now:%Y%m%dT%H%M%S%f}",
            run_date=f"{now:%Y-%m-%d}", source=path.resolve().as_uri(),
        )  # fmt: skip
        rows = error_key.removesuffix(".error.json") + ".rejected" + path.suffix
        typer.echo(
            f"quarantined {len(parsed.rejected)} rejected rows: {stores.objects.uri(rows)} "
            f"(reasons: {stores.objects.uri(error_key)})",
            err=True,
        )
    typer.echo(
        f"{path.name}: read {result.read}, stored {result.stored}, unchanged {result.unchanged}, "
        f"superseded {result.superseded}, rejected {result.quarantined} ({index.curriculum})"
    )
    verified = len(current_verified(stores.labels, index.curriculum))
    needed = verified_needed(settings.training.min_holdout, settings.training.holdout_share)
    typer.echo(
        f"{index.curriculum}: {verified} verified problems; nightly_retraining's first model needs about {needed} "
        f"(training.min_holdout {settings.training.min_holdout} / holdout_share {settings.training.holdout_share})"
    )
