"""The delivery files: docker-compose.yaml, .gitlab-ci.yml and the Airflow Dockerfile.

There is no Docker engine on the development machine, so the compose file is checked by schema and by rule, never
run. check-jsonschema's builtin schemas are vendored in the package: the validation needs no network.
The schemas do not check references (a job's stage, `needs`, `extends`, `depends_on` targets, named volumes),
so those are checked here too.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mathlabel.config import PROJECT_ROOT

COMPOSE = PROJECT_ROOT / "docker-compose.yaml"
GITLAB_CI = PROJECT_ROOT / ".gitlab-ci.yml"
DOCKERFILE = PROJECT_ROOT / "docker" / "airflow.Dockerfile"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")

REQUIRED_SERVICES = {
    "postgres",
    "redis",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
    "neo4j",
    "mongo",
    "mongo-init",
    "minio",
    "minio-init",
    "mlflow",
    "otel-collector",
    "prometheus",
    "grafana",
}
ONE_SHOT_JOBS = {"airflow-init", "mongo-init", "minio-init"}
# Official images: name prefix per service. MinIO's own images moved from Docker Hub (minio/) to quay.io/minio/.
OFFICIAL_IMAGES = {
    "postgres": ("postgres:",),
    "redis": ("redis:",),
    "neo4j": ("neo4j:5",),
    "mongo": ("mongo:",),
    "mongo-init": ("mongo:",),
    "minio": ("minio/", "quay.io/minio/"),
    "minio-init": ("minio/", "quay.io/minio/"),
    "mlflow": ("ghcr.io/mlflow/mlflow:",),
    "otel-collector": ("otel/opentelemetry-collector-contrib:",),
    "prometheus": ("prom/prometheus:",),
    "grafana": ("grafana/grafana:",),
}
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
# airflow-init's command: the review workspace's Reviewer role and read permissions on FAB.
REVIEW_ROLES_COMMAND = ["python", "-m", "plugins.mathlabel_review.roles"]
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|JWT", re.IGNORECASE)
REQUIRED_REF = re.compile(r"^\$\{[A-Z0-9_]+:\?[^}]*\}$")
# user:password@ in a URI; the password part is checked.
URI_PASSWORD = re.compile(r"://[^:/@\s]*:([^@]*)@")


def _schema_check(schema: str, path: Path) -> None:
    assert CHECK_JSONSCHEMA.exists(), f"check-jsonschema not installed next to {sys.executable}"
    out = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", schema, path.name],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
    )
    assert out.returncode == 0, f"{path.name} fails {schema}:\n{out.stdout}\n{out.stderr}"


def _environment(block: dict) -> dict[str, str]:
    env = block.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def gitlab_ci() -> dict:
    return yaml.safe_load(GITLAB_CI.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def jobs(gitlab_ci) -> dict[str, dict]:
    """The visible jobs, with `extends` resolved (one level of hashes merged, as GitLab deep-merges them)."""
    reserved = {"stages", "default", "variables", "workflow", "include"}
    resolved = {}
    for name, job in gitlab_ci.items():
        if name in reserved or name.startswith(".") or not isinstance(job, dict):
            continue
        merged: dict = {}
        parents = job.get("extends", [])
        for parent in [parents] if isinstance(parents, str) else parents:
            assert parent in gitlab_ci, f"{name} extends unknown {parent}"
            merged.update(gitlab_ci[parent])
        for key, value in job.items():
            merged[key] = (
                {**merged[key], **value} if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
            )
        resolved[name] = merged
    return resolved


def _script(job: dict) -> str:
    return "\n".join(job.get("before_script", []) + job.get("script", []))


def _deploy_job(jobs: dict[str, dict], environment: str) -> dict:
    found = [job for job in jobs.values() if (job.get("environment") or {}).get("name") == environment]
    assert len(found) == 1, f"expected one job deploying to {environment}, found {len(found)}"
    return found[0]


def _is_manual(job: dict) -> bool:
    return job.get("when") == "manual" or any(rule.get("when") == "manual" for rule in job.get("rules", []))


# --- schemas ------------------------------------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification():
    _schema_check("vendor.compose-spec", COMPOSE)


def test_gitlab_ci_matches_the_gitlab_ci_schema():
    _schema_check("vendor.gitlab-ci", GITLAB_CI)


# --- docker-compose.yaml --------------------------------------------------------------------------------------------


def test_compose_has_the_whole_production_stack(compose):
    missing = REQUIRED_SERVICES - set(compose["services"])
    assert not missing, f"services missing from docker-compose.yaml: {sorted(missing)}"


def test_every_service_has_a_healthcheck(compose):
    without = [
        name
        for name, service in compose["services"].items()
        if not (service.get("healthcheck") or {}).get("test") or service["healthcheck"].get("disable")
    ]
    assert without == [], f"services without a healthcheck: {without}"


@pytest.mark.parametrize("service", sorted(OFFICIAL_IMAGES))
def test_third_party_services_use_official_images(compose, service):
    image = compose["services"][service]["image"]
    assert image.startswith(OFFICIAL_IMAGES[service]), f"{service} runs {image}"
    assert not image.endswith(":latest"), f"{service} floats on :latest"


def test_airflow_services_use_the_project_image_and_their_commands(compose):
    commands = {
        "airflow-apiserver": "api-server",
        "airflow-scheduler": "scheduler",
        "airflow-dag-processor": "dag-processor",
        "airflow-triggerer": "triggerer",
        "airflow-worker": "celery worker",
    }
    for name, command in commands.items():
        service = compose["services"][name]
        assert service["build"]["dockerfile"] == "docker/airflow.Dockerfile", name
        assert service["command"] == command, name
        env = _environment(service)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["MATHLABEL_GRAPH__BACKEND"] == "neo4j", name
        assert env["MATHLABEL_LABEL_STORE__BACKEND"] == "mongo", name
        assert env["MATHLABEL_OBJECT_STORE__URL"].startswith("s3://"), name
        assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name
        for store in ("postgres", "redis"):
            assert service["depends_on"][store]["condition"] == "service_healthy", name


def test_airflow_connections_have_the_types_the_hooks_accept(compose):
    env = _environment(compose["services"]["airflow-worker"])
    aws = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert aws["conn_type"] == "aws" and aws["extra"]["endpoint_url"] == "http://minio:9000"
    assert env["AIRFLOW_CONN_NEO4J_DEFAULT"].startswith("neo4j://")
    # MongoHook refuses any conn_type but "mongo": a mongodb:// URI would make it "mongodb".
    assert env["AIRFLOW_CONN_MONGO_DEFAULT"].startswith("mongo://")
    assert "replicaSet=rs0" in env["AIRFLOW_CONN_MONGO_DEFAULT"]


def test_airflow_runs_the_fab_auth_manager_everywhere(compose):
    airflow_services = [
        name
        for name, service in compose["services"].items()
        if (service.get("build") or {}).get("dockerfile") == "docker/airflow.Dockerfile"
    ]
    assert "airflow-apiserver" in airflow_services and "airflow-init" in airflow_services
    for name in airflow_services:  # the CLI of airflow-init and the api-server must agree on the auth manager
        assert _environment(compose["services"][name]).get("AIRFLOW__CORE__AUTH_MANAGER") == FAB_AUTH_MANAGER, name
    pins = (PROJECT_ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert re.search(r"^apache-airflow-providers-fab==", pins, re.MULTILINE), "the image lacks the FAB provider"


def test_airflow_init_migrates_creates_the_admin_and_the_reviewer_role(compose):
    init = compose["services"]["airflow-init"]
    env = _environment(init)
    # The image's entrypoint: `airflow db migrate`, then `airflow users create`, then the command.
    assert env["_AIRFLOW_DB_MIGRATE"] == "true"
    assert env["_AIRFLOW_WWW_USER_CREATE"] == "true" and env["_AIRFLOW_WWW_USER_ROLE"] == "Admin"
    assert REQUIRED_REF.match(env["_AIRFLOW_WWW_USER_PASSWORD"]), "the admin's password must come from the environment"
    assert init["command"] == REVIEW_ROLES_COMMAND
    module = PROJECT_ROOT / Path(*REVIEW_ROLES_COMMAND[2].split(".")).with_suffix(".py")
    assert module.is_file() and "def ensure_review_roles(" in module.read_text(encoding="utf-8")
    assert "COPY --chown=airflow:0 plugins/ " in DOCKERFILE.read_text(encoding="utf-8"), "the image lacks plugins/"


def test_every_required_variable_is_documented(compose):
    # `${NAME:?...}` outside comments, against the header of docker-compose.yaml and the list of .gitlab-ci.yml.
    lines = COMPOSE.read_text(encoding="utf-8").splitlines()
    required = set(re.findall(r"\$\{(\w+):\?", "\n".join(line for line in lines if not line.lstrip().startswith("#"))))
    header = "\n".join(line for line in lines if line.startswith("#"))
    ci_header = "\n".join(line for line in GITLAB_CI.read_text(encoding="utf-8").splitlines() if line.startswith("#"))
    assert sorted(name for name in required if name not in header) == []
    assert sorted(name for name in required if name not in ci_header) == []


def test_mongo_runs_as_a_replica_set(compose):
    command = compose["services"]["mongo"]["command"]
    command = command if isinstance(command, str) else " ".join(command)
    assert "--replSet rs0" in command
    init = compose["services"]["mongo-init"]
    assert "rs.initiate" in " ".join(init["command"]) and "rs0" in " ".join(init["command"])


def test_one_shot_jobs_are_not_restarted_and_gate_their_dependents(compose):
    services = compose["services"]
    for name in ONE_SHOT_JOBS:
        assert services[name].get("restart") == "no", name
    assert services["mongo-init"]["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert "mc mb --ignore-existing" in " ".join(services["minio-init"]["command"])


def test_compose_references_exist(compose):
    services = compose["services"]
    declared_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        depends_on = service.get("depends_on") or {}
        unknown = set(depends_on) - set(services)
        assert not unknown, f"{name} depends on unknown services {sorted(unknown)}"
        assert name not in depends_on, f"{name} depends on itself"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source and not source.startswith((".", "/", "$")):
                assert source in declared_volumes, f"{name} mounts undeclared volume {source}"
    for data_service in ("postgres", "neo4j", "mongo", "minio", "mlflow"):
        assert services[data_service].get("volumes"), f"{data_service} keeps its data in no volume"


def _published(service: dict) -> list[tuple[str, str]]:
    """(host address, "host port:container port") of each published port; "" for every interface."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.append((port.get("host_ip", ""), f"{port.get('published')}:{port.get('target')}"))
        else:
            parts = str(port).rsplit(":", 2)
            out.append(("", ":".join(parts)) if len(parts) < 3 else (parts[0].strip("[]"), ":".join(parts[1:])))
    return out


