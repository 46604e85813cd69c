"""The stores package's exceptions: one base, and the label store's missing document and version conflict."""


class StoreError(Exception):
    """A store could not do what was asked (missing object, bad key, unreachable server)."""


class LabelNotFound(StoreError, LookupError):
    """No label document has this ``_id``."""

    def __init__(self, doc_id: str) -> None:
        super().__init__(f"no label document {doc_id!r}")
        self.doc_id = doc_id


class VersionConflict(StoreError):
    """A conditional update found the label document at another version; ``current`` is the stored document."""

    def __init__(self, doc_id: str, expected: int | None, current: dict) -> None:
        super().__init__(f"label document {doc_id!r} is at version {current.get('version')}, not {expected}")
        self.doc_id = doc_id
        self.expected = expected
        self.current = current
