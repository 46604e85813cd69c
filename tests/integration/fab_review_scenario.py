"""The review API under the FAB auth manager, in a process of its own: run by test_review_fab.py, never collected.

Airflow keeps one auth manager per process, so the SimpleAuthManager tests and this one cannot share a process. The
caller has migrated the metadata database of a fresh ``AIRFLOW_HOME`` and run ``python -m
plugins.mathlabel_review.roles``. This creates FAB users, stores a label document, calls the API server's app with
FastAPI's test client, and prints one JSON line of results for the test to check.
"""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

API = "/mathlabel/api/v1"
DOC_ID = "fab-set.jsonl#f1@test"
DOC_PATH = f"{API}/labels/fab-set.jsonl%23f1%40test"
PASSWORD = "fab-test-pw"
# Login → FAB roles: a reviewer's account (the UI and the review writes), a read-only viewer, and FAB's `User`, who
# may trigger DAGs but has no review permission.
USERS = {"fab-reviewer": ("Viewer", "Reviewer"), "fab-viewer": ("Viewer",), "fab-user": ("User",)}


def prepare() -> list[str]:
    """Create the users; return what a second run of the role setup adds (nothing, it is idempotent)."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    from plugins.mathlabel_review.roles import ensure_review_roles

    with get_application_builder() as appbuilder:
        sm = appbuilder.sm
        added_again = ensure_review_roles(sm)
        for name, roles in USERS.items():
            if sm.find_user(username=name) is None:
                granted = [sm.find_role(role) for role in roles]
                assert sm.add_user(name, "Test", name, f"{name}@example.org", granted, PASSWORD), name
    return added_again


def store_document() -> None:
    from mathlabel.clients import label_store
    from mathlabel.config import get_settings

    candidates = [{"code": "[9수01-01]", "score": 0.9, "curriculum": "kr-2022"}]
    label_store(get_settings()).upsert_labels(
        [
            {
                "_id": DOC_ID,
                "problem_id": "f1",
                "problem_key": "fab-set.jsonl#f1",
                "curriculum": "kr-2022",
                "input": {"text": "180을 소인수분해하시오."},
                "candidates": candidates,
                "labels": ["[9수01-01]"],
                "decision": {"status": "needs_review", "reasons": ["low margin"]},
            }
        ]
    )


def main() -> None:
    added_again = prepare()
    store_document()
    from airflow.api_fastapi.app import create_app, get_auth_manager

    client = TestClient(create_app())
    results: dict = {"auth_manager": type(get_auth_manager()).__name__, "roles_added_again": added_again}

    def headers(name: str) -> dict[str, str]:
        response = client.post("/auth/token", json={"username": name, "password": PASSWORD})
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    results["anonymous_read"] = client.get(f"{API}/me").status_code
    for name in USERS:
        auth = headers(name)
        me = client.get(f"{API}/me", headers=auth)
        document = client.get(DOC_PATH, headers=auth)
        version = document.json()["version"] if document.status_code == 200 else 1
        write = client.post(f"{DOC_PATH}/accept", json={}, headers=auth | {"If-Match": str(version)})
        results[name] = {
            "me": me.json() if me.status_code == 200 else me.status_code,
            "read": document.status_code,
            "write": write.status_code,
            "write_body": write.json(),
        }
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    main()
