"""The ``mathlabel`` command: the same functions the DAGs call, without Airflow (except ``run``, which drives it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from mathlabel.config import Settings

app = typer.Typer(help="Label math problems with curriculum achievement standards.", no_args_is_help=True)
services_app = typer.Typer(help="Start, stop and check the embedded stack under var/.", no_args_is_help=True)
graph_app = typer.Typer(help="Inspect the curriculum graph.", no_args_is_help=True)
labels_app = typer.Typer(help="Read label documents.", no_args_is_help=True)
app.add_typer(services_app, name="services")
app.add_typer(graph_app, name="graph")
app.add_typer(labels_app, name="labels")

# Not from mathlabel.config: it loads pydantic, and `mathlabel --help` should not wait for that (nor anything heavy).
SAMPLE = Path(__file__).resolve().parent.parent / "labeling" / "samples" / "kr2022_sample.jsonl"


def get_settings() -> Settings:
    """``mathlabel.config.get_settings``, imported when a command runs."""
    from mathlabel.config import get_settings as settings

    return settings()


Names = Annotated[list[str] | None, typer.Argument(help="Services (default: all)")]


def _print_statuses(statuses, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps([s.to_dict() for s in statuses], indent=2))
        return
    for s in statuses:
        mark = "ok " if s.ok else ("-- " if s.state == "stopped" else "ERR")
        pid = f" pid {s.pid}" if s.pid else ""
        typer.echo(f"[{mark}] {s.name:<10} {s.state:<8}{pid}  {s.detail}")


def _report(statuses, as_json: bool) -> None:
    """Print the statuses and exit non-zero when any service is not up."""
    _print_statuses(statuses, as_json)
    if not all(s.ok for s in statuses):
        raise typer.Exit(1)


@services_app.command("up")
def services_up(names: Names = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Start the embedded services (idempotent); exits non-zero naming any that failed."""
    from mathlabel.services import Stack

    _report(Stack(get_settings()).up(names), as_json)


@services_app.command("down")
def services_down(names: Names = None) -> None:
    """Stop the embedded server processes (data stays under var/)."""
    from mathlabel.services import Stack

    _print_statuses(Stack(get_settings()).down(names), False)


