"""``python -m mathlabel ...``: the ``mathlabel`` command run by this interpreter (what DAG tasks start)."""

from mathlabel.cli import app

app(prog_name="mathlabel")
