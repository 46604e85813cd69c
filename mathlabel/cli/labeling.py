"""``mathlabel label``, ``bench`` and ``run``: labeling a file in-process, measuring the labeler, and a
run of the batch_labeling DAG through Airflow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from mathlabel.cli.common import app, get_settings

# Not from mathlabel.config: it loads pydantic, and `mathlabel --help` should not wait for that (nor anything heavy).
SAMPLE = Path(__file__).resolve().parents[2] / "labeling" / "samples" / "kr2022_sample.jsonl"
QUARANTINE_LISTED = 5  # quarantined inputs a run's summary names, with their reasons
RECORDS_LISTED = 3  # and of each, the refused records (or archive members) it names, with theirs


def _review_hint(settings, review_url: str | None) -> list[str]:
    """How to review the run's labels: the page's URL, the Health page's (runs over time) and the logins (passwords
    exist once the UI has started)."""
    from mathlabel.airflow_ui import AirflowUI

    ui = AirflowUI(settings)
    logins = ui.passwords()
    url = review_url or f"{ui.url}/mathlabel/"
    lines = ["", "review the labels in the Airflow UI: `make airflow-ui` (or `mathlabel ui`), then open", f"  {url}",
             "  how the runs and the model are doing (Health):", f"  {ui.url}/mathlabel/health"]  # fmt: skip
    if logins:
        lines += [f"  log in as {user} (password {password})" for user, password in logins.items()
                  if user in {"reviewer", "admin"}]  # fmt: skip
    else:
        lines.append(f"  log in as reviewer: the UI prints its password on first start (kept in {ui.password_file})")
    return lines


def _record(file: str, record: dict) -> str:
    """How the summary names a quarantined record: an archive's member by its path, a record by number and id."""
    if file.lower().endswith(".zip"):
        return f"member {record.get('id')}"
    return f"record {record.get('record')}" + (f" (id {record['id']})" if record.get("id") is not None else "")


