"""`mathlabel run`: the batch_labeling DAG through `airflow dags test`, over a dropped file or what incoming/ holds."""

import json
import os
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from mathlabel.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def _jsonl(*records) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def _age(settings, key: str, seconds: float) -> None:
    """Make a dropped file look copied in ``seconds`` ago (older than ``labeling.settle_seconds``)."""
    then = time.time() - seconds
    os.utime(settings.var_path / "objects" / key, (then, then))


def _is_paused(settings, dag_id: str) -> bool:
    from mathlabel.services import airflow_env

    listed = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "list", "-o", "json"],
        env={**os.environ, **airflow_env(settings)}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = json.loads(next(line for line in listed.stdout.splitlines() if line.startswith("[")))
    return {row["dag_id"]: row["is_paused"] for row in rows}[dag_id] in {True, "True"}


def test_no_drop_labels_what_incoming_holds_with_the_dag_paused(
    seeded_graph, clean_objects, clean_labels, settings, monkeypatch
):
    # Airflow's start-up takes longer than the default 10 s: files changed within the hour wait for the next run.
    monkeypatch.setenv("MATHLABEL_LABELING__SETTLE_SECONDS", "3600")
    clean_objects.write_bytes("incoming/a.jsonl", _jsonl({"id": "nd-1", "text": "7 × 8을 계산하시오."}))
    clean_objects.write_bytes(
        "incoming/class-2/b.jsonl", _jsonl({"id": "nd-2", "text": "두 수 12와 18의 최대공약수를 구하시오."})
    )
    _age(settings, "incoming/a.jsonl", 7200)
    _age(settings, "incoming/class-2/b.jsonl", 7200)
    # Still being copied in (changed just now): left for the next run, as a scheduled run would.
    clean_objects.write_bytes("incoming/c.jsonl", _jsonl({"id": "nd-3", "text": "3 + 4를 계산하시오."}))

    refused = runner.invoke(app, ["run", "--selector", "a.jsonl"])
    assert refused.exit_code != 0 and "--no-drop" in refused.output

    done = runner.invoke(app, ["run", "--no-drop"])

    assert done.exit_code == 0, done.output
    assert "labeling incoming/;" in done.output and "problems read           2" in done.output, done.output
    assert sorted(d["problem_id"] for d in clean_labels.find_labels()) == ["nd-1", "nd-2"]
    assert clean_objects.list("incoming/") == ["incoming/c.jsonl"]
    # DAGs are paused at creation; `airflow dags test` runs them all the same.
    assert _is_paused(settings, "batch_labeling")


def test_run_drops_the_sample_it_is_given_and_labels_only_that(seeded_graph, clean_objects, clean_labels, tmp_path):
    clean_objects.write_bytes("incoming/other.jsonl", _jsonl({"id": "o-1", "text": "7 × 8을 계산하시오."}))
    sample = tmp_path / "mine.jsonl"
    sample.write_bytes(_jsonl({"id": "s-1", "text": "180을 소인수분해하시오.", "labels": ["9수01-01"]}))

    done = runner.invoke(app, ["run", "--sample", str(sample)])

    assert done.exit_code == 0, done.output
    assert "dropped mine.jsonl into incoming/" in done.output and "problems read           1" in done.output
    assert [d["problem_id"] for d in clean_labels.find_labels()] == ["s-1"]
    assert clean_objects.list("incoming/") == ["incoming/other.jsonl"]