@services_app.command("status")
def services_status(names: Names = None, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show whether each service runs and answers; exits non-zero when one does not."""
    from mathlabel.services import Stack

    _report(Stack(get_settings()).status(names), as_json)


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


def _run_summary(summary: dict, objects, elapsed: float) -> list[str]:
    """A run's report summary in words, with where the report is (a path and a URI to open)."""
    agreement = summary["top1_agreement"]
    agreement_text = (
        f"{agreement:.1%} ({summary['top1_agreements']}/{summary['with_provided_labels']} problems)"
        if agreement is not None
        else "n/a (no record carried labels)"
    )
    report = summary["report_html"]
    root = getattr(objects, "root", None)  # a local object store: the report is a file to open
    return [
        f"  files                   {summary['files_total']} ({summary['files_processed']} processed, "
        f"{summary['files_quarantined']} quarantined, {len(summary['unfinished'])} unfinished)",
        f"  problems read           {summary['read']}",
        f"  labeled now             {summary['labeled']}",
        f"  already labeled, skipped {summary['skipped']}",
        f"  quarantined records     {summary['quarantined']}",
        f"  needs review            {summary['needs_review']}",
        f"  top-1 agreement with the file's labels: {agreement_text}",
        f"  model                   {', '.join(summary['model_versions']) or '-'}",
        f"  elapsed                 {elapsed:.1f} s",
        "the run report lists the problems that need review, the disagreements and the quarantine, with reasons:",
        f"  {Path(root) / report if root is not None else report} (and .json)",
        f"  {objects.uri(report)}",
        "a problem's label document: `mathlabel labels get <problem id>`",
    ]


@app.command("label")
def label_file(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A .jsonl, .csv, .png, .jpg, .pdf or .zip problem file")
    ],
    curriculum: Annotated[str | None, typer.Option(help="Target curricula ('kr' = kr-2022,kr-2015)")] = None,
    force: Annotated[bool, typer.Option(help="Relabel already labeled problems")] = False,
    school: Annotated[str | None, typer.Option(help="School of problems that give none (pages): 초/중/고")] = None,
    grade: Annotated[int | None, typer.Option(help="Grade of problems that give none")] = None,
    course: Annotated[str | None, typer.Option(help="Course of problems that give none, e.g. 수학Ⅰ")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run's summary as JSON")] = False,
) -> None:
    """Label one file in-process (no Airflow), through the same drop-folder steps the DAG runs (a page file's
    FILE.meta.json beside it comes along), and say where the run report is."""
    from labeling.batch import CurriculumIndex, batch_config, check_course, claimed_files, run_batch
    from labeling.schemas import metadata_defaults
    from mathlabel.clients import build_stores, llm_judge, page_reader
    from stores.objects import join
    from training.registry import labeler_from_settings

    started = time.monotonic()
    try:
        defaults = metadata_defaults(school, grade, course)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    settings = get_settings()
    stores = build_stores(settings)
    run_id = "cli__" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    cfg = batch_config(run_id, curriculum, force, defaults=defaults)
    index = CurriculumIndex(stores.graph, cfg.curriculum, labels=stores.labels)
    try:
        check_course(cfg.defaults, index.courses, cfg.curriculum)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    labeler, cfg.model_version = labeler_from_settings(index, settings)
    # Straight into the run's own folder, as claiming a dropped file would move it: its paths under processed/ and
    # quarantine/ are those of the same file dropped into incoming/, and no folder is left behind in incoming/.
    stores.objects.write_bytes(join(cfg.processing, path.name), path.read_bytes())
    sidecar = path.with_name(path.name + ".meta.json")  # a page file's school/grade/course, as in the drop folder
    if sidecar.is_file():
        stores.objects.write_bytes(join(cfg.processing, sidecar.name), sidecar.read_bytes())
    keys = claimed_files(stores.objects, cfg.run_id, cfg.run_date)
    summary = run_batch(
        keys, objects=stores.objects, labels=stores.labels, index=index, cfg=cfg, labeler=labeler,
        judge=llm_judge(settings, index), reader=lambda: page_reader(settings),
    )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    lines = _run_summary(summary, stores.objects, time.monotonic() - started)
    typer.echo("\n".join([f"labeled {path.name} (run {cfg.run_id}):", *lines]))


def _read_labeled(path: Path, index, max_text_chars: int, reader=None):
    """Labeled records of a file; records with an ``image`` and no ``text`` are read by OCR when given a reader."""
    from labeling.validation import read_file

    parsed = read_file(path.name, path.read_bytes(), index.suite(max_text_chars))
    problems = [problem for _, problem in parsed.problems]
    skipped = [(r.record, r.reason) for r in parsed.rejected]
    timing: dict = {}
    if any(p.text is None and p.image for p in problems):
        from labeling.page_input import read_local_images

        if reader is None:
            raise typer.BadParameter(f"{path.name} has image records; they need OCR")
        problems, refused, timing = read_local_images(problems, path.parent, reader())
        skipped += [(f"id={pid}", reason) for pid, reason in refused]
    for record, reason in skipped[:5]:
        typer.echo(f"skipped {path.name} record {record}: {reason}", err=True)
    if len(skipped) > 5:
        typer.echo(f"skipped {len(skipped) - 5} more records of {path.name}", err=True)
    return problems, len(skipped), timing


@app.command("bench")
def bench(
    test: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Labeled problems (JSONL/CSV with labels)")],
    curriculum: Annotated[str, typer.Option(help="Curriculum id(s), comma-separated; 'kr' = kr-2022,kr-2015")] = "",
    train: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="Train on these first")] = None,
    examples: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="Verified problems the cold-start labeler indexes"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Evaluate the labeler on your labeled problems against the seeded graph (seeds nothing).

    Records with an ``image`` (a path relative to the file) and no ``text`` are read by OCR first (layout + OCR as
    configured in ``ocr``); the output then adds ``images`` and ``seconds_per_image``. ``--examples`` puts labeled
    problems into the cold-start labeler's standard documents, as labeling runs do with the verified labels in the
    label store (the last record of a file counts as the latest).
    """
    from labeling.batch import CurriculumIndex
    from labeling.evaluate import evaluate
    from labeling.index import examples_by_code
    from mathlabel.clients import graph_store, page_reader

    if examples is not None and train is not None:  # as in labeling runs: a trained labeler reads no examples
        raise typer.BadParameter("--examples feeds the cold-start labeler; leave out --train to measure it")
    settings = get_settings()
    graph, curricula = graph_store(settings), curriculum or settings.labeling.curriculum
    index = CurriculumIndex(graph, curricula)
    n_examples = 0
    if examples is not None:
        verified, _, _ = _read_labeled(examples, index, settings.labeling.max_text_chars)
        by_code = examples_by_code((problem.labels, problem.text) for problem in reversed(verified))
        index, n_examples = CurriculumIndex(graph, curricula, examples=by_code), len(verified)
    problems, skipped, timing = _read_labeled(
        test, index, settings.labeling.max_text_chars, reader=lambda: page_reader(settings)
    )
    labeler, train_seconds, n_train = index.cold_start, None, 0
    if train is not None:
        from training.text_labeler import TrainedLabeler, train_text_labeler

        train_problems, _, _ = _read_labeled(
            train, index, settings.labeling.max_text_chars, reader=lambda: page_reader(settings)
        )
        started = time.perf_counter()
        model = train_text_labeler(train_problems, index.standards)
        train_seconds = round(time.perf_counter() - started, 2)
        labeler, n_train = TrainedLabeler(model, index.retriever), len(train_problems)
    metrics = evaluate(
        labeler, problems, auto_accept_score=settings.labeling.auto_accept_score, standards=index.by_code
    )
    metrics.update(
        curricula=index.curricula, test_file=str(test), skipped_records=skipped,
        train_records=n_train, train_seconds=train_seconds, example_records=n_examples, **timing,
    )  # fmt: skip
    if as_json:
        typer.echo(json.dumps(metrics, ensure_ascii=False))
        return
    for key, value in metrics.items():
        typer.echo(f"{key:<22} {value}")


@app.command("train")
def train_command(
    train: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="Labeled problems (JSONL/CSV with labels)")],
    curriculum: Annotated[str, typer.Option(help="Curriculum id(s); 'kr' = kr-2022,kr-2015")] = "",
    champion: Annotated[bool, typer.Option(help="Make this version the champion labeling runs use")] = False,
) -> None:
    """Train the text labeler on labeled problems and register it in MLflow (first version becomes champion)."""
    from labeling.batch import CurriculumIndex
    from mathlabel.clients import graph_store
    from training.registry import MODEL_NAME, log_text_labeler, registry
    from training.text_labeler import train_text_labeler

    settings = get_settings()
    index = CurriculumIndex(graph_store(settings), curriculum or settings.labeling.curriculum)
    problems, _, _ = _read_labeled(train, index, settings.labeling.max_text_chars)
    model = train_text_labeler(problems, index.standards)
    ref = log_text_labeler(model, curricula=index.curricula, tracking_uri=settings.mlflow_tracking_uri)
    models = registry(settings.mlflow_tracking_uri)
    first = models.by_alias(MODEL_NAME, "champion") is None
    if champion or first:
        models.set_alias(MODEL_NAME, "champion", ref.version)
    typer.echo(
        f"registered {MODEL_NAME} version {ref.version} ({model.meta['examples']} examples, "
        f"{model.meta['train_seconds']}s){' as champion' if champion or first else ''}"
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
    problem_id: str,
    model_version: Annotated[
        str | None, typer.Option(help="One exact version: the part of a document id after '@'")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="{document, current, other_versions} as JSON")] = False,
) -> None:
    """Print a problem's current label document (its latest verification, else the champion's label, else the cold
    start's), then its other versions."""
    from labeling.documents import label_history, version_row
    from labeling.schemas import label_doc_id
    from mathlabel.clients import label_store

    settings = get_settings()
    history = label_history(label_store(settings), problem_id, cold_start_version=settings.labeling.model_version)
    docs = [history.current, *history.older] if history.current else []
    wanted = label_doc_id(problem_id, model_version) if model_version else (history.current or {}).get("_id")
    doc = next((d for d in docs if d["_id"] == wanted), None)
    if doc is None:
        known = f"; its documents: {', '.join(d['_id'] for d in docs)}" if docs else ""
        typer.echo(f"no label document {wanted or problem_id!r}{known}", err=True)
        raise typer.Exit(1)
    others = [version_row(d) for d in docs if d is not doc]
    if as_json:
        out = {"document": doc, "current": doc is history.current, "other_versions": others}
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2, default=str))
        return
    row = version_row(doc)
    what = "current" if doc is history.current else "not the current"
    typer.echo(f"# {doc['_id']}: the {what} label document of {problem_id} ({row['model_version']}, {row['status']})")
    typer.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
    if others:
        typer.echo(f"# other versions of {problem_id}, newest first (--model-version takes the part after '@'):")
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


