"""Fixtures of every DAG test."""

import pytest


@pytest.fixture(autouse=True)
def _dag_test_without_deadlines(monkeypatch):
    """Run ``dag.test()`` without the DAG's deadline alerts.

    Airflow 3.3's ``dag.test()`` builds its scheduler DAG from the in-memory serialization, whose deadlines are the
    serialized dicts where ``DagRun.update_state`` expects the ids that a DAG-processor sync writes: a run of a DAG
    with a ``DeadlineAlert`` that succeeds crashes there (``'dict' object has no attribute 'hex'``). The deadlines
    are checked where they are defined (``test_dagbag``) and their callback by ``tests/integration/test_alerts.py``.
    """
    from airflow.sdk.definitions.dag import DAG

    original = DAG.test

    def test(self, *args, **kwargs):
        saved, self.deadline = self.deadline, None
        try:
            return original(self, *args, **kwargs)
        finally:
            self.deadline = saved

    monkeypatch.setattr(DAG, "test", test)
