"""Every DAG imports cleanly, fast, with tags, retries and documentation."""

import subprocess
import sys

import pytest

from mathlabel.config import PROJECT_ROOT

pytestmark = pytest.mark.dag
DAG_FILES = sorted((PROJECT_ROOT / "dags").glob("*.py"))


@pytest.fixture(scope="module")
def dagbag(stack):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_all_dags_import_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert "batch_labeling" in dagbag.dag_ids


def test_dag_id_is_the_file_name(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.fileloc.endswith(f"/{dag_id}.py")


def test_dags_have_tags_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, f"{dag_id} has no tags"
        assert dag.doc_md and len(dag.doc_md) > 100, f"{dag_id} has no doc_md"
        for task in dag.tasks:
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_parses_in_under_a_second_without_heavy_imports(path):
    # A fresh interpreter, as the dag-processor has: Airflow's own import is not the DAG file's cost.
    code = (
        "import sys, time, runpy, airflow.sdk;"
        f"t = time.perf_counter(); runpy.run_path({str(path)!r}); dt = time.perf_counter() - t;"
        "heavy = [m for m in ('torch', 'ultralytics', 'great_expectations', 'langchain', 'kiwipiepy', 'mlflow')"
        " if m in sys.modules];"
        "print(dt, heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    seconds, heavy = out.stdout.strip().split(" ", 1)
    assert float(seconds) < 1.0, f"{path.name} took {seconds}s to parse"
    assert heavy == "[]", f"{path.name} imports {heavy} at parse time"
