"""Airflow's API server app with the review plugin, in-process, and logins for the tests that call the review API
(a pytest plugin of tests/conftest.py)."""

from __future__ import annotations

import json
import os

import pytest

PASSWORDS = {"admin": "admin-pw", "reviewer": "reviewer-pw", "viewer": "viewer-pw"}


@pytest.fixture(scope="module")
def airflow_app(stack, tmp_path_factory):
    """Airflow's API server app with the plugins folder loaded, and three users: admin, reviewer (role user), viewer."""
    folder = tmp_path_factory.mktemp("auth")
    (folder / "passwords.json").write_text(json.dumps(PASSWORDS))
    saved = {
        k: os.environ.get(k)
        for k in ("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    }
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = "admin:admin,reviewer:user,viewer:viewer"
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(folder / "passwords.json")
    from airflow.api_fastapi.app import create_app

    try:
        yield create_app()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture
def client(airflow_app):
    from fastapi.testclient import TestClient

    return TestClient(airflow_app)


def login(client, user: str) -> dict[str, str]:
    response = client.post("/auth/token", json={"username": user, "password": PASSWORDS[user]})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}
