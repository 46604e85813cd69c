"""Training snapshots: the verified labels of a night, frozen as files, and the frozen evaluation hold-out.

A snapshot is ``input-data/snapshots/<date>/<sha12>/`` with ``train.jsonl`` (problem records with ``labels``) and
``manifest.json`` (counts, hashes, where the data came from, the hold-out it was cut against). Its folder is named
by the hash of its training file and of that hold-out, so a retried task writes the same files and a snapshot never
changes.

The hold-out is ``input-data/holdout/<curriculum>/v<N>/holdout.jsonl``: the problems whose key hashes into the
hold-out share. The first time (or when a new version is asked for) it is only a candidate, kept as ``holdout.jsonl``
in the snapshot's folder; ``freeze_holdout`` makes it version N once the snapshot has validated, so a run that fails
validation freezes nothing. A problem in the hold-out share is never trained on, whether or not it
is in the frozen file yet, so nothing leaks into training later.

A record is identified by its ``key`` (``record_key``): a verified problem's ``problem_key``, written only where it
differs from the id (a problem of a named set, ``set1.jsonl#1``). Records verified by their bare id, and the hold-out
they fall in, stay exactly as they were; two sets that reuse an id are two problems.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from posixpath import join
from typing import Any

from labeling.index import current_verified
from labeling.ingest import jsonl_lines, parse_file
from labeling.schemas import Problem, stored_problem_key
from stores.labels import LabelStore
from stores.objects import ObjectStore
from training.errors import TrainingError

SNAPSHOTS = "input-data/snapshots"
HOLDOUT = "input-data/holdout"
EXTRA = "input-data/text"  # more labeled problem files (JSONL/CSV) to train on; never evaluated on
RECORD_FIELDS = ("id", "text", "school", "grade", "course", "unit", "labels")


@dataclass
class Snapshot:
    prefix: str
    train_key: str
    holdout_key: str  # where the hold-out's rows are now: the frozen file, or the candidate in the snapshot's folder
    manifest: dict[str, Any]  # manifest["holdout"]["key"]: the frozen file, once frozen

    @property
    def manifest_key(self) -> str:
        return join(self.prefix, "manifest.json")

    @property
    def holdout_frozen(self) -> bool:
        return self.holdout_key == self.manifest["holdout"]["key"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"manifest_key": self.manifest_key}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        """The snapshot a task passed on (``to_dict``, through XCom)."""
        return cls(data["prefix"], data["train_key"], data["holdout_key"], data["manifest"])


def in_holdout_share(key: str, share: float) -> bool:
    """Whether the problem ``key`` (``record_key``) hashes into the hold-out share."""
    bucket = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return bucket < share


def record_key(row: dict[str, Any]) -> str:
    """A training or hold-out record's identity: its ``key`` when it has one, else its id."""
    return row.get("key") or row["id"]


def content_key(row: dict[str, Any]) -> str:
    """What makes two records the same problem: text and metadata (not the id)."""
    payload = {k: row.get(k) for k in ("text", "school", "grade", "course", "unit")}
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def slug(curriculum: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "+", curriculum)


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode()


def read_jsonl(objects: ObjectStore, key: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in jsonl_lines(objects.read_bytes(key).decode()) if line.strip()]


def _record(doc: dict[str, Any]) -> dict[str, Any]:
    """A verified-label document as a problem record with labels (and where it came from). A reviewed machine
    label keeps the problem's metadata in ``metadata``, an imported verification in ``input`` too."""
    given = {**(doc.get("metadata") or {}), **{k: v for k, v in (doc.get("input") or {}).items() if v is not None}}
    record = {"id": doc["problem_id"], "labels": list(doc["labels"]), "curriculum": doc["curriculum"]}
    if (key := stored_problem_key(doc)) != doc["problem_id"]:
        record["key"] = key
    record.update({k: given[k] for k in ("text", "school", "grade", "course", "unit") if given.get(k) is not None})
    record["source"] = f"verified:{doc['_id']}"
    return record


def _extra_records(objects: ObjectStore, curriculum: str) -> list[dict[str, Any]]:
    rows = []
    for key in objects.list(EXTRA):
        parsed = parse_file(key, objects.read_bytes(key))
        for _, problem in parsed.problems:
            if problem.labels and problem.text:
                rows.append({**problem.model_dump(include=set(RECORD_FIELDS), exclude_none=True),
                             "curriculum": curriculum, "source": objects.uri(key)})  # fmt: skip
    return rows


def _versions(objects: ObjectStore, curriculum: str) -> list[int]:
    prefix = join(HOLDOUT, slug(curriculum))
    found = {int(m.group(1)) for k in objects.list(prefix) if (m := re.search(r"/v(\d+)/manifest\.json$", k))}
    return sorted(found)


def _holdout_key(curriculum: str, version: int) -> str:
    return join(HOLDOUT, slug(curriculum), f"v{version}", "holdout.jsonl")


