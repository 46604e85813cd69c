"""Connection ids to alert notifiers, on the Airflow side: where the domain's alerts, task failures and missed
deadlines go.

``alerts.connections`` names Airflow connections; each connection's type picks the notifier of its provider:
``smtp`` (e-mail, ``SmtpNotifier``), ``slackwebhook`` (``SlackWebhookNotifier``) or ``aws`` (SNS, ``SnsNotifier``
to ``alerts.sns_target_arn``). Secrets (SMTP password, webhook token, AWS keys) stay in the connections. With no
connection configured (the embedded stack) an alert is only logged.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from labeling.alerts import Alert, Notify, log_only
from mathlabel.config import Settings, get_settings

log = logging.getLogger(__name__)
SNS_SUBJECT_MAX = 100  # SNS refuses longer subjects


class AlertDeliveryError(RuntimeError):
    """An alert could not be delivered through one or more connections (the others were tried all the same)."""


def _conn_type(conn_id: str) -> str:
    from airflow.sdk import Connection

    return Connection.get(conn_id).conn_type or ""


def notifier_for(conn_id: str, alert: Alert, settings: Settings) -> Any:
    """The provider notifier that sends ``alert`` through connection ``conn_id``, by the connection's type.

    Raises:
        AlertDeliveryError: a connection of a type no notifier sends through, or a kind's setting missing.
    """
    kind, cfg = _conn_type(conn_id), settings.alerts
    if kind == "smtp":
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        if not cfg.email_to:
            raise AlertDeliveryError(f"{conn_id}: alerts.email_to names no recipient")
        body = f"<pre>{html.escape(alert.text)}</pre>"
        return SmtpNotifier(smtp_conn_id=conn_id, to=cfg.email_to, from_email=cfg.email_from or None,
                            subject=alert.subject, html_content=body)  # fmt: skip
    if kind == "slackwebhook":
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        return SlackWebhookNotifier(slack_webhook_conn_id=conn_id, text=f"*{alert.subject}*\n{alert.text}")
    if kind == "aws":
        from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

        if not cfg.sns_target_arn:
            raise AlertDeliveryError(f"{conn_id}: alerts.sns_target_arn names no topic")
        # SNS takes one line of ASCII under 100 characters as a subject; the message carries the rest
        subject = " ".join(alert.subject.split()).encode("ascii", "replace").decode()[:SNS_SUBJECT_MAX]
        return SnsNotifier(aws_conn_id=conn_id, target_arn=cfg.sns_target_arn, message=alert.text, subject=subject)
    raise AlertDeliveryError(f"{conn_id}: connection type {kind!r} has no alert notifier (smtp, slackwebhook, aws)")


def deliver(alert: Alert, settings: Settings | None = None, context: Any = None) -> None:
    """Send ``alert`` through every configured connection; one that fails does not stop the others.

    Raises:
        AlertDeliveryError: naming each connection that failed, after all were tried.
    """
    settings = settings or get_settings()
    if not settings.alerts.connections:
        log_only(alert)
        return
    failed = []
    for conn_id in settings.alerts.connections:
        try:
            # notify(), not the notifier's __call__: the alert's text is final, never a Jinja template
            notifier_for(conn_id, alert, settings).notify(context or {})
            log.info("alert sent through %s: %s", conn_id, alert.subject)
        except Exception as exc:  # every connection is tried; the failures are raised together
            log.exception("alert not sent through %s", conn_id)
            failed.append(f"{conn_id}: {type(exc).__name__}: {exc}")
    if failed:
        raise AlertDeliveryError("; ".join(failed))


def notify(settings: Settings | None = None) -> Notify:
    """The domain's ``Notify`` (``labeling.alerts``) over the configured connections."""
    return lambda alert: deliver(alert, settings)


