"""The ``mathlabel`` app and its command groups, and what every command module shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mathlabel.jobs import training_app

if TYPE_CHECKING:
    from mathlabel.config import Settings

app = typer.Typer(help="Label math problems with curriculum achievement standards.", no_args_is_help=True)
services_app = typer.Typer(help="Start, stop and check the embedded stack under var/.", no_args_is_help=True)
graph_app = typer.Typer(help="Inspect the curriculum graph.", no_args_is_help=True)
labels_app = typer.Typer(help="Read label documents.", no_args_is_help=True)
app.add_typer(services_app, name="services")
app.add_typer(graph_app, name="graph")
app.add_typer(labels_app, name="labels")
app.add_typer(training_app, name="training")


def get_settings() -> Settings:
    """``mathlabel.config.get_settings``, imported when a command runs."""
    from mathlabel.config import get_settings as settings

    return settings()