def current_holdout(
    objects: ObjectStore, curriculum: str, rows: list[dict[str, Any]], share: float, *, new_version: bool = False
) -> tuple[list[dict[str, Any]], dict[str, Any], bool]:
    """The hold-out to cut against: the latest frozen version of ``curriculum`` (rows, manifest, True), or, when there
    is none or ``new_version`` is asked for, a candidate made from ``rows`` (rows, manifest, False), not yet written."""
    versions = _versions(objects, curriculum)
    if versions and not new_version:
        key = _holdout_key(curriculum, versions[-1])
        manifest = json.loads(objects.read_bytes(join(posixpath.dirname(key), "manifest.json")))
        return read_jsonl(objects, key), {"key": key, **manifest}, True
    version = (versions[-1] + 1) if versions else 1
    held = sorted((r for r in rows if in_holdout_share(record_key(r), share)), key=lambda r: (r["id"], record_key(r)))
    manifest = {
        "key": _holdout_key(curriculum, version),
        "version": version,
        "curriculum": curriculum,
        "share": share,
        "problems": len(held),
        "sha256": hashlib.sha256(_jsonl(held)).hexdigest(),
    }
    return held, manifest, False


def freeze_holdout(objects: ObjectStore, snap: Snapshot) -> str:
    """Freeze the snapshot's candidate hold-out as its version, after the snapshot has validated; return the frozen
    file's key. A frozen hold-out stays as it is, and a retried freeze of the same rows writes nothing.

    Raises:
        TrainingError: another run froze that version with other problems meanwhile.
    """
    held = snap.manifest["holdout"]
    if snap.holdout_frozen:
        return held["key"]
    folder = posixpath.dirname(held["key"])
    manifest_key = join(folder, "manifest.json")
    if objects.exists(manifest_key):
        if json.loads(objects.read_bytes(manifest_key))["sha256"] == held["sha256"]:
            return held["key"]
        raise TrainingError(f"{folder} was frozen meanwhile with other problems; run again to cut against it")
    manifest = {k: v for k, v in held.items() if k not in ("key", "frozen")}
    manifest["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    objects.write_bytes(held["key"], objects.read_bytes(snap.holdout_key))
    objects.write_bytes(manifest_key, json.dumps(manifest, indent=2).encode())  # last: the version exists from here
    return held["key"]


def build_snapshot(
    objects: ObjectStore,
    reader: LabelStore,
    curriculum: str,
    *,
    date: str,
    holdout_share: float = 0.1,
    new_holdout: bool = False,
) -> Snapshot:
    """Read the current verified labels (through ``reader``, the read-only client) and the extra training files,
    cut them against the hold-out (the frozen one, or a candidate that ``freeze_holdout`` freezes once the snapshot
    validates) and write the snapshot."""
    verified = [_record(doc) for doc in current_verified(reader, curriculum)]
    extra = _extra_records(objects, curriculum)
    held, holdout, is_frozen = current_holdout(objects, curriculum, verified, holdout_share, new_version=new_holdout)
    held_keys, held_content = {record_key(r) for r in held}, {content_key(r) for r in held}
    candidates = [
        r for r in verified + extra
        if record_key(r) not in held_keys and not in_holdout_share(record_key(r), holdout_share)
    ]  # fmt: skip
    # A training problem identical to a hold-out problem (same text and metadata under another id) would leak it.
    train = sorted((r for r in candidates if content_key(r) not in held_content), key=lambda r: (r["id"], r["source"]))
    body = _jsonl(train)
    digest = hashlib.sha256(body).hexdigest()
    cut = f"{holdout['key']} {holdout['sha256']} {'frozen' if is_frozen else 'candidate'}"
    prefix = join(SNAPSHOTS, date, hashlib.sha256(body + cut.encode()).hexdigest()[:12])
    labels_count: dict[str, int] = {}
    for row in train:
        for code in row["labels"]:
            labels_count[code] = labels_count.get(code, 0) + 1
    manifest = {
        "curriculum": curriculum,
        "date": date,
        "verified": len(verified),
        "train": {
            "problems": len(train),
            "sha256": digest,
            "verified": sum(r["source"].startswith("verified:") for r in train),
        },
        "labels": dict(sorted(labels_count.items())),
        "holdout": {**holdout, "frozen": is_frozen},
        "dropped_as_hold_out_duplicates": len(candidates) - len(train),
        "held_back": sum(
            in_holdout_share(record_key(r), holdout_share) and record_key(r) not in held_keys for r in verified
        ),
        "sources": {"label_store": "verified labels, read-only client (secondaryPreferred)", "files": EXTRA},
    }
    train_key = join(prefix, "train.jsonl")
    holdout_key = holdout["key"] if is_frozen else join(prefix, "holdout.jsonl")
    if not objects.exists(join(prefix, "manifest.json")):
        objects.write_bytes(train_key, body)
        if not is_frozen:
            objects.write_bytes(holdout_key, _jsonl(held))
        objects.write_bytes(join(prefix, "manifest.json"), json.dumps(manifest, ensure_ascii=False, indent=2).encode())
    return Snapshot(prefix=prefix, train_key=train_key, holdout_key=holdout_key, manifest=manifest)


def problems(rows: list[dict[str, Any]]) -> list[Problem]:
    return [Problem.model_validate(row) for row in rows]
