"""`mathlabel services`: the embedded stack starts, answers, is idempotent and fails clearly."""

import socket
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mathlabel.config import Settings
from mathlabel.services import FalkorService, MlflowService, Stack, free_port, port_open, process_group

pytestmark = pytest.mark.integration


def test_stack_services_answer(stack):
    statuses = {s.name: s for s in stack.status(["objects", "labelstore", "falkordb", "airflow"])}
    assert all(s.ok for s in statuses.values()), statuses
    assert statuses["falkordb"].state == "running" and statuses["falkordb"].pid


def test_up_twice_reuses_the_running_server(stack):
    before = stack.status(["falkordb"])[0]
    again = stack.up(["falkordb"])[0]
    assert again.ok and "already running" in again.detail and again.pid == before.pid


def test_graph_store_answers_cypher(stack, settings):
    from mathlabel.clients import graph_store

    assert graph_store(settings).run("RETURN 1 + 1 AS two") == [{"two": 2}]


def test_embedded_mlflow_runs_no_job_workers(stack):
    # MLflow's job runner and its huey consumers (8 processes, ~1 GB) serve GenAI jobs the project never submits.
    pids = process_group(stack.processes["mlflow"].status().pid)
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode() for pid in pids]
    assert not [c for c in commands if "huey" in c or "job" in c], commands
    assert len(commands) <= 2, commands  # `mlflow server` and its one uvicorn worker


def _settings_for(tmp_path: Path, start_timeout: float = 300, **graph) -> Settings:
    return Settings(var_dir=tmp_path / "var", graph={"port": free_port(), **graph}, mlflow={"port": free_port()},
                    services={"start_timeout": start_timeout})  # fmt: skip


def _mlflow_dies_at_start(monkeypatch) -> None:
    monkeypatch.setattr(MlflowService, "command", lambda self: ["/bin/sh", "-c", "echo mlflow-boom; exit 3"])


def test_a_failed_start_stops_the_servers_it_started_and_starts_no_more(tmp_path, monkeypatch):
    settings = _settings_for(tmp_path)
    _mlflow_dies_at_start(monkeypatch)
    stack = Stack(settings)
    try:
        statuses = {s.name: s for s in stack.up(["falkordb", "mlflow", "airflow"])}
        assert statuses["mlflow"].state == "failed" and "mlflow-boom" in statuses["mlflow"].detail
        assert statuses["falkordb"].state == "stopped" and "mlflow failed" in statuses["falkordb"].detail
        assert statuses["airflow"].state == "stopped" and "not started" in statuses["airflow"].detail
        assert stack.status(["falkordb"])[0].state == "stopped" and not port_open(settings.graph.port)
        assert not (settings.var_path / "airflow" / "airflow.db").exists()
    finally:
        stack.down()


def test_a_failed_start_leaves_a_server_that_was_already_running(tmp_path, monkeypatch):
    settings = _settings_for(tmp_path)
    stack = Stack(settings)
    try:
        running = stack.up(["falkordb"])[0]
        assert running.ok
        _mlflow_dies_at_start(monkeypatch)
        statuses = {s.name: s for s in stack.up(["falkordb", "mlflow"])}
        assert statuses["mlflow"].state == "failed"
        after = stack.status(["falkordb"])[0]
        assert after.state == "running" and after.pid == running.pid
    finally:
        stack.down()


def test_a_server_that_never_answers_is_stopped_with_what_to_do(tmp_path, monkeypatch):
    settings = _settings_for(tmp_path, start_timeout=2)
    monkeypatch.setattr(FalkorService, "command", lambda self: ["/bin/sh", "-c", "echo pid $$; exec sleep 600"])
    status = Stack(settings).up(["falkordb"])[0]
    service = FalkorService(settings)
    assert status.state == "failed"
    for part in (f"127.0.0.1:{settings.graph.port}", "within 2s", "services.start_timeout", str(service.log_path)):
        assert part in status.detail, (part, status.detail)
    pid = int(service.log_path.read_text().split()[1])
    assert process_group(pid) == [] and not service.pid_path.exists()
    assert service.status().state == "stopped"


