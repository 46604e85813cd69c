"""`mathlabel services`: the embedded stack starts, answers, is idempotent and fails clearly."""

import socket
from pathlib import Path

import pytest

from mathlabel.config import Settings
from mathlabel.services import FalkorService, MlflowService, Stack, free_port

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


def _settings_for(tmp_path: Path, **graph) -> Settings:
    return Settings(var_dir=tmp_path / "var", graph={"port": free_port(), **graph}, mlflow={"port": free_port()},
                    services={"start_timeout": 90})  # fmt: skip


def test_mlflow_server_starts_answers_and_stops(tmp_path):
    settings = _settings_for(tmp_path)
    service = MlflowService(settings)
    try:
        status = service.up(timeout=120)
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