def _run_summary(summary: dict, objects, elapsed: float) -> list[str]:
    """A run's report (or its summary) in words, with what was quarantined and why (the report's first
    ``QUARANTINE_LISTED``), and where the report is (a path and a URI to open)."""
    agreement = summary["top1_agreement"]
    agreement_text = (
        f"{agreement:.1%} ({summary['top1_agreements']}/{summary['with_provided_labels']} problems)"
        if agreement is not None
        else "n/a (no record carried labels)"
    )
    report = summary["report_html"]
    root = getattr(objects, "root", None)  # a local object store: the report is a file to open
    quarantine = summary.get("quarantine") or []
    listed = []
    for q in quarantine[:QUARANTINE_LISTED]:
        # A reason often starts with its file's name, which the line already gives.
        listed.append(f"    {q['file']}: {str(q['reason']).removeprefix(q['file'] + ': ')}")
        listed += [f"      {_record(q['file'], r)}: {r.get('reason')}" for r in q.get("records", [])[:RECORDS_LISTED]]
        if (more := q.get("records_total", 0) - min(len(q.get("records", [])), RECORDS_LISTED)) > 0:
            listed.append(f"      and {more} more (in {q.get('error_key')})")
    if len(quarantine) > QUARANTINE_LISTED:
        listed.append(f"    and {len(quarantine) - QUARANTINE_LISTED} more (the run report lists them all)")
    return [
        f"  files                   {summary['files_total']} ({summary['files_processed']} processed, "
        f"{summary['files_quarantined']} quarantined, {len(summary['unfinished'])} unfinished)",
        f"  problems read           {summary['read']}",
        f"  labeled now             {summary['labeled']}",
        f"  already labeled, skipped {summary['skipped']}",
        f"  quarantined records     {summary['quarantined']}",
        *(["  quarantined, with why:", *listed] if listed else []),
        f"  needs review            {summary['needs_review']}",
        f"  top-1 agreement with the file's labels: {agreement_text}",
        f"  model                   {', '.join(summary['model_versions']) or '-'}",
        f"  elapsed                 {elapsed:.1f} s",
        "the run report lists the problems that need review, the disagreements and the quarantine, with reasons:",
        f"  {Path(root) / report if root is not None else report} (and .json)",
        f"  {objects.uri(report)}",
        "a problem's label document: `mathlabel labels get <file>#<problem id>`",
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
    from labeling.intake import claimed_files
    from mathlabel.clients import build_stores
    from mathlabel.runs import LabelingRun, RunParams
    from stores.objects import join

    started = time.monotonic()
    settings = get_settings()
    stores = build_stores(settings)
    params = RunParams(curriculum=curriculum, force=force, school=school, grade=grade, course=course)
    run = LabelingRun(settings, "cli__" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f"), params, stores)
    try:
        run.check()
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    cfg = run.cfg
    # Straight into the run's own folder, as claiming a dropped file would move it: its paths under processed/ and
    # quarantine/ are those of the same file dropped into incoming/, and no folder is left behind in incoming/.
    stores.objects.write_bytes(join(cfg.processing, path.name), path.read_bytes())
    sidecar = path.with_name(path.name + ".meta.json")  # a page file's school/grade/course, as in the drop folder
    if sidecar.is_file():
        stores.objects.write_bytes(join(cfg.processing, sidecar.name), sidecar.read_bytes())
    summary = run.run(claimed_files(stores.objects, cfg.run_id, cfg.run_date))
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    report = json.loads(stores.objects.read_bytes(summary["report"]))  # the summary leaves out the quarantine list
    lines = _run_summary(report, stores.objects, time.monotonic() - started)
    typer.echo("\n".join([f"labeled {path.name} (run {cfg.run_id}):", *lines]))


def read_labeled(path: Path, index, max_text_chars: int, reader=None):
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
    hold_out: Annotated[
        list[str] | None,
        typer.Option(help="A field of the standards left out of the index (explanation, achievement_levels, terms)"),
    ] = None,
    no_metadata: Annotated[bool, typer.Option(help="Drop school/grade/course/unit from every problem")] = False,
    baselines: Annotated[bool, typer.Option(help="Also measure the plain baselines on the same problems")] = True,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Evaluate the labeler on your labeled problems against the seeded graph (seeds nothing).

    Records with an ``image`` (a path relative to the file) and no ``text`` are read by OCR first (layout + OCR as
    configured in ``ocr``); the output then adds ``images`` and ``seconds_per_image``. ``--examples`` puts labeled
    problems into the cold-start labeler's standard documents, as labeling runs do with the verified labels in the
    label store (the last record of a file counts as the latest).

    Beside the labeler, the same problems are ranked by plain baselines (``labeling.baselines``): character TF-IDF
    cosine against the standards' documents, and with ``--train`` TF-IDF + linear SVMs trained on the same problems
    (character n-grams; and those plus morphemes and school/grade). ``--hold-out explanation`` tests on texts that
    the standards' documents would otherwise hold (the curriculum's own 해설 or 성취수준).
    """
    from labeling.evaluate import evaluate
    from labeling.index import CurriculumIndex, examples_by_code
    from mathlabel.clients import graph_store, page_reader

    if examples is not None and train is not None:  # as in labeling runs: a trained labeler reads no examples
        raise typer.BadParameter("--examples feeds the cold-start labeler; leave out --train to measure it")
    settings = get_settings()
    graph, curricula = graph_store(settings), curriculum or settings.labeling.curriculum
    without = tuple(hold_out or ())
    index = CurriculumIndex(graph, curricula, without=without)
    n_examples = 0
    if examples is not None:
        verified, _, _ = read_labeled(examples, index, settings.labeling.max_text_chars)
        by_code = examples_by_code((problem.labels, problem.text) for problem in reversed(verified))
        index, n_examples = CurriculumIndex(graph, curricula, examples=by_code, without=without), len(verified)
    problems, skipped, timing = read_labeled(
        test, index, settings.labeling.max_text_chars, reader=lambda: page_reader(settings)
    )
    if no_metadata:
        problems = [_without_metadata(p) for p in problems]
    labeler, train_seconds, n_train, train_problems = index.cold_start, None, 0, None
    if train is not None:
        from training.text_labeler import TrainedLabeler, train_text_labeler

        train_problems, _, _ = read_labeled(
            train, index, settings.labeling.max_text_chars, reader=lambda: page_reader(settings)
        )
        if no_metadata:
            train_problems = [_without_metadata(p) for p in train_problems]
        started = time.perf_counter()
        model = train_text_labeler(train_problems, index.standards, retriever=index.retriever)
        train_seconds = round(time.perf_counter() - started, 2)
        labeler, n_train = TrainedLabeler(model, index.retriever), len(train_problems)
    metrics = evaluate(
        labeler, problems, auto_accept_score=settings.labeling.auto_accept_score, standards=index.by_code
    )
    metrics.update(
        curricula=index.curricula, test_file=str(test), skipped_records=skipped,
        train_records=n_train, train_seconds=train_seconds, example_records=n_examples, **timing,
    )  # fmt: skip
    if without:
        metrics["held_out_fields"] = list(without)
    if no_metadata:
        metrics["metadata"] = "dropped"
    if baselines:
        metrics["baselines"] = _baselines(index, problems, train_problems)
    if as_json:
        typer.echo(json.dumps(metrics, ensure_ascii=False))
        return
    for key, value in metrics.items():
        typer.echo(f"{key:<22} {value}")


def _without_metadata(problem):
    return problem.model_copy(update={"school": None, "grade": None, "course": None, "unit": None})


def _baselines(index, problems, train_problems) -> dict:
    """Top-k of the plain baselines on the same problems (``labeling.baselines``), with their training time."""
    from labeling.baselines import LinearSvc, TfidfCosine

    def measure(build) -> dict:
        started = time.perf_counter()
        labeler = build()
        seconds = round(time.perf_counter() - started, 2)
        found = evaluate(labeler, problems, auto_accept_score=2.0)  # nothing auto-accepted: top-k is what counts
        keep = ("top1", "top3", "top10", "mrr", "problems_per_second")
        return {"labeler": labeler.version, **{k: found[k] for k in keep}, "build_seconds": seconds}

    from labeling.evaluate import evaluate

    out = {"char-tfidf-cosine": measure(lambda: TfidfCosine(index.standards))}
    if train_problems:
        for features in ("char", "char+morph+meta"):
            out[f"linear-svc {features}"] = measure(
                lambda features=features: LinearSvc(train_problems, index.standards, features=features)
            )
    return out


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
    # `airflow dags test` cannot finish a run of a DAG with a deadline in Airflow 3.3 (mathlabel/defaults.yaml,
    # alerts.deadlines): this one in-process run goes without; scheduled runs keep theirs.
    env = {**os.environ, **airflow_env(settings), "MATHLABEL_ALERTS__DEADLINES": "false"}
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
    typer.echo("\n".join(_review_hint(settings, summary.get("review_url"))))