def test_an_airflow_migration_that_overruns_is_reported_and_leaves_no_half_database(tmp_path, monkeypatch):
    settings = _settings_for(tmp_path, start_timeout=3)
    slow = tmp_path / "slow-python"  # stands in for `python -m airflow db migrate`: creates the database, then hangs
    slow.write_text('#!/bin/sh\ntouch "$AIRFLOW_HOME/airflow.db"\nexec sleep 600\n')
    slow.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(slow))
    status = Stack(settings).up(["airflow"])[0]
    assert status.state == "failed" and "did not finish within 3s" in status.detail, status.detail
    assert not (settings.var_path / "airflow" / "airflow.db").exists()


def test_status_counts_verified_problems_apart_from_model_labels(tmp_path):
    from labeling.schemas import Problem
    from labeling.verification import verification_doc
    from mathlabel.clients import label_store

    def verification(pid: str, code: str, who: str) -> dict:
        problem = Problem(id=pid, text="72와 120의 최대공약수를 구하시오.", labels=[code])
        at = datetime.now(UTC)
        return verification_doc(problem, curriculum="kr-2022", verified_by=who, source_uri="s", record=1, at=at)

    def model_label(pid: str, version: str, status: str) -> dict:
        return {"_id": f"{pid}@{version}", "problem_id": pid, "model_version": version, "decision": {"status": status}}

    settings = _settings_for(tmp_path)
    superseded = {**verification("p-2", "9수01-02", "kim"), "current": False}  # lee verified p-2 again, later
    label_store(settings).upsert_labels([
        model_label("p-1", "lexical-bm25-v3", "auto_accepted"),
        model_label("p-1", "text-v1", "needs_review"),
        model_label("p-2", "lexical-bm25-v3", "auto_accepted"),
        verification("p-1", "9수01-02", "kim"),
        superseded,
        verification("p-2", "9수01-01", "lee"),
    ])  # fmt: skip
    status = Stack(settings).status(["labelstore"])[0]
    assert status.ok and "3 model labels, 2 verified problems" in status.detail, status.detail


def test_mlflow_server_starts_answers_and_stops(tmp_path):
    settings = _settings_for(tmp_path)
    service = MlflowService(settings)
    try:
        status = service.up(timeout=settings.services.start_timeout)
        assert status.state == "running", status
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=settings.mlflow_tracking_uri)
        experiment = client.create_experiment("services-test")
        assert client.get_experiment(experiment).name == "services-test"
    finally:
        service.down()
    assert service.status().state == "stopped"


def test_port_taken_by_another_process_is_reported_not_hung(tmp_path):
    settings = _settings_for(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", settings.graph.port))
        squatter.listen()
        status = Stack(settings).up(["falkordb"])[0]
    assert status.state == "failed"
    assert f"port {settings.graph.port}" in status.detail and "taken" in status.detail


def test_missing_binary_is_reported_by_path(tmp_path, monkeypatch):
    settings = _settings_for(tmp_path)
    missing = tmp_path / "nope" / "redis-server"
    monkeypatch.setattr(FalkorService, "binaries", staticmethod(lambda: (missing, missing)))
    status = Stack(settings).up(["falkordb"])[0]
    assert status.state == "failed" and "binary missing" in status.detail and str(missing) in status.detail


def test_a_server_that_dies_at_start_is_reported_with_its_log(tmp_path, monkeypatch):
    settings = _settings_for(tmp_path)
    monkeypatch.setattr(FalkorService, "command", lambda self: ["/bin/sh", "-c", "echo boom-at-start; exit 3"])
    status = Stack(settings).up(["falkordb"])[0]
    assert status.state == "failed" and "exited with code 3" in status.detail and "boom-at-start" in status.detail


def test_down_stops_the_server_and_the_graph_survives_a_restart(tmp_path):
    from mathlabel.clients import graph_store

    settings = _settings_for(tmp_path)
    stack = Stack(settings)
    try:
        assert stack.up(["falkordb"])[0].ok
        graph_store(settings).run("MERGE (:Probe {id: 'persisted'})")
        stack.down(["falkordb"])
        assert stack.status(["falkordb"])[0].state == "stopped"
        assert stack.up(["falkordb"])[0].ok
        rows = graph_store(settings).run("MATCH (p:Probe) RETURN p.id AS id")
        assert rows == [{"id": "persisted"}]
    finally:
        stack.down()
