"""Label store: a MongoDB replica set in production, one SQLite file on disk as the embedded default.

Label documents are keyed by ``_id = "<problem id>@<model version>"``: every write is an upsert on that key,
so re-running a run writes the same documents again. Each document has a ``version``: 1 when first written, one more
on every later write. ``update_label`` writes only when the stored version is the one the caller read (optimistic
concurrency: two reviewers never overwrite each other silently) and can append an event to ``label_events``, the
append-only audit trail, with it. Opening a store gives documents written before versions their ``version`` and
``problem_key``, once. ``find_page`` reads a query's documents a page at a time, in the order of one
field, with an opaque cursor (keyset pagination: the last page's sort value and ``_id``), which the review queue uses.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from stores.errors import LabelNotFound, VersionConflict
from stores.sqlite_query import (
    COLUMNS,
    after_sql,
    count_json_values,
    decode,
    document,
    dumps,
    field_sql,
    json_path,
    param,
    regexp,
    sort_sql,
    where_sql,
)

log = logging.getLogger(__name__)

LABELS = "labels"
EVENTS = "label_events"  # the audit trail: append-only, one event per review, ``_id = "<label _id>#v<version>"``
SCHEMA_VERSION = 1  # an embedded store's PRAGMA user_version once every document has a version and a problem_key
MANAGED = frozenset({"_id", "created_at", "updated_at", "version"})  # set by the store, never by ``update_label``
Sort = list[tuple[str, int]]
MAX_PAGE = 1000


@dataclass
class UpsertResult:
    inserted: int = 0
    updated: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated


@dataclass
class Page:
    """One page of ``find_page``: its documents and the cursor of the next page (None after the last)."""

    docs: list[dict[str, Any]]
    cursor: str | None = None


@runtime_checkable
class LabelStore(Protocol):
    """What the pipeline and the CLI need of the label store."""

    def upsert_labels(self, docs: list[dict[str, Any]]) -> UpsertResult:
        """Insert or replace label documents by ``_id``; ``created_at`` survives replacement. A new document gets
        ``version`` 1, a replaced one its stored version plus one (a ``version`` in ``docs`` is ignored)."""

    def update_label(
        self, doc_id: str, changes: dict[str, Any], *, expected_version: int | None, event: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Set the top-level fields of ``changes`` (whole values) on one document, with ``version`` plus one and
        ``updated_at``, if its stored version is ``expected_version`` (None: whatever it is); return the document as
        written. With ``event``, append it to the audit trail as ``_id = "<doc_id>#v<new version>"`` with ``doc_id``
        and ``version`` (and ``at``, the update's time, unless it has one): on SQLite in the update's transaction,
        on MongoDB right after it.

        Raises:
            LabelNotFound: no document has ``doc_id``.
            VersionConflict: the stored version is another; its ``current`` is the stored document.
            ValueError: ``changes`` sets a field the store manages (``MANAGED``), a dotted or ``$`` field.
        """

    def append_events(self, events: list[dict[str, Any]]) -> int:
        """Append audit events (each with ``_id`` and ``doc_id``; ``at`` defaults to now), skipping those whose
        ``_id`` is stored already; return how many were new. Events are never updated or deleted."""

    def events_for(self, doc_ids: list[str]) -> list[dict[str, Any]]:
        """The audit events of these label documents, oldest first (by ``at``, then ``version``)."""

    def count_events(self, query: dict[str, Any] | None = None) -> int:
        """How many audit events match ``query`` (the query language of ``find_labels``)."""

    def get_label(self, doc_id: str) -> dict[str, Any] | None: ...

    def get_labels(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The stored documents among ``doc_ids``, by ``_id`` (missing ones are left out)."""

    def find_labels(
        self, query: dict[str, Any] | None = None, *, sort: Sort | None = None, limit: int = 0
    ) -> list[dict[str, Any]]:
        """The documents matching ``query``, ordered by ``sort`` (``[(field, 1 | -1), ...]``), at most ``limit``
        (0: all)."""

    def count_labels(self, query: dict[str, Any] | None = None) -> int: ...

    def find_page(
        self, query: dict[str, Any] | None = None, *, key: str, descending: bool = False, limit: int = 50,
        cursor: str | None = None,
    ) -> Page:  # fmt: skip
        """The documents matching ``query`` ordered by ``key`` then ``_id`` (missing values first, as in MongoDB;
        last when ``descending``), at most ``limit``, after the position ``cursor`` (from the previous page)
        names. A cursor only fits the same key and direction.

        Raises:
            ValueError: a cursor that is not one of this key and direction, or a limit outside 1..``MAX_PAGE``.
        """

    def count_values(self, field: str, query: dict[str, Any] | None = None) -> dict[Any, int]:
        """How many documents matching ``query`` hold each value of ``field`` (each element of an array, counted
        once per document); documents without it are left out."""

    def ensure_indexes(self) -> list[str]:
        """Create the indexes the queries need, if missing (idempotent); return their names."""

    def ping(self) -> bool: ...

    def reader(self) -> LabelStore:
        """A read-only view for bulk reads (training snapshots): MongoDB reads with readPreference
        ``secondaryPreferred`` (a replica-set secondary when there is one, never loading the primary); the
        embedded store opens its file read-only. Writes through it (audit events too) raise ``PermissionError``."""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _check_changes(changes: dict[str, Any]) -> None:
    for field in changes:
        if field in MANAGED or not field or "." in field or field.startswith("$"):
            raise ValueError(f"label store: update_label sets whole top-level fields, not {field!r}")


def _events(events: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """The events to append, each checked to have an ``_id`` and a ``doc_id``, with ``at`` now when missing."""
    for event in events:
        if not isinstance(event.get("_id"), str) or not isinstance(event.get("doc_id"), str):
            raise ValueError(f"label store: an audit event needs a string _id and doc_id, not {event!r}")
    return [event if event.get("at") is not None else {**event, "at": now} for event in events]


def _update_event(event: dict[str, Any], doc_id: str, version: int, now: datetime) -> dict[str, Any]:
    """The audit event of version ``version`` of ``doc_id``: its ``_id`` makes appending it twice a no-op."""
    return {"at": now, **event, "_id": f"{doc_id}#v{version}", "doc_id": doc_id, "version": version}


MONGO_INDEXES = (
    (("problem_id", 1),),
    (("problem_key", 1),),
    (("run_id", 1),),
    (("decision.status", 1),),
    # the review queue: a status, then by uncertainty (margin) or age, keyset-paged on _id
    (("decision.status", 1), ("margin", 1), ("_id", 1)),
    (("decision.status", 1), ("created_at", 1), ("_id", 1)),
    # a run's queue
    (("run_id", 1), ("decision.status", 1), ("margin", 1), ("_id", 1)),
    (("run_id", 1), ("decision.status", 1), ("created_at", 1), ("_id", 1)),
    # a curriculum's current verifications (training snapshots, the examples of the cold-start labeler)
    (("decision.status", 1), ("current", 1), ("curriculum", 1)),
)


# The problem_key of a document from before problem keys (MongoDB 4.2's pipeline update), as
# labeling.schemas.stored_problem_key computes it: "<batch_id>#<problem_id>" when it has a batch_id that its
# problem_id does not start with already (page ids: "scan.pdf#p1-2"), else problem_id.
_PREFIX = {"$concat": [{"$toString": {"$ifNull": ["$batch_id", ""]}}, "#"]}
_MONGO_PROBLEM_KEY = [
    {
        "$set": {
            "problem_key": {
                "$cond": [
                    {
                        "$and": [
                            {"$ne": [{"$ifNull": ["$batch_id", ""]}, ""]},
                            {"$ne": [{"$indexOfCP": [{"$toString": {"$ifNull": ["$problem_id", ""]}}, _PREFIX]}, 0]},
                        ]
                    },
                    {"$concat": [_PREFIX, {"$toString": "$problem_id"}]},
                    "$problem_id",
                ]
            }
        }
    }
]


class MongoLabelStore:
    """Label store over a pymongo ``Database`` (on Airflow, ``MongoHook(...).get_conn()[db]``): the collections
    ``labels`` and ``label_events`` (the audit trail). ``update_label`` is one conditional ``find_one_and_update``
    on ``_id`` and ``version``; its event is inserted right after it (a crash between the two loses the event)."""

    def __init__(self, database: Any) -> None:
        from bson.codec_options import CodecOptions

        self.db = database
        # Datetimes come back timezone-aware (UTC), as the embedded store returns them.
        self.labels = database[LABELS].with_options(codec_options=CodecOptions(tz_aware=True))
        self.events = database[EVENTS].with_options(codec_options=CodecOptions(tz_aware=True))

    @classmethod
    def open(cls, database: Any) -> MongoLabelStore:
        """The store over ``database``, its older documents migrated and its indexes ensured: how the CLI and the
        DAGs build it."""
        store = cls(database)
        store._migrate()
        store.ensure_indexes()
        return store

    def _migrate(self) -> None:
        """Give the documents written before versions and problem keys ``version`` 1 and their ``problem_key``
        (idempotent: a store with none left changes nothing)."""
        versions = self.labels.update_many({"version": {"$exists": False}}, {"$set": {"version": 1}}).modified_count
        missing = {"problem_key": None, "problem_id": {"$exists": True}}  # None: missing or null
        keys = self.labels.update_many(missing, _MONGO_PROBLEM_KEY).modified_count
        if versions or keys:
            log.info("label store: %d documents got a version, %d a problem_key", versions, keys)

    def ensure_indexes(self) -> list[str]:
        names = [self.labels.create_index(list(index)) for index in MONGO_INDEXES]
        return [*names, self.events.create_index([("doc_id", 1), ("at", 1)])]

    @staticmethod
    def _update_spec(doc: dict[str, Any], now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
        """Filter and update document of the upsert of ``doc``: ``$inc`` makes a new document's version 1."""
        body = {k: v for k, v in doc.items() if k not in {"_id", "created_at", "version"}}
        body["updated_at"] = now
        update = {"$set": body, "$setOnInsert": {"created_at": now}, "$inc": {"version": 1}}
        return {"_id": doc["_id"]}, update

    def upsert_labels(self, docs: list[dict[str, Any]]) -> UpsertResult:
        if not docs:
            return UpsertResult()
        from pymongo import UpdateOne

        now = _now()
        ops = [UpdateOne(*self._update_spec(doc, now), upsert=True) for doc in docs]
        result = self.labels.bulk_write(ops, ordered=False)
        return UpsertResult(inserted=result.upserted_count, updated=result.matched_count)

    def update_label(
        self, doc_id: str, changes: dict[str, Any], *, expected_version: int | None, event: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        from pymongo import ReturnDocument

        _check_changes(changes)
        now = _now()
        where = {"_id": doc_id} if expected_version is None else {"_id": doc_id, "version": expected_version}
        update = {"$set": {**changes, "updated_at": now}, "$inc": {"version": 1}}
        written = self.labels.find_one_and_update(where, update, return_document=ReturnDocument.AFTER)
        if written is None:  # missing, or at another version: tell which
            current = self.labels.find_one({"_id": doc_id})
            if current is None:
                raise LabelNotFound(doc_id)
            raise VersionConflict(doc_id, expected_version, current)
        if event is not None:
            self.append_events([_update_event(event, doc_id, written["version"], now)])
        return written

    def append_events(self, events: list[dict[str, Any]]) -> int:
        from pymongo.errors import BulkWriteError

        events = _events(events, _now())
        if not events:
            return 0
        try:
            return len(self.events.insert_many(events, ordered=False).inserted_ids)
        except BulkWriteError as exc:  # an event stored already is a duplicate key (11000): skipped, not an error
            details = exc.details
            if details.get("writeConcernErrors") or any(e.get("code") != 11000 for e in details["writeErrors"]):
                raise
            return details["nInserted"]

    def events_for(self, doc_ids: list[str]) -> list[dict[str, Any]]:
        cursor = self.events.find({"doc_id": {"$in": list(dict.fromkeys(doc_ids))}})
        return list(cursor.sort([("at", 1), ("version", 1), ("_id", 1)]))

    def count_events(self, query: dict[str, Any] | None = None) -> int:
        return self.events.count_documents(query or {})

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

    def find_page(
        self, query: dict[str, Any] | None = None, *, key: str, descending: bool = False, limit: int = 50,
        cursor: str | None = None,
    ) -> Page:  # fmt: skip
        after = _decode_cursor(cursor, key, descending, limit)
        where = query or {}
        if after is not None:
            where = {"$and": [where, _after_filter(key, descending, *after)]}
        way = -1 if descending else 1
        docs = list(self.labels.find(where).sort([(key, way), ("_id", way)]).limit(limit + 1))
        return _page(docs, key, descending, limit)

    def count_values(self, field: str, query: dict[str, Any] | None = None) -> dict[Any, int]:
        pipeline = [
            {"$match": query or {}},
            {"$project": {"v": {"$setUnion": [{"$cond": [{"$isArray": f"${field}"}, f"${field}", [f"${field}"]]}]}}},
            {"$unwind": "$v"},
            {"$match": {"v": {"$ne": None}}},
            {"$group": {"_id": "$v", "n": {"$sum": 1}}},
        ]
        return {row["_id"]: row["n"] for row in self.labels.aggregate(pipeline)}

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

    def update_label(
        self, doc_id: str, changes: dict[str, Any], *, expected_version: int | None, event: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        raise PermissionError("this label store client is read-only (readPreference secondaryPreferred)")

    def append_events(self, events: list[dict[str, Any]]) -> int:
        raise PermissionError("this label store client is read-only (readPreference secondaryPreferred)")

    def ensure_indexes(self) -> list[str]:
        raise PermissionError("this label store client is read-only (readPreference secondaryPreferred)")

    def reader(self) -> MongoLabelStore:
        return self


class EmbeddedLabelStore:
    """The label store in one SQLite file (stdlib ``sqlite3``, WAL mode), the embedded default.

    Each document is a JSON text keyed by ``_id``; ``created_at`` has a column of its own, so an upsert replaces
    the document and keeps it. Datetimes survive the round trip. ``problem_id`` and ``problem_key`` are indexed;
    ``decision.status``, ``current``, ``run_id`` and ``decision.reason_kinds`` are also virtual generated columns
    (``GENERATED``: their ``json_extract``, computed on read), which the queries use in their place, and the review
    queue's indexes hold them. The ``version`` of a document is bumped in the upsert's ``ON CONFLICT`` clause;
    ``update_label`` is one ``BEGIN IMMEDIATE`` transaction whose ``UPDATE`` is conditional on the version read,
    and whose audit event goes into the table ``label_events`` (``_id``, ``doc_id``, ``at``, the event's JSON) in
    the same transaction. ``PRAGMA user_version`` says the older documents were migrated (``SCHEMA_VERSION``).

    ``find_labels`` and ``count_labels`` (and ``count_events``) take the part of MongoDB's query language the
    project uses: equality, ``$in``, ``$nin``, ``$ne``, ``$exists`` and ``$gt``/``$gte``/``$lt``/
    ``$lte`` on top-level or dotted fields holding scalars, and ``$regex`` (with ``$options`` ``imsx``; Python's
    ``re``) on a string or an array of strings, matching when any element does. A numeric part of a dotted
    field is an array index (``candidates.0.score``). Any other query raises ``ValueError`` instead of answering
    differently from MongoDB. ``sort`` orders by scalar or datetime fields, missing ones first as in MongoDB.
    """

    INDEXED = ("problem_id", "problem_key")
    # Fields of the review queue as virtual columns: SQLite (before 3.41) reads the document again for an indexed
    # json_extract expression, but answers a count or a GROUP BY on indexed columns from the index alone.
    GENERATED: ClassVar[dict[str, str]] = {
        "decision.status": "v_status",
        "current": "v_current",
        "run_id": "v_run_id",
        "decision.reason_kinds": "v_reason_kinds",
    }
    # name → columns: the review queue by status (and run), then by uncertainty (margin) or age, keyset-paged on
    # _id (as MONGO_INDEXES). ``current`` and the reason kinds close each, so that whichever one the planner takes,
    # the queue's counts (the total, the documents per reason) are read from it alone.
    COUNTED = ("_id", "v_current", "v_reason_kinds")
    COMPOUND: ClassVar[dict[str, tuple[str, ...]]] = {
        "labels_status_margin": ("v_status", sort_sql("margin"), *COUNTED),
        "labels_status_age": ("v_status", "created_at", *COUNTED),
        "labels_run_status_margin": ("v_run_id", "v_status", sort_sql("margin"), *COUNTED),
        "labels_run_status_age": ("v_run_id", "v_status", "created_at", *COUNTED),
    }
    OBSOLETE = ("labels_run_id", "labels_decision_status", "labels_queue_margin", "labels_queue_age")  # on json_extract
    BATCH = 500  # ids per IN (...): well under SQLite's limit on bound parameters

    def __init__(self, path: str, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        # One connection serves every thread of a process (the review API's request threads): a transaction is the
        # connection's, so two threads must not interleave theirs (a second BEGIN fails, its ROLLBACK undoes the first).
        self._write_lock = threading.RLock()
        if read_only:
            target = Path(path).resolve().as_uri() + "?mode=ro"
            self.conn = sqlite3.connect(target, uri=True, timeout=60, isolation_level=None, check_same_thread=False)
            self.conn.create_function("mathlabel_regexp", 3, regexp, deterministic=True)
            self.generated = self._generated_columns()
            return
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self.conn.create_function("mathlabel_regexp", 3, regexp, deterministic=True)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS labels (_id TEXT PRIMARY KEY, created_at TEXT NOT NULL, doc TEXT NOT NULL)"
        )
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {EVENTS} "
            "(_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, at TEXT NOT NULL, doc TEXT NOT NULL)"
        )
        self._migrate()
        self.ensure_indexes()
        self.generated = self._generated_columns()

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

    def _migrate(self) -> None:
        """Give the documents written before versions and problem keys ``version`` 1 and their ``problem_key``
        (``MongoLabelStore._migrate`` in SQL), once: ``PRAGMA user_version`` records it, so later opens scan
        nothing."""
        if self.conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return
        batch, problem = "json_extract(doc, '$.batch_id')", "json_extract(doc, '$.problem_id')"
        key = (
            f"CASE WHEN coalesce({batch}, '') != '' AND substr({problem}, 1, length({batch}) + 1) IS NOT {batch} || '#'"
            f" THEN {batch} || '#' || {problem} ELSE {problem} END"
        )
        with self._transaction():  # another process may have migrated it meanwhile: ask again, inside
            if self.conn.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
                return
            versions = self.conn.execute(
                "UPDATE labels SET doc = json_set(doc, '$.version', 1) WHERE json_type(doc, '$.version') IS NULL"
            ).rowcount
            keys = self.conn.execute(
                f"UPDATE labels SET doc = json_set(doc, '$.problem_key', {key}) "
                "WHERE json_extract(doc, '$.problem_key') IS NULL AND json_type(doc, '$.problem_id') IS NOT NULL"
            ).rowcount
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        if versions or keys:
            log.info("label store %s: %d documents got a version, %d a problem_key", self.path, versions, keys)

    def _writable(self) -> None:
        if self.read_only:
            raise PermissionError(f"this label store is read-only (opened with mode=ro): {self.path}")

    def _generated_columns(self) -> dict[str, str]:
        """field → its virtual column, of those the file has (a file no writable store opened yet has none)."""
        have = {row[1] for row in self.conn.execute("PRAGMA table_xinfo(labels)")}
        return {field: column for field, column in self.GENERATED.items() if column in have}

    def _add_generated_columns(self) -> None:
        """Add the missing virtual columns: a change of the schema only, no row is rewritten."""
        if len(self._generated_columns()) == len(self.GENERATED):
            return
        with self._transaction():  # another process may have added them meanwhile: ask again, inside
            have = self._generated_columns()
            for field, column in self.GENERATED.items():
                if field not in have:
                    expression = f"json_extract(doc, '{json_path(field)}')"
                    self.conn.execute(f"ALTER TABLE labels ADD {column} GENERATED ALWAYS AS ({expression}) VIRTUAL")

    def ensure_indexes(self) -> list[str]:
        self._add_generated_columns()
        names = []
        for field in self.INDEXED:
            names.append("labels_" + field.replace(".", "_"))
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS {names[-1]} ON labels ({field_sql(field)})")
        for name, columns in self.COMPOUND.items():
            names.append(name)
            self.conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON labels ({', '.join(columns)})")
        for name in self.OBSOLETE:
            self.conn.execute(f"DROP INDEX IF EXISTS {name}")
        names.append(f"{EVENTS}_doc_id")
        self.conn.execute(f"CREATE INDEX IF NOT EXISTS {names[-1]} ON {EVENTS} (doc_id, at)")
        return names

    def upsert_labels(self, docs: list[dict[str, Any]]) -> UpsertResult:
        self._writable()
        if not docs:
            return UpsertResult()
        now = _now()
        bodies = {
            doc["_id"]: dumps(
                {k: v for k, v in doc.items() if k not in {"_id", "created_at", "version"}}
                | {"updated_at": now, "version": 1}
            )
            for doc in docs
        }
        with self._transaction():
            existing = sum(len(self._rows("_id IN", batch, "_id")) for batch in _batches(list(bodies), self.BATCH))
            self.conn.executemany(
                "INSERT INTO labels (_id, created_at, doc) VALUES (?, ?, ?) ON CONFLICT (_id) DO UPDATE SET "
                "doc = json_set(excluded.doc, '$.version', coalesce(json_extract(labels.doc, '$.version'), 0) + 1)",
                [(doc_id, now.isoformat(), body) for doc_id, body in bodies.items()],
            )
        return UpsertResult(inserted=len(bodies) - existing, updated=existing)

    def update_label(
        self, doc_id: str, changes: dict[str, Any], *, expected_version: int | None, event: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        _check_changes(changes)
        self._writable()
        now = _now()
        with self._transaction():  # the write lock first: nobody changes the document between the read and write
            row = self.conn.execute("SELECT _id, created_at, doc FROM labels WHERE _id = ?", [doc_id]).fetchone()
            if row is None:
                raise LabelNotFound(doc_id)
            current = document(row)
            stored = current.get("version")
            if expected_version is not None and stored != expected_version:
                raise VersionConflict(doc_id, expected_version, current)
            body = {k: v for k, v in current.items() if k not in {"_id", "created_at"}} | changes
            body |= {"updated_at": now, "version": (stored or 0) + 1}
            text = dumps(body)
            conditional = "UPDATE labels SET doc = ? WHERE _id = ? AND json_extract(doc, '$.version') IS ?"
            written = self.conn.execute(conditional, [text, doc_id, stored]).rowcount
            if written != 1:  # cannot happen under the lock; the write is conditional all the same
                raise VersionConflict(doc_id, expected_version, current)
            if event is not None:
                self._insert_events([_update_event(event, doc_id, body["version"], now)])
        return document((doc_id, row[1], text))

    def append_events(self, events: list[dict[str, Any]]) -> int:
        self._writable()
        events = _events(events, _now())
        if not events:
            return 0
        with self._transaction():
            return self._insert_events(events)

    def _insert_events(self, events: list[dict[str, Any]]) -> int:
        """Insert the events not stored yet (by ``_id``), inside the caller's transaction; return how many."""
        rows = [
            (e["_id"], e["doc_id"], param("at", e["at"]), dumps({k: v for k, v in e.items() if k != "_id"}))
            for e in events
        ]
        sql = f"INSERT INTO {EVENTS} (_id, doc_id, at, doc) VALUES (?, ?, ?, ?) ON CONFLICT (_id) DO NOTHING"
        return self.conn.executemany(sql, rows).rowcount

    def events_for(self, doc_ids: list[str]) -> list[dict[str, Any]]:
        sql = (
            f"SELECT _id, doc FROM {EVENTS} WHERE doc_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY at, json_extract(doc, '$.version'), rowid"
        )
        rows = self.conn.execute(sql, [json.dumps(list(dict.fromkeys(doc_ids)))])
        return [{"_id": event_id} | json.loads(body, object_hook=decode) for event_id, body in rows]

    def count_events(self, query: dict[str, Any] | None = None) -> int:
        where, params = where_sql(query or {})
        return self.conn.execute(f"SELECT count(*) FROM {EVENTS} WHERE {where}", params).fetchone()[0]

    def get_label(self, doc_id: str) -> dict[str, Any] | None:
        return self.get_labels([doc_id]).get(doc_id)

    def get_labels(self, doc_ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for batch in _batches(list(dict.fromkeys(doc_ids)), self.BATCH):
            found.update((row[0], document(row)) for row in self._rows("_id IN", batch))
        return found

    def find_labels(
        self, query: dict[str, Any] | None = None, *, sort: Sort | None = None, limit: int = 0
    ) -> list[dict[str, Any]]:
        where, params = where_sql(query or {}, self.generated)
        order = [f"{sort_sql(field)} {'ASC' if way == 1 else 'DESC'}" for field, way in _check_sort(sort or [])]
        sql = f"SELECT _id, created_at, doc FROM labels WHERE {where} ORDER BY {', '.join([*order, 'rowid'])}"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [document(row) for row in self.conn.execute(sql, params)]

    def count_labels(self, query: dict[str, Any] | None = None) -> int:
        where, params = where_sql(query or {}, self.generated)
        return self.conn.execute(f"SELECT count(*) FROM labels WHERE {where}", params).fetchone()[0]

    def find_page(
        self, query: dict[str, Any] | None = None, *, key: str, descending: bool = False, limit: int = 50,
        cursor: str | None = None,
    ) -> Page:  # fmt: skip
        after = _decode_cursor(cursor, key, descending, limit)
        where, params = where_sql(query or {}, self.generated)
        column = sort_sql(key)
        if after is not None:
            clause, values = after_sql(column, descending, *after)
            where, params = f"{where} AND {clause}", [*params, *values]
        way = "DESC" if descending else "ASC"
        sql = f"SELECT _id, created_at, doc FROM labels WHERE {where} ORDER BY {column} {way}, _id {way} LIMIT ?"
        docs = [document(row) for row in self.conn.execute(sql, [*params, limit + 1])]
        return _page(docs, key, descending, limit)

    def count_values(self, field: str, query: dict[str, Any] | None = None) -> dict[Any, int]:
        where, params = where_sql(query or {}, self.generated)
        if field in COLUMNS:
            sql = f"SELECT {field}, count(*) FROM labels WHERE {where} GROUP BY {field}"
        elif field in self.generated:  # grouped by the column (from an index that holds it), arrays split here
            column = self.generated[field]
            rows = self.conn.execute(f"SELECT {column}, count(*) FROM labels WHERE {where} GROUP BY {column}", params)
            return count_json_values(rows)
        else:  # json_each: the elements of an array, or the value itself; a document counts once per value
            each = f"json_each(labels.doc, '{json_path(field)}') AS v"
            sql = (
                f"SELECT v.value, count(DISTINCT labels._id) FROM labels, {each} "
                f"WHERE {where} AND v.type NOT IN ('null', 'object', 'array') GROUP BY v.value"
            )
        return dict(self.conn.execute(sql, params).fetchall())

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
        with self._write_lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")


# ------------------------------------------------------------------------------------------- pages and cursors


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_sort(sort: Sort) -> Sort:
    for field, way in sort:
        if way not in (1, -1):
            raise ValueError(f"label store: sort {field!r} by 1 or -1, not {way!r}")
    return list(sort)


def _value(doc: dict[str, Any], field: str) -> Any:
    """A dotted field's value in a document (None when missing)."""
    for part in field.split("."):
        if isinstance(doc, list) and part.isdigit():
            doc = doc[int(part)] if int(part) < len(doc) else None
        elif isinstance(doc, dict):
            doc = doc.get(part)
        else:
            return None
    return doc


def _encode_cursor(key: str, descending: bool, value: Any, doc_id: str) -> str:
    text = dumps({"key": key, "descending": descending, "value": value, "_id": doc_id})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None, key: str, descending: bool, limit: int) -> tuple[Any, str] | None:
    """The (sort value, ``_id``) a page starts after; checks the key, the limit and that the cursor fits them."""
    json_path(key)  # refuses a bad field name
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"label store: a page holds 1 to {MAX_PAGE} documents, not {limit}")
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        position = json.loads(base64.urlsafe_b64decode(padded.encode()), object_hook=decode)
        fits = position["key"] == key and position["descending"] is descending and isinstance(position["_id"], str)
    except (ValueError, TypeError, KeyError, binascii.Error):
        fits = False
    if not fits:
        raise ValueError(
            f"label store: the cursor is not one of a page ordered by {key!r}, {'de' if descending else 'a'}scending"
        )
    return position["value"], position["_id"]


def _page(docs: list[dict[str, Any]], key: str, descending: bool, limit: int) -> Page:
    """A page of ``limit`` out of ``docs`` (``limit + 1`` read, to know whether another page follows)."""
    if len(docs) <= limit:
        return Page(docs)
    last = docs[limit - 1]
    return Page(docs[:limit], _encode_cursor(key, descending, _value(last, key), last["_id"]))


def _after_filter(key: str, descending: bool, value: Any, doc_id: str) -> dict[str, Any]:
    """MongoDB: the documents after (``value``, ``doc_id``) in the order of ``key`` then ``_id``; a missing value
    sorts before any other."""
    if not descending:
        if value is None:
            return {"$or": [{key: None, "_id": {"$gt": doc_id}}, {key: {"$ne": None}}]}
        return {"$or": [{key: {"$gt": value}}, {key: value, "_id": {"$gt": doc_id}}]}
    if value is None:
        return {key: None, "_id": {"$lt": doc_id}}
    return {"$or": [{key: {"$lt": value}}, {key: value, "_id": {"$lt": doc_id}}, {key: None}]}
