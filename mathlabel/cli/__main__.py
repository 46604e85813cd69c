"""``python -m mathlabel.cli ...``: the ``mathlabel`` command."""

from mathlabel.cli import app

app(prog_name="mathlabel")
