"""The Airflow UI over the embedded stack (``mathlabel ui``, ``make airflow-ui``): Airflow's API server, scheduler,
dag-processor and triggerer as child processes, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mathlabel.config import Settings
from mathlabel.services import ServiceError, airflow_env, port_open, process_group


def airflow_ui_env(settings: Settings, host: str = "127.0.0.1", port: int = 8080) -> dict[str, str]:
    """``airflow_env`` plus the API server's address, mapped onto every Airflow setting that names it."""
    url = f"http://{'127.0.0.1' if host in {'', '0.0.0.0', '::'} else host}:{port}"
    return {
        **airflow_env(settings),
        "AIRFLOW__API__HOST": host,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": url,
        # Task runners report to the execution API, which is otherwise looked for on localhost:8080.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        # The LocalExecutor starts this many worker processes at once (default 32, ~140 MB each): one per core.
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", str(max(2, os.cpu_count() or 2))),
        # Whatever Airflow starts by name comes from this virtualenv, activated or not.
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }


class AirflowUI:
    """Airflow's API server (the UI), scheduler, dag-processor and triggerer over the embedded stack.

    Not ``airflow standalone``: it starts Airflow's log servers, which listen on every interface (``serve_logs``
    binds host "" whatever the configuration says). The components run here with ``--skip-serve-logs``; the log
    servers only hand task logs to an API server on another machine, and this one reads them from
    ``var/airflow/logs`` itself.
    """

    COMPONENTS = (
        ("api-server", ("api-server",)),
        ("scheduler", ("scheduler", "--skip-serve-logs")),
        ("dag-processor", ("dag-processor",)),
        ("triggerer", ("triggerer", "--skip-serve-logs")),
    )

    def __init__(self, settings: Settings, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.settings = settings
        self.port = port
        self.env = {**os.environ, **airflow_ui_env(settings, host, port)}
        self.url = self.env["AIRFLOW__API__BASE_URL"]
        self.processes: dict[str, subprocess.Popen] = {}

    def log_path(self, name: str) -> Path:
        return self.settings.var_path / "logs" / f"airflow-{name}.log"

    @property
    def password_file(self) -> Path:
        """Where the simple auth manager keeps the passwords it generated (plain JSON, user → password)."""
        configured = self.env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
        return Path(configured or Path(self.env["AIRFLOW_HOME"]) / "simple_auth_manager_passwords.json.generated")

    def passwords(self) -> dict[str, str]:
        import json

        try:
            return json.loads(self.password_file.read_text())
        except (OSError, ValueError):
            return {}

    def start(self) -> None:
        """Start the components, each in its own process group; raises ServiceError when the port is taken."""
        if port_open(self.port):
            raise ServiceError(
                f"airflow-ui: port {self.port} on 127.0.0.1 is taken by another process; stop it or choose another "
                f"port (`make airflow-ui PORT=8081`, `mathlabel ui --port 8081`)"
            )
        self.log_path("api-server").parent.mkdir(parents=True, exist_ok=True)
        for name, args in self.COMPONENTS:
            with self.log_path(name).open("ab") as log:
                self.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "airflow", *args],
                    env=self.env,
                    cwd=self.settings.var_path,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # stopping its group also stops the workers it spawned
                )

    def exited(self) -> dict[str, int]:
        """Components that have stopped, with their exit codes."""
        return {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=2) as response:
                return response.status == 200
        except Exception:
            return False

    def failure(self, name: str, code: int) -> ServiceError:
        try:
            tail = "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-12:])
        except FileNotFoundError:
            tail = "(no log)"
        return ServiceError(f"airflow {name} exited with code {code}; log {self.log_path(name)}:\n{tail}")

    def wait_ready(self, timeout: float) -> None:
        """Wait until the API server answers; raises ServiceError when a component exits or time runs out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, code in self.exited().items():
                raise self.failure(name, code)
            if self.answers():
                return
            time.sleep(0.5)
        raise ServiceError(
            f"airflow-ui: the API server did not answer on {self.url} within {timeout:.0f}s. If its log shows it "
            f"still starting, the machine is busy: raise services.start_timeout (MATHLABEL_SERVICES__START_TIMEOUT). "
            f"Log {self.log_path('api-server')}"
        )

    def stop(self, grace: float = 30.0) -> None:
        """Stop every component and what it spawned: SIGTERM, then SIGKILL after ``grace`` seconds."""
        groups = [p.pid for p in self.processes.values()]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pgid in groups:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                for p in self.processes.values():
                    p.poll()  # reap the leaders, so they no longer count
                if not any(process_group(pgid) for pgid in groups):
                    return
                time.sleep(0.2)
