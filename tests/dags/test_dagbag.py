"""Every DAG imports cleanly, without heavy libraries, with tags, retries and documentation."""

import subprocess
import sys

import pytest

from mathlabel.config import PROJECT_ROOT

pytestmark = pytest.mark.dag
DAG_FILES = sorted((PROJECT_ROOT / "dags").glob("*.py"))
# Libraries that take 0.2-4 s to import, with what they pull in (measured 2026-12-02 on the 2-core dev machine).
HEAVY = ("torch", "ultralytics", "great_expectations", "langchain", "langchain_core", "kiwipiepy", "mlflow",
         "sklearn", "pandas", "cv2", "rapidocr", "onnxruntime")  # fmt: skip


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
def test_dag_file_parses_without_heavy_imports(path):
    # The dag-processor re-parses every file every few seconds, in a fresh interpreter; heavy libraries belong
    # inside tasks. The parse-time budget itself (< 1 s) is measured by benchmarks/dag_parse.py, not here.
    code = (
        "import sys, runpy, airflow.sdk;"
        f"before = set(sys.modules); runpy.run_path({str(path)!r});"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules and m not in before))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]", f"{path.name} imports at parse time: {out.stdout.strip()}"


def test_the_review_plugin_loads_without_the_workspace_or_the_api_server():
    # Airflow loads plugins in every process (the dag-processor, the scheduler, each task): the review app's routes
    # import the workspace, the stores and the API server's security module only when a request comes.
    heavy = (*HEAVY, "review.workspace", "labeling.index", "airflow.api_fastapi.app", "numpy")
    code = (
        "import sys; import plugins.mathlabel_review_plugin as p\n"
        "assert p.MathlabelReviewPlugin.fastapi_apps[0]['url_prefix'] == '/mathlabel'\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_every_task_sends_a_failure_alert_and_the_long_dags_have_deadlines(dagbag, settings):
    from datetime import timedelta

    from operators.alerts import deadline_missed, on_failure

    for dag_id, dag in dagbag.dags.items():
        for task in dag.tasks:
            callbacks = task.on_failure_callback or []
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            if task.task_id == "watcher":  # it fails a run for a task that failed, which alerted already
                assert callbacks == [], dag_id
            else:
                assert on_failure in callbacks, f"{dag_id}.{task.task_id} sends no failure alert"
    batch, nightly = dagbag.dags["batch_labeling"].deadline, dagbag.dags["nightly_retraining"].deadline
    assert batch[0].interval == timedelta(minutes=settings.alerts.batch_deadline_minutes)
    assert nightly[0].interval == timedelta(hours=settings.alerts.nightly_finish_hour - 2)  # after the 02:00 run
    assert batch[0].callback.path == nightly[0].callback.path == f"{deadline_missed.__module__}.deadline_missed"
    report = dagbag.dags["batch_labeling"].get_task("report")
    assert report.downstream_task_ids >= {"quality_gate"}
    assert "champion_drift" in dagbag.dags["nightly_retraining"].task_ids
