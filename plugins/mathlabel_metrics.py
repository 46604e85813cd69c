"""The domain's events (``labeling.events``) as Airflow metrics: they go wherever Airflow's own go, StatsD or
OpenTelemetry as ``[metrics]`` configures (``statsd_on`` / ``otel_on``; with neither, nowhere).

Metrics go through the Task SDK's client, ``airflow.sdk.observability.stats`` (Airflow 3's replacement for
``airflow.stats.Stats``): the task runner initializes it from ``[metrics]`` before a task runs. A process that has
not (the API server initializes only the core's copy; ``dag.test()`` runs tasks in the test's process) gets it
initialized the same way on the first metric. Tags are OpenTelemetry attributes; StatsD drops them unless
``statsd_influxdb_enabled`` (or Datadog) is on. Names are listed in the README, "Metrics and alerts".

Registration is explicit: ``register_metrics()`` adds the listener once per process, and the places that run
domain code call it: the DAGs' run builders (every labeling and retraining task) and the review app. Importing this
module registers nothing, so a test or the CLI decides whether it listens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import singledispatchmethod
from statistics import fmean
from typing import Any

from labeling import events

log = logging.getLogger(__name__)
PREFIX = "mathlabel"
SCORE_BUCKETS = 10  # the top-1 score histogram: [0, 0.1), ..., [0.9, 1.0]


def stats() -> Any:
    """Airflow's metrics client (the Task SDK's), initialized from ``[metrics]`` if this process has not yet."""
    from airflow.sdk._shared.observability.metrics import stats as client

    if client._factory is None:  # only task runners (and processes importing airflow.sdk.serde) initialize it
        from airflow.sdk.configuration import conf
        from airflow.sdk.observability.metrics.stats_utils import get_stats_factory

        legacy = conf.getboolean("metrics", "legacy_names_on", fallback=False)
        client.initialize(factory=get_stats_factory(), export_legacy_names=legacy)
    return client


def score_bucket(score: float) -> str:
    """The histogram bucket of a top-1 score, by its lower bound: ``0.0`` ... ``0.9`` (1.0 falls in ``0.9``)."""
    index = min(SCORE_BUCKETS - 1, max(0, int(float(score) * SCORE_BUCKETS)))
    return f"{index / SCORE_BUCKETS:.1f}"


class MetricsListener:
    """A ``labeling.events`` listener that emits each event as Airflow metrics through ``client``."""

    def __init__(self, client: Callable[[], Any] = stats) -> None:
        self._client = client

    def __call__(self, event: events.Event) -> None:
        self.on(event)

    @singledispatchmethod
    def on(self, event: Any) -> None:
        """Events this listener has no metric for are ignored."""

    @on.register
    def _(self, event: events.ChunkLabeled) -> None:
        s = self._client()
        tags = {"curriculum": event.curriculum, "model_version": event.model_version}
        for what in ("labeled", "skipped", "quarantined", "needs_review", "auto_accepted"):
            count = getattr(event, what)
            if count:
                s.incr(f"{PREFIX}.problems.{what}", count, tags=tags)
        for bucket, count in _histogram(event.top_scores).items():
            s.incr(f"{PREFIX}.problems.top1_score", count, tags=tags | {"bucket": bucket})
        for stage, seconds in event.stage_seconds.items():
            s.timing(f"{PREFIX}.stage.{stage}", timedelta(seconds=seconds), tags=tags)
        rated = event.labeled + event.skipped  # the problems that have a stored document
        if rated:
            s.gauge(f"{PREFIX}.run.needs_review_rate", event.needs_review / rated, tags=tags)
            s.gauge(f"{PREFIX}.run.auto_accept_rate", event.auto_accepted / rated, tags=tags)
        if event.top_scores:
            s.gauge(f"{PREFIX}.run.top1_score_mean", fmean(event.top_scores), tags=tags)
        if event.ocr_confidences:
            s.gauge(f"{PREFIX}.run.ocr_confidence_mean", fmean(event.ocr_confidences), tags=tags)
        if event.seconds > 0 and event.problems:
            s.gauge(f"{PREFIX}.run.problems_per_second", event.problems / event.seconds, tags=tags)

    @on.register
    def _(self, event: events.RecordQuarantined) -> None:
        tags = {"reason_kind": event.reason_kind}
        self._client().incr(f"{PREFIX}.problems.quarantined", event.records, tags=tags)

    @on.register
    def _(self, event: events.LLMError) -> None:
        self._client().incr(f"{PREFIX}.llm.errors", tags={"llm_version": event.llm_version})

    @on.register
    def _(self, event: events.ReviewDecided) -> None:
        tags = {"decision": event.decision, "kept_top1": str(event.kept_top1).lower(),
                "model_version": event.model_version, "curriculum": event.curriculum}  # fmt: skip
        self._client().incr(f"{PREFIX}.review.decisions", tags=tags)

    @on.register
    def _(self, event: events.QueueMeasured) -> None:
        s = self._client()
        s.gauge(f"{PREFIX}.review.queue_size", event.size)
        if event.oldest_age_seconds is not None:
            s.gauge(f"{PREFIX}.review.oldest_age_seconds", event.oldest_age_seconds)

    @on.register
    def _(self, event: events.ModelTrained) -> None:
        self._model(event, "trained")

    @on.register
    def _(self, event: events.ModelPromoted) -> None:
        self._model(event, "promoted")

    def _model(self, event: events.ModelTrained | events.ModelPromoted, what: str) -> None:
        s = self._client()
        tags = {"model_version": event.version, "curriculum": event.curriculum}
        s.incr(f"{PREFIX}.model.{what}", tags=tags)
        if event.holdout_top1 is not None:
            s.gauge(f"{PREFIX}.model.holdout_top1", event.holdout_top1, tags=tags | {"event": what})


def _histogram(scores: Iterable[float]) -> dict[str, int]:
    out: dict[str, int] = {}
    for score in scores:
        bucket = score_bucket(score)
        out[bucket] = out.get(bucket, 0) + 1
    return out


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    """One review API request: counted by route template, method and status, and timed (never raises)."""
    try:
        s = stats()
        tags = {"route": route, "method": method, "status": str(status)}
        s.incr(f"{PREFIX}.api.requests", tags=tags)
        s.timing(f"{PREFIX}.api.latency", timedelta(seconds=seconds), tags={"route": route, "method": method})
    except Exception:  # metrics must never fail a request
        log.exception("cannot record the metrics of %s %s", method, route)


LISTENER = MetricsListener()


def register_metrics() -> None:
    """Make this process's domain events Airflow metrics (once; calling it again changes nothing)."""
    events.add_listener(LISTENER)
