"""The curriculum_graph_seed DAG, run by Airflow (dag.test()) against the embedded FalkorDB."""

import shutil

import pytest

from graph_seed import DATA_DIR, queries

pytestmark = pytest.mark.dag
DEFAULTS = {"curricula": ["kr-2022", "kr-2015", "us-ccss"], "source": "auto", "dry_run": False, "force": False}


@pytest.fixture(scope="module")
def dag(stack):
    from airflow.dag_processing.dagbag import DagBag

    from mathlabel.config import PROJECT_ROOT

    return DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "curriculum_graph_seed.py")).get_dag("curriculum_graph_seed")


@pytest.fixture
def graph(stack, settings):
    from mathlabel.clients import graph_store

    return graph_store(settings)


def _run(dag, **conf):
    # Every param, every time: dag.test() keeps the previous run's conf on the shared DAG object.
    run = dag.test(run_conf={**DEFAULTS, **conf})
    return run, {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_seeds_every_curriculum_then_skips_when_nothing_changed(dag, graph):
    run, states = _run(dag, force=True)
    assert run.state == "success"
    assert states["write"] == states["verify"] == states["publish"] == "success"
    counts = {cid: s["standards"] for cid, s in queries.stats(graph).items()}
    assert counts == {"kr-2022": 435, "kr-2015": 129, "us-ccss": 480}

    run, states = _run(dag)
    assert run.state == "success"
    assert states["validate"] == "success"
    assert states["write"] == states["verify"] == states["publish"] == "skipped"


def test_dry_run_validates_and_writes_nothing(dag, graph):
    before = queries.stats(graph)
    run, states = _run(dag, dry_run=True, force=True)
    assert run.state == "success" and states["validate"] == "success" and states["write"] == "skipped"
    assert queries.stats(graph) == before


def test_files_dropped_under_curriculum_are_used_and_bad_ones_write_nothing(dag, graph, clean_objects, tmp_path):
    objects = clean_objects
    for path in (DATA_DIR / "us-ccss").rglob("*"):
        if path.is_file():
            objects.write_bytes(f"curriculum/us-ccss/{path.relative_to(DATA_DIR / 'us-ccss')}", path.read_bytes())
    run, states = _run(dag, curricula=["us-ccss"])
    assert run.state == "success" and states["validate"] == "success"

    before = queries.stats(graph)
    broken = tmp_path / "standards.csv"
    shutil.copy(DATA_DIR / "us-ccss" / "standards.csv", broken)
    text = broken.read_text(encoding="utf-8").replace("Count to 100 by ones and by tens.", "")
    objects.write_bytes("curriculum/us-ccss/standards.csv", text.encode())
    run, states = _run(dag, curricula=["us-ccss"], force=True)
    assert run.state == "failed" and states["validate"] == "failed"
    assert states["write"] != "success"
    assert queries.stats(graph) == before
