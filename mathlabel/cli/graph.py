"""``mathlabel seed`` and ``mathlabel graph ...``: the curriculum graph."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from mathlabel.cli.common import app, get_settings, graph_app


@app.command()
def seed(
    curriculum: Annotated[
        list[str] | None, typer.Option("--curriculum", "-c", help="Curriculum id (default: all)")
    ] = None,
    source: Annotated[str, typer.Option(help="auto | shipped | an object-store prefix")] = "auto",
    force: Annotated[bool, typer.Option(help="Rewrite even when the source hash is unchanged")] = False,
) -> None:
    """Validate and write curricula into the graph; unchanged sources are a no-op, invalid ones write nothing."""
    from graph_seed.errors import GraphSeedError
    from graph_seed.loaders import LOADERS
    from graph_seed.seed import seed_curriculum
    from graph_seed.tasks import load_sources
    from mathlabel.clients import graph_store, object_store

    settings = get_settings()
    store = graph_store(settings)
    started = time.monotonic()
    try:
        curricula = load_sources(object_store(settings), curriculum or list(LOADERS), source)
    except GraphSeedError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    for loaded in curricula:
        result = seed_curriculum(store, loaded, force=force)
        state = "seeded" if result.changed else "unchanged"
        typer.echo(f"{state} {result.version}: {result.standards} standards in {result.seconds:.2f}s")
    typer.echo(f"done in {time.monotonic() - started:.2f}s")


@graph_app.command("stats")
def graph_stats(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Per curriculum: standards, domains, grade bands/courses, and edges by type and source."""
    from graph_seed.queries import stats
    from mathlabel.clients import graph_store

    typer.echo(json.dumps(stats(graph_store(get_settings())), ensure_ascii=False, indent=None if as_json else 2))
