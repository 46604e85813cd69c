"""Alerts the domain raises (a run that breached the quality gate, a champion that drifted), and sending one once.

The domain builds an ``Alert`` and hands it to a ``Notify`` callable; it does not know where alerts go. The Airflow
side (``operators/alerts.py``) implements ``Notify`` with the notifiers of the configured connections (e-mail,
Slack, SNS); the CLI and tests pass their own.

An alert is sent at most once for what it is about (a run, a model version on a day): ``send_once`` records it in a
marker object, created with the object store's create-only write after the delivery succeeded. A delivery that
raises writes no marker, so the task fails and its retry sends again; a retry or a re-run after the marker was
written sends nothing. The one window left, a crash between delivery and marker, may repeat an alert: a duplicate
is preferred to a lost alert.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from stores.objects import ObjectStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """What one alert says. ``kind``: quality_gate, champion_drift, task_failed or deadline_missed."""

    kind: str
    subject: str
    text: str
    link: str = ""  # the report (or log) a person opens first


Notify = Callable[[Alert], None]


def log_only(alert: Alert) -> None:
    """The ``Notify`` of a stack with no alert connections configured: the alert goes to the log only."""
    log.warning("ALERT %s\n%s", alert.subject, alert.text)


def send_once(objects: ObjectStore, marker: str, alert: Alert, notify: Notify) -> bool:
    """Send ``alert`` unless the ``marker`` object says it was sent; True when it was sent now.

    Raises whatever ``notify`` raises (nothing is recorded then, so a retry sends it).
    """
    if objects.exists(marker):
        log.info("alert already sent (%s): %s", marker, alert.subject)
        return False
    notify(alert)
    record = {"sent_at": datetime.now(UTC).isoformat(timespec="seconds"), **asdict(alert)}
    if not objects.create(marker, json.dumps(record, ensure_ascii=False, indent=2).encode()):
        log.warning("another sender recorded %s first: this alert may have gone out twice", marker)
    return True
