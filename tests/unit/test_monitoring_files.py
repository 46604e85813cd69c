"""The monitoring stack's files: docker/monitoring/ and its services in docker-compose.yaml.

Nothing here runs a collector, Prometheus or Grafana (there is no Docker engine). promtool (Debian's `prometheus`
package, Makefile TEST_DEB_PACKAGES) checks and unit-tests the alert rules; the CI job `monitoring-rules` repeats
that with the promtool of the Prometheus image the stack runs. No JSON schema of Grafana dashboards is available
offline (Grafana publishes its dashboard model as CUE/TypeScript, not as a JSON schema), so the dashboard is held to
the invariants that break it in practice: its datasource exists, its panel ids are unique, and every metric its
queries name is one the collector exports or the rules record.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mathlabel.config import PROJECT_ROOT

MONITORING = PROJECT_ROOT / "docker" / "monitoring"
RULES_DIR = MONITORING / "prometheus" / "rules"
RULE_TESTS_DIR = MONITORING / "prometheus" / "tests"
DATASOURCES = MONITORING / "grafana" / "provisioning" / "datasources"
DASHBOARDS = MONITORING / "grafana" / "dashboards"
COMPOSE = PROJECT_ROOT / "docker-compose.yaml"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool missing: `make deb` installs `prometheus`")

# What the collector exports (docker/monitoring/otel-collector.yaml explains the naming): Airflow's `airflow.` prefix,
# dots to underscores, `_total` on counters, `_milliseconds` on timers (native histograms).
MATHLABEL_COUNTERS = [
    "mathlabel.problems.labeled",
    "mathlabel.problems.skipped",
    "mathlabel.problems.quarantined",
    "mathlabel.problems.needs_review",
    "mathlabel.problems.auto_accepted",
    "mathlabel.llm.errors",
    "mathlabel.review.decisions",
    "mathlabel.api.requests",
]
MATHLABEL_TIMERS = ["mathlabel.api.latency", "dagrun.duration.failed"]
MATHLABEL_GAUGES = [
    "mathlabel.run.needs_review_rate",
    "mathlabel.run.auto_accept_rate",
    "mathlabel.run.ocr_confidence_mean",
    "mathlabel.run.problems_per_second",
    "mathlabel.review.queue_size",
    "mathlabel.review.oldest_age_seconds",
    "mathlabel.model.holdout_top1",
]
# Families matched by a regex in a query (`mathlabel.stage.<stage>` timers).
EXPORTED_PATTERNS = [re.compile(r"airflow_mathlabel_stage_\w+_milliseconds")]
PROMQL_BUILTINS = {"up"}
# Words in PromQL that are not metric names: functions, keywords, label names in by/without/on lists.
PROMQL_WORDS = re.compile(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*")  # not the unit of a number (1h, 5m)


def _prometheus_name(name: str, suffix: str = "") -> str:
    return "airflow_" + name.replace(".", "_") + suffix


EXPORTED = (
    {_prometheus_name(name, "_total") for name in MATHLABEL_COUNTERS}
    | {_prometheus_name(name, "_milliseconds") for name in MATHLABEL_TIMERS}
    | {_prometheus_name(name) for name in MATHLABEL_GAUGES}
)


def _rule_groups() -> list[dict]:
    return [group for path in sorted(RULES_DIR.glob("*.yml")) for group in yaml.safe_load(path.read_text())["groups"]]


def _recorded() -> set[str]:
    return {rule["record"] for group in _rule_groups() for rule in group["rules"] if "record" in rule}


def _metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers followed by a selector, range or nothing.

    Strips strings, label matchers and grouping clauses first, so label names and values are not taken for metrics.
    """
    expr = re.sub(r'"[^"]*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "{}", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)
    names = set()
    for match in PROMQL_WORDS.finditer(expr):
        word, rest = match.group(0), expr[match.end() :].lstrip()
        if rest.startswith("("):  # a function or aggregation
            continue
        if word in {"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring", "inf", "nan"}:
            continue
        if re.fullmatch(r"\d[\w.]*|[\d.]+(ms|s|m|h|d|w|y)", word):
            continue
        names.add(word)
    return names


def _known(name: str, recorded: set[str]) -> bool:
    return (
        name in EXPORTED
        or name in recorded
        or name in PROMQL_BUILTINS
        or any(p.fullmatch(name) for p in EXPORTED_PATTERNS)
    )


# --- alert rules --------------------------------------------------------------------------------------------------


@needs_promtool
def test_promtool_accepts_the_rules():
    files = sorted(str(path) for path in RULES_DIR.glob("*.yml"))
    assert files, f"no rule files under {RULES_DIR}"
    out = subprocess.run([PROMTOOL, "check", "rules", *files], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_the_rules_pass_their_promtool_unit_tests():
    files = sorted(path.name for path in RULE_TESTS_DIR.glob("*.test.yml"))
    assert files, f"no rule tests under {RULE_TESTS_DIR}"
    out = subprocess.run(
        [PROMTOOL, "test", "rules", *files], capture_output=True, text=True, cwd=RULE_TESTS_DIR, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


@needs_promtool
def test_the_rule_tests_fail_when_a_threshold_moves(tmp_path):
    # A unit test that cannot fail proves nothing: raise the 5xx threshold and the error-rate test must break.
    rules = tmp_path / "rules"
    rules.mkdir()
    text = (RULES_DIR / "mathlabel.rules.yml").read_text()
    assert "mathlabel:api_5xx_ratio:rate5m > 0.05" in text
    (rules / "mathlabel.rules.yml").write_text(text.replace("rate5m > 0.05", "rate5m > 0.5"))
    (tmp_path / "tests").mkdir()
    shutil.copy(RULE_TESTS_DIR / "mathlabel.rules.test.yml", tmp_path / "tests")
    out = subprocess.run(
        [PROMTOOL, "test", "rules", "mathlabel.rules.test.yml"],
        capture_output=True,
        text=True,
        cwd=tmp_path / "tests",
        timeout=120,
    )
    assert out.returncode != 0 and "MathlabelApiErrorRateHigh" in out.stdout + out.stderr


def test_every_required_alert_exists_and_is_tested():
    alerts = {rule["alert"] for group in _rule_groups() for rule in group["rules"] if "alert" in rule}
    required = {
        "MathlabelApiErrorRateHigh",
        "MathlabelApiLatencyP95High",
        "MathlabelReviewQueueStale",
        "MathlabelDagRunFailed",
        "MathlabelNeedsReviewRateJump",
    }
    assert required <= alerts, sorted(required - alerts)
    tested = {
        case["alertname"]
        for path in RULE_TESTS_DIR.glob("*.test.yml")
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert alerts <= tested, f"alerts never shown to fire in a unit test: {sorted(alerts - tested)}"


def test_rules_name_only_metrics_that_exist():
    recorded = _recorded()
    unknown = {
        (rule.get("alert") or rule["record"], name)
        for group in _rule_groups()
        for rule in group["rules"]
        for name in _metric_names(rule["expr"])
        if not _known(name, recorded)
    }
    assert unknown == set(), f"rules query metrics nothing exports: {sorted(unknown)}"


# --- Grafana ------------------------------------------------------------------------------------------------------


def _datasource_uids() -> set[str]:
    return {
        source["uid"]
        for path in DATASOURCES.glob("*.yaml")
        for source in yaml.safe_load(path.read_text())["datasources"]
    }


def _panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # a collapsed row holds its panels
    return out


@pytest.fixture(scope="module", params=sorted(path.name for path in DASHBOARDS.glob("*.json")))
def dashboard(request) -> dict:
    return json.loads((DASHBOARDS / request.param).read_text())


DASHBOARD_SCHEMA = MONITORING / "grafana" / "dashboard.schema.json"


def _schema_errors(document: dict, tmp_path) -> str:
    """check-jsonschema's complaint about a dashboard against Grafana's schema ("" when it is valid)."""
    path = tmp_path / "dashboard.json"
    path.write_text(json.dumps(document))
    checker = Path(sys.executable).with_name("check-jsonschema")  # installed with the project (requirements.txt)
    command = [str(checker), "--schemafile", str(DASHBOARD_SCHEMA), str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return "" if done.returncode == 0 else done.stdout + done.stderr


def test_dashboards_match_grafanas_dashboard_schema(dashboard, tmp_path):
    """The schema is generated from @grafana/schema's Dashboard type (docker/monitoring/grafana/SCHEMA.md)."""
    assert _schema_errors(dashboard, tmp_path) == ""
    broken = json.loads(json.dumps(dashboard))
    broken["panels"][0]["gridPos"]["h"] = "tall"
    assert "is not of type 'number'" in _schema_errors(broken, tmp_path)


def test_dashboard_identity_and_panel_ids(dashboard):
    assert dashboard["uid"] and dashboard["title"] and isinstance(dashboard["schemaVersion"], int)
    ids = [panel["id"] for panel in _panels(dashboard)]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    for panel in _panels(dashboard):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, f"panel {panel['id']} overflows the 24-column grid"


def test_dashboard_uses_only_the_provisioned_datasource(dashboard):
    uids = _datasource_uids()
    for panel in _panels(dashboard):
        if panel["type"] == "row":
            continue
        sources = [panel.get("datasource")] + [target.get("datasource") for target in panel.get("targets", [])]
        for source in sources:
            assert source and source["uid"] in uids, f"panel {panel['title']!r} uses datasource {source}"


def test_dashboard_queries_name_only_metrics_that_exist(dashboard):
    recorded = _recorded()
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            names = _metric_names(target["expr"])
            names |= set(re.findall(r'__name__=~"([^"]+)"', target["expr"]))
            unknown = {name for name in names if not _known(name.replace(".+", "x").replace("\\", ""), recorded)}
            assert not unknown, f"panel {panel['title']!r} queries unknown metrics {sorted(unknown)}"


def test_dashboard_covers_runs_api_queue_and_agreement(dashboard):
    exprs = " ".join(target["expr"] for panel in _panels(dashboard) for target in panel.get("targets", []))
    for measure in (
        "airflow_mathlabel_run_needs_review_rate",
        "airflow_mathlabel_run_auto_accept_rate",
        "airflow_mathlabel_run_problems_per_second",
        "airflow_mathlabel_problems_quarantined_total",
        "mathlabel:api_requests:rate5m",
        "mathlabel:api_5xx_ratio:rate5m",
        "mathlabel:api_latency_p95_ms:rate5m",
        "airflow_mathlabel_review_queue_size",
        "airflow_mathlabel_review_oldest_age_seconds",
        "mathlabel:review_kept_top1_ratio:increase1d",
    ):
        assert measure in exprs, f"the dashboard does not show {measure}"


# --- docker-compose.yaml ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))["services"]


def test_compose_mounts_the_monitoring_files_that_exist(services):
    for name in ("otel-collector", "prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (PROJECT_ROOT / source).exists(), f"{name} mounts missing {source}"
    prometheus_yml = yaml.safe_load((MONITORING / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in prometheus_yml["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]]
    collector = yaml.safe_load((MONITORING / "otel-collector.yaml").read_text())
    assert f"otel-collector:{collector['exporters']['prometheus']['endpoint'].rsplit(':', 1)[1]}" in targets
    assert prometheus_yml["rule_files"] == ["/etc/prometheus/rules/*.yml"]


def test_airflow_sends_its_metrics_to_the_collector(services):
    collector = yaml.safe_load((MONITORING / "otel-collector.yaml").read_text())
    http = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    for name, service in services.items():
        if (service.get("build") or {}).get("dockerfile") != "docker/airflow.Dockerfile":
            continue
        env = service["environment"]
        assert env["AIRFLOW__METRICS__OTEL_ON"] == "true", name
        assert env.get("AIRFLOW__METRICS__OTEL_PREFIX", "airflow") == "airflow", name  # the names above assume it
        assert (
            env["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] == f"http://otel-collector:{http.rsplit(':', 1)[1]}/v1/metrics"
        )
        assert env["OTEL_EXPORTER_OTLP_METRICS_PROTOCOL"] == "http/protobuf", name


def test_grafana_takes_its_admin_password_from_the_environment(services):
    env = services["grafana"]["environment"]
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", env["GF_SECURITY_ADMIN_PASSWORD"])
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false" and env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def test_the_ci_checks_the_rules():
    ci = yaml.safe_load((PROJECT_ROOT / ".gitlab-ci.yml").read_text())
    scripts = "\n".join("\n".join(job.get("script", [])) for job in ci.values() if isinstance(job, dict))
    assert "promtool check rules docker/monitoring/prometheus/rules/" in scripts
    assert "promtool test rules" in scripts
