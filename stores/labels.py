"""Label store: a MongoDB replica set in production, montydb on disk as the embedded default.

Label documents are keyed by ``_id = "<problem id>@<model version>"``: every write is an upsert on that key,
so re-running a run changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

LABELS = "labels"


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated


@runtime_checkable
class LabelStore(Protocol):
    """What the pipeline and the CLI need of the label store."""

    def upsert_labels(self, docs: list[dict[str, Any]]) -> UpsertResult:
        """Insert or replace label documents by ``_id``; ``created_at`` survives replacement."""

    def get_label(self, doc_id: str) -> dict[str, Any] | None: ...

    def find_labels(self, query: dict[str, Any] | None = None) -> list[dict[str, Any]]: ...

    def count_labels(self, query: dict[str, Any] | None = None) -> int: ...

    def ping(self) -> bool: ...


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class MongoLabelStore:
    """Label store over a pymongo ``Database`` (on Airflow, ``MongoHook(...).get_conn()[db]``)."""

    def __init__(self, database: Any) -> None:
        self.db = database
        self.labels = database[LABELS]

    def ensure_indexes(self) -> None:
        self.labels.create_index([("problem_id", 1)])
        self.labels.create_index([("run_id", 1)])
        self.labels.create_index([("decision.status", 1)])

    @staticmethod
    def _update_spec(doc: dict[str, Any], now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
        """Filter and update document of the upsert of ``doc``."""
        body = {k: v for k, v in doc.items() if k not in {"_id", "created_at"}}
        body["updated_at"] = now
        return {"_id": doc["_id"]}, {"$set": body, "$setOnInsert": {"created_at": now}}

    def upsert_labels(self, docs: list[dict[str, Any]]) -> UpsertResult:
        if not docs:
            return UpsertResult()
        from pymongo import UpdateOne

        now = _now()
        ops = [UpdateOne(*self._update_spec(doc, now), upsert=True) for doc in docs]
        result = self.labels.bulk_write(ops, ordered=False)
        return UpsertResult(inserted=result.upserted_count, updated=result.matched_count)

    def get_label(self, doc_id: str) -> dict[str, Any] | None:
        return self.labels.find_one({"_id": doc_id})

    def find_labels(self, query: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return list(self.labels.find(query or {}))

    def count_labels(self, query: dict[str, Any] | None = None) -> int:
        return self.labels.count_documents(query or {})

    def ping(self) -> bool:
        try:
            self.db.client.admin.command("ping")
            return True
        except Exception:
            return False


class EmbeddedLabelStore(MongoLabelStore):
    """The same store on montydb (SQLite files under ``var/labelstore``), which lacks ``bulk_write``."""

    def upsert_labels(self, docs: list[dict[str, Any]]) -> UpsertResult:
        now = _now()
        result = UpsertResult()
        for doc in docs:
            outcome = self.labels.update_one(*self._update_spec(doc, now), upsert=True)
            if outcome.upserted_id is not None:
                result.inserted += 1
            else:
                result.updated += 1
        return result

    def ensure_indexes(self) -> None:
        """montydb keeps no secondary indexes; queries scan, which is fine at embedded scale."""

    def ping(self) -> bool:
        try:
            self.labels.count_documents({})
            return True
        except Exception:
            return False

    @classmethod
    def open(cls, path: str, database: str = "mathlabel") -> EmbeddedLabelStore:
        """Open (creating if needed) the on-disk store at ``path``."""
        from pathlib import Path

        from montydb import MontyClient, set_storage

        folder = Path(path)
        if not (folder / "monty.storage.cfg").exists():
            folder.mkdir(parents=True, exist_ok=True)
            set_storage(str(folder), storage="sqlite", use_bson=False)
        return cls(MontyClient(str(folder))[database])
