"""The ``mathlabel`` command: the same functions the DAGs call, without Airflow (except ``run``, which drives it).

``app`` is the entry point; each module of this package registers one command group on it."""

from mathlabel.cli import graph, labeling, labels, stack, training  # noqa: F401  (they register their commands)
from mathlabel.cli.common import app

__all__ = ["app"]