def test_only_the_airflow_api_server_is_published_beyond_the_host(compose):
    # MLflow has no login and its models are pickles the workers load: it must not listen beyond the loopback.
    public = {(name, mapping) for name, svc in compose["services"].items() for host, mapping in _published(svc)
              if host not in ("127.0.0.1", "::1")}  # fmt: skip
    assert public == {("airflow-apiserver", "8080:8080")}
    assert _published(compose["services"]["mlflow"]) == [("127.0.0.1", "5000:5000")]
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("### Published ports", 1)[1].split("\n#", 1)[0]
    for name, svc in compose["services"].items():
        for host, mapping in _published(svc):
            shown = f"{host}:{mapping}" if host else mapping
            assert f"`{name}`" in table and f"`{shown}`" in table, f"README's Published ports omits {name} {shown}"


def test_workers_hold_the_model_signing_secret_and_mlflow_does_not(compose):
    common = _environment(compose["x-airflow-common"])
    assert REQUIRED_REF.match(common["MATHLABEL_MLFLOW__SIGNING_SECRET"])
    assert not any("SIGNING" in value for value in _environment(compose["services"]["mlflow"]).values())


def test_the_environment_file_is_never_committed():
    out = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=PROJECT_ROOT, timeout=30)
    assert out.returncode == 0, ".env is not in .gitignore"


