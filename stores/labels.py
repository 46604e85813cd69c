"""Label store: a MongoDB replica set in production, one SQLite file on disk as the embedded default.

Label documents are keyed by ``_id = "<problem id>@<model version>"``: every write is an upsert on that key,
so re-running a run changes nothing.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)

LABELS = "labels"
Sort = list[tuple[str, int]]


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

    def get_labels(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored documents among ``doc_ids``, by ``_id`` (missing ones are left out)."""

    def find_labels(
        self, query: dict[str, Any] | None = None, *, sort: Sort | None = None, limit: int = 0
    ) -> list[dict[str, Any]]:
        """The documents matching ``query``, ordered by ``sort`` (``[(field, 1 | -1), ...]``), at most ``limit``
        (0: all)."""

    def count_labels(self, query: dict[str, Any] | None = None) -> int: ...

    def ping(self) -> bool: ...

    def reader(self) -> LabelStore:
        """A read-only view for bulk reads (training snapshots): MongoDB reads with readPreference
        ``secondaryPreferred`` (a replica-set secondary when there is one, never loading the primary); the
        embedded store opens its file read-only. Writes through it fail."""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class MongoLabelStore:
    """Label store over a pymongo ``Database`` (on Airflow, ``MongoHook(...).get_conn()[db]``)."""

    def __init__(self, database: Any) -> None:
        from bson.codec_options import CodecOptions

        self.db = database
        # Datetimes come back timezone-aware (UTC), as the embedded store returns them.
        self.labels = database[LABELS].with_options(codec_options=CodecOptions(tz_aware=True))

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

    def get_labels(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        return {doc["_id"]: doc for doc in self.labels.find({"_id": {"$in": list(set(doc_ids))}})}

    def find_labels(
        self, query: dict[str, Any] | None = None, *, sort: Sort | None = None, limit: int = 0
    ) -> list[dict[str, Any]]:
        cursor = self.labels.find(query or {})
        if sort:
            cursor = cursor.sort(_check_sort(sort))
        return list(cursor.limit(limit) if limit else cursor)

    def count_labels(self, query: dict[str, Any] | None = None) -> int:
        return self.labels.count_documents(query or {})

    def ping(self) -> bool:
        try:
            self.db.client.admin.command("ping")
            return True
        except Exception:
            return False

    def reader(self) -> MongoLabelStore:
        from pymongo import ReadPreference

        database = self.db.client.get_database(self.db.name, read_preference=ReadPreference.SECONDARY_PREFERRED)
        return _ReadOnlyMongoLabelStore(database)


class _ReadOnlyMongoLabelStore(MongoLabelStore):
    def upsert_labels(self, docs: list[dict[str, Any]]) -> UpsertResult:
        raise PermissionError("this label store client is read-only (readPreference secondaryPreferred)")

    def reader(self) -> MongoLabelStore:
        return self


class EmbeddedLabelStore:
    """The label store in one SQLite file (stdlib ``sqlite3``, WAL mode), the embedded default.

    Each document is a JSON text keyed by ``_id``; ``created_at`` has a column of its own, so an upsert replaces
    the document and keeps it. Datetimes survive the round trip. ``problem_id``, ``run_id`` and
    ``decision.status`` are indexed. ``find_labels`` and ``count_labels`` take the part of MongoDB's query
    language the project uses: equality, ``$in``, ``$nin``, ``$ne``, ``$exists`` and ``$gt``/``$gte``/``$lt``/
    ``$lte`` on top-level or dotted fields holding scalars, and ``$regex`` (with ``$options`` ``imsx``; Python's
    ``re``) on a string or an array of strings, matching when any element does. Any other query raises
    ``ValueError`` instead of answering differently from MongoDB. ``sort`` orders by scalar or datetime fields,
    missing ones first as in MongoDB.
    """

    INDEXED = ("problem_id", "run_id", "decision.status")
    BATCH = 500  # ids per IN (...): well under SQLite's limit on bound parameters

    def __init__(self, path: str, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        if read_only:
            target = Path(path).resolve().as_uri() + "?mode=ro"
            self.conn = sqlite3.connect(target, uri=True, timeout=60, isolation_level=None, check_same_thread=False)
            self.conn.create_function("mathlabel_regexp", 3, _regexp, deterministic=True)
            return
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self.conn.create_function("mathlabel_regexp", 3, _regexp, deterministic=True)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS labels (_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, doc TEXT NOT NULL)"
        )
        self.ensure_indexes()

    @classmethod
    def open(cls, path: str, database: str = "mathlabel") -> EmbeddedLabelStore:
        """Open (creating if needed) the store ``<database>.sqlite3`` in the folder ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / "monty.storage.cfg").exists():
            log.warning("%s also holds a montydb label store from an older version; it is not read", folder)
        return cls(str(folder / f"{database}.sqlite3"))

    def close(self) -> None:
        self.conn.close()

    def reader(self) -> EmbeddedLabelStore:
        return self if self.read_only else EmbeddedLabelStore(self.path, read_only=True)

    def ensure_indexes(self) -> None:
        for field in self.INDEXED:
            name = "labels_" + field.replace(".", "_")
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON labels ({_field_sql(field)})")

    def upsert_labels(self, docs: list[dict[str, Any]]) -> UpsertResult:
        if not docs:
            return UpsertResult()
        now = _now()
        bodies = {
            doc["_id"]: _dumps({k: v for k, v in doc.items() if k not in {"_id", "created_at"}} | {"updated_at": now})
            for doc in docs
        }
        with self._transaction():
            existing = sum(len(self._rows("_id IN", batch, "_id")) for batch in _batches(list(bodies), self.BATCH))
            self.conn.executemany(
                "INSERT INTO labels (_id, created_at, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (_id) DO UPDATE SET doc = excluded.doc",
                [(doc_id, now.isoformat(), body) for doc_id, body in bodies.items()],
            )
        return UpsertResult(inserted=len(bodies) - existing, updated=existing)

    def get_label(self, doc_id: str) -> dict[str, Any] | None:
        return self.get_labels([doc_id]).get(doc_id)

    def get_labels(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for batch in _batches(list(dict.fromkeys(doc_ids)), self.BATCH):
            found.update((row[0], _document(row)) for row in self._rows("_id IN", batch))
        return found

    def find_labels(
        self, query: dict[str, Any] | None = None, *, sort: Sort | None = None, limit: int = 0
    ) -> list[dict[str, Any]]:
        where, params = _where(query or {})
        order = [f"{_sort_sql(field)} {'ASC' if way == 1 else 'DESC'}" for field, way in _check_sort(sort or [])]
        sql = f"SELECT _id, created_at, doc FROM labels WHERE {where} ORDER BY {', '.join([*order, 'rowid'])}"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_document(row) for row in self.conn.execute(sql, params)]

    def count_labels(self, query: dict[str, Any] | None = None) -> int:
        where, params = _where(query or {})
        return self.conn.execute(f"SELECT count(*) FROM labels WHERE {where}", params).fetchone()[0]

    def ping(self) -> bool:
        try:
            self.conn.execute("SELECT count(*) FROM labels").fetchone()
            return True
        except sqlite3.Error:
            return False

    def _rows(self, condition: str, ids: list[str], columns: str = "_id, created_at, doc") -> list[tuple]:
        marks = ", ".join("?" * len(ids))
        return self.conn.execute(f"SELECT {columns} FROM labels WHERE {condition} ({marks})", ids).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")


# ------------------------------------------------------------------------------------- JSON and query helpers

_COMPARISONS = MappingProxyType({"$ne": "IS NOT", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="})
_COLUMNS = frozenset({"_id", "created_at"})  # kept in columns of their own, not in the JSON document
_REGEX_FLAGS = MappingProxyType({"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE})
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$date": value.isoformat()}
    raise TypeError(f"cannot store {type(value).__name__} in a label document")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$date" in obj:
        return datetime.fromisoformat(obj["$date"])
    return obj


def _dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, default=_encode, separators=(",", ":"))


def _document(row: tuple) -> dict[str, Any]:
    doc_id, created_at, body = row
    return {"_id": doc_id, "created_at": datetime.fromisoformat(created_at)} | json.loads(body, object_hook=_decode)


def _field_sql(field: str, value: Any = None) -> str:
    if field in _COLUMNS:
        return field
    if not _FIELD.fullmatch(field):
        raise ValueError(f"label store: unsupported field name {field!r}")
    suffix = '."$date"' if isinstance(value, datetime) else ""
    return f"json_extract(doc, '$.{field}{suffix}')"


def _sort_sql(field: str) -> str:
    """A field's sort key: a datetime sorts by its ISO text, anything else by its value."""
    if field in _COLUMNS:
        return field
    return f"coalesce({_field_sql(field, datetime.min)}, {_field_sql(field)})"


def _check_sort(sort: Sort) -> Sort:
    for field, way in sort:
        if way not in (1, -1):
            raise ValueError(f"label store: sort {field!r} by 1 or -1, not {way!r}")
    return list(sort)


@lru_cache(maxsize=64)
def _pattern(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def _regexp(pattern: str, flags: int, value: Any) -> bool:
    return isinstance(value, str) and _pattern(pattern, flags).search(value) is not None


def _regex_sql(field: str, pattern: Any, options: Any) -> tuple[str, list[Any]]:
    """``$regex``: a string field that matches, or an array with a string element that does (MongoDB's rule)."""
    if not isinstance(pattern, str) or not isinstance(options, str) or set(options) - set(_REGEX_FLAGS):
        raise ValueError(f"label store: $regex on {field!r} takes a string pattern and $options of {_REGEX_FLAGS!r}")
    flags = int(sum(_REGEX_FLAGS[o] for o in set(options)))
    try:
        _pattern(pattern, flags)
    except re.error as exc:
        raise ValueError(f"label store: bad $regex on {field!r}: {exc}") from exc
    if field in _COLUMNS:
        return f"mathlabel_regexp(?, ?, {field})", [pattern, flags]
    _field_sql(field)  # refuses a bad field name
    each = f"SELECT 1 FROM json_each(doc, '$.{field}') AS e WHERE e.type = 'text' AND mathlabel_regexp(?, ?, e.value)"
    return f"EXISTS ({each})", [pattern, flags]


def _param(field: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"label store: {field!r} can only be compared with a scalar, not {type(value).__name__}")


def _where(query: dict[str, Any]) -> tuple[str, list[Any]]:
    clauses, params = ["1"], []
    for field, condition in query.items():
        if field.startswith("$"):
            raise ValueError(f"label store: unsupported query operator {field!r}")
        ops = (
            condition
            if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition)
            else {"$eq": condition}
        )
        for op, value in ops.items():
            probe = value[0] if op in {"$in", "$nin"} and value else value
            column = _field_sql(field, probe)
            if op == "$eq":
                clauses.append(f"{column} IS ?")
                params.append(_param(field, value))
            elif op in _COMPARISONS:
                clauses.append(f"{column} {_COMPARISONS[op]} ?")
                params.append(_param(field, value))
            elif op in {"$in", "$nin"}:
                values = [_param(field, v) for v in value]
                marks = ", ".join("?" * len(values))
                inside = f"({column} IN ({marks}){' OR ' + column + ' IS NULL' if None in values else ''})"
                clauses.append(inside if op == "$in" else f"NOT {inside}")
                params.extend(values)
            elif op == "$regex":
                clause, values = _regex_sql(field, value, ops.get("$options", ""))
                clauses.append(clause)
                params.extend(values)
            elif op == "$options" and "$regex" in ops:
                continue
            elif op == "$exists":
                clauses.append(f"json_type(doc, '$.{field}') IS {'NOT ' if value else ''}NULL")
            else:
                raise ValueError(f"label store: unsupported query operator {op!r} on {field!r}")
    return " AND ".join(clauses), params
