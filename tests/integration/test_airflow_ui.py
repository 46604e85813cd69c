"""`make airflow-ui` (`mathlabel ui`) on a fresh var/: the UI answers on 127.0.0.1 only, its printed login works,
no DAG runs by itself, and stopping it stops every Airflow process."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from mathlabel.services import free_port

pytestmark = pytest.mark.integration
READY_SECONDS = 600  # four Airflow components start slowly on a busy 2-core machine; this is a limit, not a budget
MATHLABEL = str(Path(sys.executable).with_name("mathlabel"))


def _call(url: str, body: dict | None = None, token: str | None = None) -> tuple[int, object]:
    headers = {"Content-Type": "application/json"} | ({"Authorization": f"Bearer {token}"} if token else {})
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _airflow_processes(pid: int) -> list[psutil.Process]:
    """The UI process and its descendants, less the embedded services it started (they outlive the UI)."""
    found = []
    for proc in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            if not any(name in " ".join(proc.cmdline()) for name in ("falkordb", "mlflow")):
                found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def _wait_for(predicate, what: str):
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(1)
    pytest.fail(f"no {what} within {READY_SECONDS}s")


@pytest.mark.timeout(3 * READY_SECONDS)  # waits below are limits, not budgets
def test_airflow_ui_serves_on_localhost_with_the_printed_login_and_starts_nothing(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        # A fresh install: its own var/ (Airflow home, services) and ports, not the session's stack.
        "MATHLABEL_VAR_DIR": str(tmp_path / "var"),
        "MATHLABEL_GRAPH__PORT": str(free_port()),
        "MATHLABEL_MLFLOW__PORT": str(free_port()),
        "MATHLABEL_SERVICES__START_TIMEOUT": str(READY_SECONDS),
        "AIRFLOW__CORE__PARALLELISM": "2",  # two LocalExecutor workers are plenty here
    }
    ui = subprocess.Popen(
        [MATHLABEL, "ui", "--port", str(port)],  # what `make airflow-ui PORT=...` runs
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: [lines.append(line) for line in ui.stdout], daemon=True).start()
    airflow: list[psutil.Process] = []
    try:
        printed = re.compile(r"log in as user (\S+), password (\S+)")
        _wait_for(lambda: ui.poll() is not None or any(map(printed.search, lines)), "login printed")
        assert ui.poll() is None, "".join(lines)
        login = next(m for m in map(printed.search, lines) if m)
        base = f"http://127.0.0.1:{port}"
        assert f"Airflow UI: {base}/" in "".join(lines)
        assert _call(f"{base}/api/v2/monitor/health")[0] == 200
        user, password = login.groups()
        status, body = _call(f"{base}/auth/token", {"username": user, "password": password})
        assert status == 201, "".join(lines)
        token = body["access_token"]
        assert _call(f"{base}/auth/token", {"username": user, "password": password + "x"})[0] == 401
        assert _call(f"{base}/api/v2/dags")[0] == 401

        # Every socket the UI's processes listen on is on the loopback interface (log servers included).
        tree = [psutil.Process(ui.pid), *psutil.Process(ui.pid).children(recursive=True)]
        listening = {
            (c.laddr.ip, c.laddr.port)
            for p in tree
            if _alive(p)
            for c in p.net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN
        }
        assert ("127.0.0.1", port) in listening
        assert {ip for ip, _ in listening} == {"127.0.0.1"}, listening

        # Once the DAGs are parsed: all paused, none has run (the nightly, the 15-minute drop poll, the seeding).
        dags = _wait_for(
            lambda: (found := _call(f"{base}/api/v2/dags", token=token)[1]) and found["total_entries"] >= 3 and found,
            "parsed DAGs",
        )
        assert {d["dag_id"]: d["is_paused"] for d in dags["dags"]} == {
            "batch_labeling": True, "curriculum_graph_seed": True, "nightly_retraining": True,
        }  # fmt: skip
        assert _call(f"{base}/api/v2/dags/~/dagRuns", token=token)[1]["total_entries"] == 0

        # Ctrl-C / kill stops Airflow and everything it started; the embedded services stay (`services down`).
        airflow = _airflow_processes(ui.pid)
        os.killpg(ui.pid, signal.SIGTERM)
        assert ui.wait(timeout=READY_SECONDS) == 0, "".join(lines)
        _wait_for(lambda: not any(_alive(p) for p in airflow), "stop of every Airflow process")
        assert "Airflow stopped" in "".join(lines)
    finally:  # after a failure: stop the UI, then whatever it left behind
        if ui.poll() is None:
            airflow = _airflow_processes(ui.pid)
            os.killpg(ui.pid, signal.SIGTERM)
            try:
                ui.wait(timeout=120)
            except subprocess.TimeoutExpired:
                os.killpg(ui.pid, signal.SIGKILL)
        for proc in airflow:
            if _alive(proc):
                proc.kill()
        subprocess.run([MATHLABEL, "services", "down"], env=env, capture_output=True, check=False)
