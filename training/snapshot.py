"""Training snapshots: the verified labels of a night, frozen as files, and the frozen evaluation hold-out.

A snapshot is ``input-data/snapshots/<date>/<sha12>/`` with ``train.jsonl`` (problem records with ``labels``) and
``manifest.json`` (counts, hashes, where the data came from, the hold-out it was cut against). Its folder is named
by the hash of its training file, so a retried task writes the same files and a snapshot never changes.

The hold-out is ``input-data/holdout/<curriculum>/v<N>/holdout.jsonl``: the problems whose id hashes into the
hold-out share, frozen the first time it is made (or when a new version is asked for). A problem in the hold-out
share is never trained on, whether or not it is in the frozen file yet, so nothing leaks into training later.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from posixpath import join
from typing import Any

from labeling.index import current_verified
from labeling.ingest import parse_file
from labeling.schemas import Problem
from stores.labels import LabelStore
from stores.objects import ObjectStore

SNAPSHOTS = "input-data/snapshots"
HOLDOUT = "input-data/holdout"
EXTRA = "input-data/text"  # more labeled problem files (JSONL/CSV) to train on; never evaluated on
RECORD_FIELDS = ("id", "text", "school", "grade", "course", "unit", "labels")


@dataclass
class Snapshot:
    prefix: str
    train_key: str
    holdout_key: str
    manifest: dict[str, Any]

    @property
    def manifest_key(self) -> str:
        return join(self.prefix, "manifest.json")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"manifest_key": self.manifest_key}


def in_holdout_share(problem_id: str, share: float) -> bool:
    bucket = int(hashlib.sha256(problem_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return bucket < share


def content_key(row: dict[str, Any]) -> str:
    """What makes two records the same problem: text and metadata (not the id)."""
    payload = {k: row.get(k) for k in ("text", "school", "grade", "course", "unit")}
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


def slug(curriculum: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "+", curriculum)


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows).encode()


def read_jsonl(objects: ObjectStore, key: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in objects.read_bytes(key).decode().splitlines() if line.strip()]


def _record(doc: dict[str, Any]) -> dict[str, Any]:
    """A verified-label document as a problem record with labels (and where it came from)."""
    given = doc.get("input") or {}
    record = {"id": doc["problem_id"], "labels": list(doc["labels"]), "curriculum": doc["curriculum"]}
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


def frozen_holdout(
    objects: ObjectStore, curriculum: str, rows: list[dict[str, Any]], share: float, *, new_version: bool = False
) -> tuple[str, dict[str, Any]]:
    """The latest frozen hold-out of ``curriculum``; made from ``rows`` when there is none (or ``new_version``)."""
    prefix = join(HOLDOUT, slug(curriculum))
    versions = sorted(
        {int(m.group(1)) for k in objects.list(prefix) if (m := re.search(r"/v(\d+)/manifest\.json$", k))}
    )
    if versions and not new_version:
        folder = join(prefix, f"v{versions[-1]}")
        return join(folder, "holdout.jsonl"), json.loads(objects.read_bytes(join(folder, "manifest.json")))
    version = (versions[-1] + 1) if versions else 1
    folder = join(prefix, f"v{version}")
    held = sorted((r for r in rows if in_holdout_share(r["id"], share)), key=lambda r: r["id"])
    body = _jsonl(held)
    manifest = {
        "version": version,
        "curriculum": curriculum,
        "share": share,
        "problems": len(held),
        "sha256": hashlib.sha256(body).hexdigest(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    objects.write_bytes(join(folder, "holdout.jsonl"), body)
    objects.write_bytes(join(folder, "manifest.json"), json.dumps(manifest, indent=2).encode())
    return join(folder, "holdout.jsonl"), manifest


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
    cut them against the frozen hold-out and write the snapshot."""
    verified = [_record(doc) for doc in current_verified(reader, curriculum)]
    extra = _extra_records(objects, curriculum)
    holdout_key, holdout = frozen_holdout(objects, curriculum, verified, holdout_share, new_version=new_holdout)
    frozen = read_jsonl(objects, holdout_key)
    frozen_ids, frozen_content = {r["id"] for r in frozen}, {content_key(r) for r in frozen}
    candidates = [
        r for r in verified + extra if r["id"] not in frozen_ids and not in_holdout_share(r["id"], holdout_share)
    ]
    # A training problem identical to a hold-out problem (same text and metadata under another id) would leak it.
    train = sorted(
        (r for r in candidates if content_key(r) not in frozen_content), key=lambda r: (r["id"], r["source"])
    )
    body = _jsonl(train)
    digest = hashlib.sha256(body).hexdigest()
    prefix = join(SNAPSHOTS, date, digest[:12])
    labels_count: dict[str, int] = {}
    for row in train:
        for code in row["labels"]:
            labels_count[code] = labels_count.get(code, 0) + 1
    manifest = {
        "curriculum": curriculum,
        "date": date,
        "train": {
            "problems": len(train),
            "sha256": digest,
            "verified": sum(r["source"].startswith("verified:") for r in train),
        },
        "labels": dict(sorted(labels_count.items())),
        "holdout": {"key": holdout_key, **holdout},
        "dropped_as_hold_out_duplicates": len(candidates) - len(train),
        "held_back": sum(in_holdout_share(r["id"], holdout_share) and r["id"] not in frozen_ids for r in verified),
        "sources": {"label_store": "verified labels, read-only client (secondaryPreferred)", "files": EXTRA},
    }
    train_key = join(prefix, "train.jsonl")
    if not objects.exists(join(prefix, "manifest.json")):
        objects.write_bytes(train_key, body)
        objects.write_bytes(join(prefix, "manifest.json"), json.dumps(manifest, ensure_ascii=False, indent=2).encode())
    return Snapshot(prefix=prefix, train_key=train_key, holdout_key=holdout_key, manifest=manifest)


def problems(rows: list[dict[str, Any]]) -> list[Problem]:
    return [Problem.model_validate(row) for row in rows]