def test_no_secret_has_a_literal_value(compose):
    blocks = {"x-airflow-common": compose["x-airflow-common"], **compose["services"]}
    offenders = []
    for block_name, block in blocks.items():
        for name, value in _environment(block).items():
            if SECRET_NAME.search(name) and not REQUIRED_REF.match(value):
                offenders.append(f"{block_name}.{name}")
            for password in URI_PASSWORD.findall(value):
                if password and not REQUIRED_REF.match(password):
                    offenders.append(f"{block_name}.{name} (password in a URI)")
            if value.lstrip().startswith("{"):
                for key, secret in json.loads(value).items():
                    if SECRET_NAME.search(key) and not REQUIRED_REF.match(str(secret)):
                        offenders.append(f"{block_name}.{name}.{key}")
        neo4j_auth = _environment(block).get("NEO4J_AUTH")
        if neo4j_auth is not None and not REQUIRED_REF.match(neo4j_auth.split("/", 1)[1]):
            offenders.append(f"{block_name}.NEO4J_AUTH")
    assert offenders == [], f"secrets with a literal value (use ${{VAR:?message}}): {offenders}"


def test_secret_variables_are_never_given_a_default():
    # ${POSTGRES_PASSWORD:-x} or ${POSTGRES_PASSWORD-x} anywhere, comments included.
    text = COMPOSE.read_text(encoding="utf-8")
    defaults = re.findall(r"\$\{(\w*(?:PASSWORD|SECRET|FERNET|JWT)\w*)(?::?-|:?\+)", text, re.IGNORECASE)
    assert defaults == [], f"secret variables with a default value: {defaults}"