def check_quality(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """batch_labeling's quality_gate task: ``labeling.gate.check_run`` over the run's stores and these notifiers."""
    from labeling.gate import GateThresholds, check_run
    from operators.clients import build_stores

    settings = settings or get_settings()
    objects = build_stores(settings).objects
    return check_run(objects, run_id, GateThresholds.of(settings.quality_gate), notify(settings))


def check_champion_drift(curriculum: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """nightly_retraining's champion_drift task: the champion of ``curriculum`` (the configured one when None)
    against its hold-out top-1; ``{"status": "no_champion"}`` without one."""
    from labeling.index import expand_curricula
    from operators.clients import build_stores
    from training.drift import check_drift
    from training.registry import champion_ref

    settings = settings or get_settings()
    stores = build_stores(settings)
    curricula = expand_curricula(curriculum or settings.training.curriculum)
    alias = settings.labeling.model_alias  # "" = runs always label with the cold start: no champion to watch
    ref = champion_ref(stores.registry, curricula, alias) if alias else None
    if ref is None:
        return {"status": "no_champion", "curriculum": ",".join(curricula)}
    gate = settings.quality_gate
    return check_drift(stores.objects, stores.labels, ref.label, margin=gate.drift_margin,
                       min_reviews=gate.drift_min_reviews, notify=notify(settings), curriculum=",".join(curricula),
                       review_url=settings.labeling.review_url)  # fmt: skip


def _task_alert(context: Any, what: str) -> Alert:
    ti, dag_id = context.get("ti") or context.get("task_instance"), getattr(context.get("dag"), "dag_id", "?")
    run_id = context.get("run_id") or getattr(context.get("dag_run"), "run_id", "?")
    task_id = getattr(ti, "task_id", "?")
    error = context.get("exception")
    lines = [f"Task {task_id} of DAG {dag_id} {what} in run {run_id}"
             f" (try {getattr(ti, 'try_number', '?')}).",]  # fmt: skip
    if error is not None:
        lines.append(f"Error: {type(error).__name__}: {error}")
    link = getattr(ti, "log_url", "") or ""
    if link:
        lines.append(f"Log: {link}")
    return Alert(kind="task_failed", subject=f"[mathlabel] {dag_id}.{task_id} {what} (run {run_id})",
                 text="\n".join(lines), link=link)  # fmt: skip


def on_failure(context: Any) -> None:
    """Every DAG's ``on_failure_callback`` (task level, through ``default_args``): a task that failed after its
    retries sends one alert through the configured notifiers. A delivery error is logged; the task has failed
    already, and Airflow's own failure state stays the record."""
    try:
        deliver(_task_alert(context, "failed"), context=context)
    except Exception:
        log.exception("the failure alert could not be delivered")


def deadline_missed(context: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """The ``DeadlineAlert`` callback of batch_labeling and nightly_retraining (a ``SyncCallback``): the run is
    still going past its deadline. The scheduler passes ``context`` as a dict: ``dag_run`` (the REST API's DAG-run
    fields) and ``deadline`` (``deadline_time``)."""
    dag_run = (context or {}).get("dag_run") or {}
    dag_id = dag_run.get("dag_id") or kwargs.get("dag_id", "?")
    run_id = dag_run.get("dag_run_id") or dag_run.get("run_id") or "?"
    deadline = ((context or {}).get("deadline") or {}).get("deadline_time", "?")
    text = (f"DAG {dag_id}, run {run_id} (queued {dag_run.get('queued_at', '?')}, state {dag_run.get('state', '?')}),"
            f" is not finished by its deadline {deadline}.")  # fmt: skip
    deliver(Alert(kind="deadline_missed", subject=f"[mathlabel] {dag_id} missed its deadline (run {run_id})",
                  text=text))  # fmt: skip


def _deadline(reference: Any, interval: Any, name: str) -> Any:
    from airflow.sdk.definitions.callback import SyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert

    return DeadlineAlert(reference=reference, interval=interval, callback=SyncCallback(deadline_missed), name=name)


def batch_deadline() -> Any:
    """batch_labeling's deadline: ``alerts.batch_deadline_minutes`` after its run was queued (None with
    ``alerts.deadlines`` off). Read when the DAG is parsed (a DAG's deadline is part of its definition, as its
    schedule is)."""
    from datetime import timedelta

    from airflow.sdk.definitions.deadline import DeadlineReference

    alerts = get_settings().alerts
    if not alerts.deadlines:
        return None
    minutes = alerts.batch_deadline_minutes
    return _deadline(DeadlineReference.DAGRUN_QUEUED_AT, timedelta(minutes=minutes), "batch_labeling_late")


def nightly_deadline(schedule_hour: int = 2) -> Any:
    """nightly_retraining's deadline: ``alerts.nightly_finish_hour`` (in the schedule's time zone) after the
    ``schedule_hour`` its run's logical date falls on; the next day's when that hour is not later."""
    from datetime import timedelta

    from airflow.sdk.definitions.deadline import DeadlineReference

    alerts = get_settings().alerts
    if not alerts.deadlines:
        return None
    hours = (alerts.nightly_finish_hour - schedule_hour) % 24 or 24
    return _deadline(DeadlineReference.DAGRUN_LOGICAL_DATE, timedelta(hours=hours), "nightly_retraining_late")