def _airflow(args: list[str], env: dict[str, str], log_path: Path | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "airflow", *args]
    if log_path is None:
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    with log_path.open("w") as log:
        return subprocess.run(command, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)


@app.command("run")
def run(
    sample: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Problem set to drop (default: the shipped sample)")
    ] = None,
    drop: Annotated[
        bool, typer.Option("--drop/--no-drop", help="--no-drop: drop nothing, label what incoming/ already holds")
    ] = True,
    selector: Annotated[
        str | None, typer.Option(help="With --no-drop: the file or sub-folder of incoming/ to label (default: all)")
    ] = None,
) -> None:
    """Drop a problem set into incoming/ (or, with --no-drop, take what is there), run the batch_labeling DAG
    through Airflow (`airflow dags test`, no scheduler needed), and print a summary."""
    from labeling.batch import report_key
    from mathlabel.clients import object_store
    from mathlabel.services import Stack, airflow_env, dag_runs

    if drop and selector is not None:
        raise typer.BadParameter("--selector picks files already in incoming/; add --no-drop")
    if not drop and sample is not None:
        raise typer.BadParameter("--sample drops a file; leave it out with --no-drop")
    started = time.monotonic()
    settings = get_settings()
    down = [s for s in Stack(settings).status() if not s.ok]
    if down:
        typer.echo("the embedded stack is not up: " + ", ".join(f"{s.name} ({s.detail})" for s in down), err=True)
        typer.echo("start it with `mathlabel services up`", err=True)
        raise typer.Exit(1)
    objects = object_store(settings)
    if drop:
        sample = sample or SAMPLE
        objects.write_bytes(f"incoming/{sample.name}", sample.read_bytes())
        what = f"dropped {sample.name} into incoming/"
        conf = {"selector": sample.name, "settle_seconds": 0}  # written atomically just now: nothing to wait for
    else:  # files still being copied in (changed within labeling.settle_seconds) wait, as in scheduled runs
        what = f"labeling incoming/{selector or ''}"
        conf = {"selector": selector}
    env = {**os.environ, **airflow_env(settings)}
    log_dir = settings.var_path / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"batch_labeling-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.log"
    before = dag_runs("batch_labeling", env)
    typer.echo(f"{what}; running DAG batch_labeling with `airflow dags test`")
    typer.echo(f"  (Airflow log: {log_path})")
    done = _airflow(["dags", "test", "batch_labeling", "-c", json.dumps(conf)], env, log_path)
    new_runs = {k: v for k, v in dag_runs("batch_labeling", env).items() if k not in before}
    if done.returncode != 0 or len(new_runs) != 1 or "success" not in new_runs.values():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
        typer.echo(f"{tail}\n\nbatch_labeling did not succeed (exit {done.returncode}, runs {new_runs})", err=True)
        raise typer.Exit(1)
    run_id = next(iter(new_runs))
    summary = json.loads(objects.read_bytes(report_key(run_id)))
    elapsed = time.monotonic() - started
    objects_root = settings.var_path / "objects"
    typer.echo(
        "\n".join(
            [
                "",
                f"batch_labeling run {run_id}: success",
                *_run_summary(summary, objects, elapsed),
                "where the other results are:",
                f"  label documents  {settings.var_path / 'labelstore'} (`mathlabel labels list --run {run_id}`)",
                f"  processed inputs {objects_root / 'processed'}",
                f"  quarantine       {objects_root / 'quarantine'}",
                f"  Airflow log      {log_path}",
            ]
        )
    )
    if not summary.get("files"):
        typer.echo(
            f"nothing was claimed: incoming/{conf['selector'] or ''} holds no file, or only files changed in the last "
            f"{settings.labeling.settle_seconds:g}s (labeling.settle_seconds), which the next run takes"
        )


