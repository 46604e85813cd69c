"""Airflow's OpenTelemetry metrics backend with an in-process reader, to see what reached Airflow's metrics
(import the fixture where it is used)."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def otel_metrics():
    """Airflow's metrics client (``plugins.mathlabel_metrics.stats``) backed by Airflow's own OTel logger, read in
    process: yields ``read()``, which returns {metric name: [(attributes, value)]} of what was recorded so far."""
    from airflow.sdk._shared.observability.metrics import stats as client
    from airflow.sdk._shared.observability.metrics.otel_logger import SafeOtelLogger
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    logger = SafeOtelLogger(MeterProvider(metric_readers=[reader]))
    saved = client._factory
    client.initialize(factory=lambda: logger, export_legacy_names=False)

    def read() -> dict[str, list[tuple[dict[str, Any], float]]]:
        out: dict[str, list[tuple[dict[str, Any], float]]] = {}
        data = reader.get_metrics_data()
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        value = getattr(point, "value", None)
                        if value is None:  # a histogram: its observations' sum (milliseconds for timings)
                            value = point.sum
                        out.setdefault(metric.name, []).append((dict(point.attributes or {}), value))
        return out

    try:
        yield read
    finally:
        client.initialize(factory=saved or _none, export_legacy_names=False)


def _none():
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger

    return NoStatsLogger()


def total(read: dict[str, list[tuple[dict[str, Any], float]]], name: str, **tags: Any) -> float:
    """The sum of ``name``'s points whose attributes include ``tags``."""
    return sum(v for attrs, v in read.get(name, []) if all(attrs.get(k) == w for k, w in tags.items()))
