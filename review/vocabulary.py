"""What a review request may say, kept apart from the workspace so the API's request models import nothing heavy
(Airflow loads the plugin in every process, the scheduler's and each task's included)."""

from __future__ import annotations

from dataclasses import dataclass

REJECTED = "rejected"
REJECT_REASONS = {
    "not_math": "not a math problem",
    "unreadable": "unreadable page",
    "duplicate": "a duplicate of another problem",
    "other": "rejected for another reason",
}
MAX_BULK = 500  # documents one bulk accept may name


@dataclass(frozen=True)
class BulkItem:
    """One document of a bulk accept: its id and the version the reviewer saw."""

    id: str
    version: int