@app.command("ui")
def ui(
    port: Annotated[int, typer.Option(envvar="MATHLABEL_UI_PORT", help="Port of the Airflow UI")] = 8080,
    host: Annotated[
        str, typer.Option(envvar="MATHLABEL_UI_HOST", help="Address the UI listens on; 0.0.0.0 = every interface")
    ] = "127.0.0.1",
) -> None:
    """Start the embedded stack and the Airflow UI over it (API server, scheduler, dag-processor, triggerer); print
    the URL and the login; run until Ctrl-C, which stops Airflow (the embedded services keep running)."""
    import signal

    from mathlabel.services import AirflowUI, ServiceError, Stack

    settings = get_settings()
    _report(Stack(settings).up(), False)
    airflow = AirflowUI(settings, host, port)

    def stop(signum, frame):
        raise KeyboardInterrupt  # `kill` and a closed terminal stop Airflow as Ctrl-C does

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    code = 0
    try:
        airflow.start()
        typer.echo(f"starting Airflow on {airflow.url} (logs: {airflow.log_path('*')}) ...")
        airflow.wait_ready(settings.services.start_timeout)
        logins = airflow.passwords()
        typer.echo(f"Airflow UI: {airflow.url}/ (listening on {host}:{port})")
        for user, password in logins.items():
            typer.echo(f"  log in as user {user}, password {password}")
        typer.echo(f"  passwords generated on first start are kept in {airflow.password_file}")
        typer.echo(
            "  DAGs start paused: trigger one (its form's 'Unpause ... on trigger' lets the run start), or unpause it "
            "to run on its schedule\nCtrl-C stops Airflow; `make down` stops the embedded services"
        )
        while not (exited := airflow.exited()):
            time.sleep(1)
        raise airflow.failure(*next(iter(exited.items())))
    except ServiceError as exc:
        typer.echo(str(exc), err=True)
        code = 1
    except KeyboardInterrupt:
        pass
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):  # a second one must not cut the shutdown short
            signal.signal(sig, signal.SIG_IGN)
        typer.echo("stopping Airflow ...")
        airflow.stop()
        typer.echo("Airflow stopped")
    raise typer.Exit(code)


if __name__ == "__main__":
    app()
