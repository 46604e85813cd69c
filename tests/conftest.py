"""Test-wide setup: an isolated var/ and free ports, set before Airflow or the settings are first read.

Tests never touch the developer's own var/ or the ports of a running `make run` stack.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_ROOT = Path(tempfile.mkdtemp(prefix="mathlabel-test-"))
os.environ["MATHLABEL_VAR_DIR"] = str(_ROOT / "var")

from mathlabel.services import free_port  # noqa: E402  (after the environment is set)

os.environ["MATHLABEL_GRAPH__PORT"] = str(free_port())
os.environ["MATHLABEL_MLFLOW__PORT"] = str(free_port())

from mathlabel.config import Settings, get_settings  # noqa: E402
from mathlabel.services import Stack, airflow_env  # noqa: E402

os.environ.update(airflow_env(Settings()))
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"

# Fixtures of the tests that call the review API (airflow_app, client) and its logins.
pytest_plugins = ["tests.review_client"]


@pytest.fixture(scope="session")
def settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture(scope="session")
def stack(settings: Settings):
    """The embedded stack of the tests: FalkorDB, MLflow, label store, object folder, Airflow home."""
    stack = Stack(settings)
    try:
        failed = [s for s in stack.up() if not s.ok]
        if failed:  # pytest reports this once per test that needs the stack; it does not try again
            pytest.fail("embedded services failed to start:\n" + "\n".join(f"{s.name}: {s.detail}" for s in failed))
        yield stack
    finally:  # a failed or interrupted start leaves no server behind
        stack.down()


@pytest.fixture(scope="session")
def seeded_graph(stack, settings):
    from graph_seed.loaders import LOADERS, load_curriculum
    from graph_seed.seed import seed_curriculum
    from mathlabel.clients import graph_store

    store = graph_store(settings)
    for cid in LOADERS:
        seed_curriculum(store, load_curriculum(cid))
    return store


@pytest.fixture
def clean_objects(stack, settings):
    """The embedded object store, emptied before and after each test that uses it."""
    from mathlabel.clients import object_store

    root = settings.var_path / "objects"
    shutil.rmtree(root, ignore_errors=True)
    store = object_store(settings)
    store.ensure_layout()
    yield store
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def clean_labels(stack, settings):
    """The embedded label store, emptied before each test that uses it."""
    from mathlabel.clients import label_store

    shutil.rmtree(settings.var_path / "labelstore", ignore_errors=True)
    return label_store(settings)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_ROOT, ignore_errors=True)
