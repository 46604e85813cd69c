"""``mathlabel services ...`` and ``mathlabel ui``: the embedded stack, and the Airflow UI over it."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from mathlabel.cli.common import app, get_settings, services_app

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

    from mathlabel.airflow_ui import AirflowUI
    from mathlabel.services import ServiceError, Stack

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
        typer.echo(f'Review page: {airflow.url}/mathlabel/ (the UI\'s "Review"; API docs: /mathlabel/api/v1/docs)')
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