# --- .gitlab-ci.yml -------------------------------------------------------------------------------------------------


def test_gitlab_ci_stages(gitlab_ci):
    assert gitlab_ci["stages"] == ["lint", "test", "build", "deploy"]


def test_gitlab_ci_references_exist(gitlab_ci, jobs):
    for name, job in jobs.items():
        assert job.get("stage", "test") in gitlab_ci["stages"], f"{name} is in an undeclared stage"
        for need in job.get("needs", []):
            need = need if isinstance(need, str) else need["job"]
            assert need in jobs, f"{name} needs unknown job {need}"


def test_gitlab_ci_test_job_runs_make_test(jobs):
    assert any("make test" in _script(job) for job in jobs.values() if job.get("stage") == "test")


def test_gitlab_ci_lint_job_runs_ruff_through_make_lint(jobs):
    assert any("make lint" in _script(job) for job in jobs.values() if job.get("stage") == "lint")
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    lint_recipe = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check" in lint_recipe and "ruff format --check" in lint_recipe


def test_gitlab_ci_builds_the_airflow_image_on_the_default_branch_only(jobs):
    (build,) = [job for job in jobs.values() if job.get("stage") == "build"]
    assert "docker build -f docker/airflow.Dockerfile" in _script(build)
    assert "docker push" in _script(build)
    assert [rule["if"] for rule in build["rules"]] == ["$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"]


def test_gitlab_ci_production_needs_a_person_and_staging_does_not(jobs):
    production = _deploy_job(jobs, "production")
    staging = _deploy_job(jobs, "staging")
    assert _is_manual(production)
    assert production.get("allow_failure", False) is False
    assert all(rule.get("allow_failure", False) is False for rule in production.get("rules", []))
    assert not _is_manual(staging)
    for job in (production, staging):
        assert "docker compose" in _script(job)


def test_gitlab_ci_holds_no_secret(gitlab_ci):
    def walk(node, path=""):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                yield from walk(value, f"{path}[{index}]")
        else:
            yield path, str(node)

    for path, value in walk(gitlab_ci):
        last = path.rsplit(".", 1)[-1]
        if SECRET_NAME.search(last):
            assert value.startswith("$"), f"{path} has a literal value"
        for password in URI_PASSWORD.findall(value):
            assert password.startswith("$"), f"{path} has a password in a URI"


# --- docker/airflow.Dockerfile --------------------------------------------------------------------------------------


def test_dockerfile_extends_the_official_airflow_image_and_installs_the_pins():
    lines = [line.strip() for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()]
    instructions = [line for line in lines if line and not line.startswith("#")]
    assert instructions[0].startswith("FROM apache/airflow:3.3"), instructions[0]
    pinned = re.search(r"^apache-airflow==([\d.]+)$", (PROJECT_ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert pinned and instructions[0].startswith(f"FROM apache/airflow:{pinned.group(1)}-"), (
        "the base image and requirements.txt must name the same Airflow"
    )
    text = "\n".join(instructions)
    assert re.search(r"pip install [^\n]*-r \S*requirements\.txt", text)
    assert re.search(r"pip install [^\n]*--no-deps", text)
    assert "COPY --chown=airflow:0 dags/ /opt/airflow/dags/" in text


def test_the_image_installs_the_debian_packages_the_makefile_installs():
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    packages = re.search(r"^DEB_PACKAGES := (.+)$", makefile, re.MULTILINE).group(1).split()
    installed = re.search(r"apt-get install -y --no-install-recommends((?:\s|\\)+[^&]+)", DOCKERFILE.read_text())
    assert installed, "the Dockerfile installs no Debian packages"
    assert set(packages) <= set(installed.group(1).replace("\\", " ").split()), packages
