"""The review package's errors; the API maps each to one HTTP status."""

from __future__ import annotations

from typing import Any


class ReviewError(Exception):
    """Base of the review package's errors."""


class DocumentNotFound(ReviewError):
    """No label document (or no crop) under that id: 404."""


class StaleVersion(ReviewError):
    """The document changed since the reviewer saw it: 409 with ``current`` (the document as it is now)."""

    def __init__(self, message: str, current: dict[str, Any]) -> None:
        super().__init__(message)
        self.current = current


class InvalidReview(ReviewError):
    """A review the curriculum or the document does not allow (a code not in the curriculum, nothing to accept): 422."""
