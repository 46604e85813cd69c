"""``mathlabel labels ...``: reading label documents."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from mathlabel.cli.common import get_settings, labels_app


def _when(value) -> str:
    return value.isoformat(sep=" ", timespec="seconds") if isinstance(value, datetime) else "-"


def _width(text: str) -> int:
    """Terminal columns of ``text``: Hangul and other wide characters take two."""
    from unicodedata import east_asian_width

    return sum(2 if east_asian_width(ch) in "WF" else 1 for ch in text)


def _table(rows: list[list[str]]) -> None:
    """Print rows as aligned columns; the last column is left ragged."""
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell + " " * (w - _width(cell)) for cell, w in zip(row, widths, strict=False)]
        typer.echo("  ".join([*cells, row[-1]]).rstrip())


@labels_app.command("get")
def labels_get(
    problem: Annotated[
        str, typer.Argument(help="A problem key (set1.jsonl#7), a record id (7) or a label document id")
    ],
    model_version: Annotated[
        str | None, typer.Option(help="One exact version: the part of a document id after '@'")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="{document, current, other_versions} as JSON")] = False,
) -> None:
    """Print a problem's current label document (its latest verification, else the champion's label, else the cold
    start's), then its other versions. A record id that several problem sets use names no one problem: their keys
    are listed to choose from."""
    from labeling.documents import label_history, problem_keys, version_row
    from labeling.schemas import label_doc_id, stored_problem_key
    from mathlabel.clients import label_store

    settings = get_settings()
    store = label_store(settings)
    named = store.get_label(problem)  # a label document's id
    key = stored_problem_key(named) if named else problem
    history = label_history(store, key, cold_start_version=settings.labeling.model_version)
    if not named:
        keys = [found for found in problem_keys(store, problem) if found != problem]  # sets with this record id
        if history.current is None and len(keys) > 1:
            typer.echo(f"{problem!r} is a record id in {len(keys)} problem sets; name one by its key:", err=True)
            for found in keys:
                typer.echo(f"  {found}", err=True)
            raise typer.Exit(2)
        if history.current is None and keys:
            key = keys[0]
            history = label_history(store, key, cold_start_version=settings.labeling.model_version)
        elif keys:
            typer.echo(f"# {problem!r} is also a record id in: {', '.join(keys)}", err=True)
    docs = [history.current, *history.older] if history.current else []
    if model_version:
        wanted = label_doc_id(key, model_version)
        # the newest: one stored before problems were keyed by their set has the bare record id before the '@'
        doc = next((d for d in docs if d["_id"].endswith(f"@{model_version}")), None)
    else:
        wanted = named["_id"] if named else (history.current or {}).get("_id")
        doc = next((d for d in docs if d["_id"] == wanted), None)
    if doc is None:
        known = f"; its documents: {', '.join(d['_id'] for d in docs)}" if docs else ""
        typer.echo(f"no label document {wanted or problem!r}{known}", err=True)
        raise typer.Exit(1)
    others = [version_row(d) for d in docs if d is not doc]
    if as_json:
        out = {"document": doc, "current": doc is history.current, "other_versions": others}
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2, default=str))
        return
    row = version_row(doc)
    what = "current" if doc is history.current else "not the current"
    typer.echo(f"# {doc['_id']}: the {what} label document of {key} ({row['model_version']}, {row['status']})")
    typer.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
    if others:
        typer.echo(f"# other versions of {key}, newest first (--model-version takes the part after '@'):")
        head = ["id", "model version", "status", "updated", "created"]
        _table([head] + [[r["id"], str(r["model_version"]), str(r["status"]), _when(r["updated_at"]),
                          _when(r["created_at"])] for r in others])  # fmt: skip


@labels_app.command("list")
def labels_list(
    run: Annotated[str | None, typer.Option(help="Only this run id")] = None,
    status: Annotated[str | None, typer.Option(help="Only this decision status")] = None,
    reason: Annotated[str | None, typer.Option(help="Only decisions with a reason containing this (any case)")] = None,
    curriculum: Annotated[str | None, typer.Option(help="Only labels for this curriculum")] = None,
    limit: Annotated[int, typer.Option(min=0, help="At most this many, newest first (0: all)")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list with every reason")] = False,
) -> None:
    """List label documents by run, decision status, reason and curriculum."""
    from labeling.documents import STATUSES, label_row, list_labels
    from mathlabel.clients import label_store

    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"{status!r} is not one of {', '.join(STATUSES)}", param_hint="--status")
    docs = list_labels(
        label_store(get_settings()), run_id=run, status=status, reason=reason, curriculum=curriculum, limit=limit
    )
    rows = [label_row(doc) for doc in docs]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
        return
    if not rows:
        typer.echo("no label documents match", err=True)
        return
    _table([["id", "status", "code", "score", "first reason"]] + [
        [r["id"], str(r["status"]), str(r["code"] or "-"), "-" if r["score"] is None else f"{r['score']:.2f}",
         (r["reasons"] or ["-"])[0]] for r in rows
    ])  # fmt: skip
    if limit and len(rows) == limit:
        typer.echo(f"# the {limit} newest shown; --limit 0 lists all", err=True)
