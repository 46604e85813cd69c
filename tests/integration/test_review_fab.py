"""The review API with the FAB auth manager (production's): the ``Reviewer`` role may write reviews, a ``Viewer`` or a
``User`` only reads them.

Airflow holds one auth manager per process and the other review API tests use the SimpleAuthManager, so the FAB
side runs in child processes, over a fresh ``AIRFLOW_HOME``, as docker-compose.yaml's ``airflow-init`` prepares it:
``airflow db migrate`` (FAB's tables too), then ``python -m plugins.mathlabel_review.roles``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from mathlabel.config import PROJECT_ROOT

pytestmark = pytest.mark.integration

FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
# Limits for a busy machine, not expectations: each step takes seconds.
STEP_TIMEOUT = 420


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=STEP_TIMEOUT
    )
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def fab_results(stack, tmp_path_factory) -> dict:
    """The scenario's results: a FAB metadata database with the review roles, three users and their requests."""
    root = tmp_path_factory.mktemp("fab")
    home = root / "airflow"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
        # The scenario's own label store and objects; the graph (FalkorDB) is the session's, only read.
        "MATHLABEL_VAR_DIR": str(root / "var"),
    }
    home.mkdir()
    _run(["-m", "airflow", "db", "migrate"], env)
    roles = _run(["-m", "plugins.mathlabel_review.roles"], env)
    assert "Reviewer: can_create on Mathlabel Review" in roles, roles
    out = _run(["-m", "tests.integration.fab_review_scenario"], env)
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert lines, out
    return json.loads(lines[-1])


def test_the_scenario_ran_under_the_fab_auth_manager(fab_results):
    assert fab_results["auth_manager"] == "FabAuthManager"
    assert fab_results["roles_added_again"] == []  # the role setup is idempotent


def test_a_reviewer_writes_a_review_recorded_under_the_login(fab_results):
    reviewer = fab_results["fab-reviewer"]
    assert reviewer["me"] == {"user": "fab-reviewer", "can_review": True}
    assert reviewer["read"] == 200
    assert reviewer["write"] == 200, reviewer["write_body"]
    review = reviewer["write_body"]
    assert (review["status"], review["version"]) == ("verified", 2)
    assert review["review"]["by"] == "fab-reviewer" and review["review"]["action"] == "accept"


@pytest.mark.parametrize("login", ["fab-viewer", "fab-user"])
def test_a_viewer_or_user_reads_but_may_not_write(fab_results, login):
    result = fab_results[login]
    assert result["me"] == {"user": login, "can_review": False}
    assert result["read"] == 200
    assert result["write"] == 403, result["write_body"]
    assert "no review permission" in result["write_body"]["detail"]


def test_no_login_is_refused(fab_results):
    assert fab_results["anonymous_read"] == 401
