"""Verified labels: what reviewers confirmed, imported into the label store with an audit trail.

A verified label is a document of the ``labels`` collection with ``decision.status == "verified"`` and
``_id = "<problem id>@verified-<digest>"``, the digest covering the problem's content, its codes and who verified
it. Re-importing the same verification therefore finds its document and writes nothing. A different verification of
the same problem (other codes, other text, another reviewer) becomes the ``current`` one; the earlier document stays,
marked ``current: false`` with ``superseded_by`` and ``superseded_at`` (the audit trail).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from posixpath import join
from typing import Any

from labeling.batch import VERIFIED_DROP as DROP
from labeling.batch import free_key, quarantine_records, write_error
from labeling.errors import IngestError
from labeling.index import VERIFIED, CurriculumIndex
from labeling.ingest import ParsedFile, RejectedRecord
from labeling.schemas import Problem
from labeling.validation import read_file
from stores.errors import StoreError
from stores.labels import LabelStore
from stores.objects import ObjectStore

log = logging.getLogger(__name__)

BATCH = 500


@dataclass
class ImportResult:
    file: str
    read: int = 0
    stored: int = 0  # new verifications
    unchanged: int = 0  # already imported, byte for byte the same verification
    superseded: int = 0  # earlier verifications of the same problems that are no longer current
    quarantined: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verification_id(problem: Problem, content_hash: str, verified_by: str) -> str:
    payload = {"content": content_hash, "labels": sorted(problem.labels), "verified_by": verified_by}
    digest = hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    return f"{problem.id}@{VERIFIED}-{digest[:16]}"


def verified_doc(
    problem: Problem, *, curriculum: str, verified_by: str, source_uri: str, record: int, at: datetime
) -> dict[str, Any]:
    content_hash = problem.content_hash(curriculum)
    return {
        "_id": verification_id(problem, content_hash, verified_by),
        "problem_id": problem.id,
        "curriculum": curriculum,
        "content_hash": content_hash,
        "input": {"text": problem.text, "image": problem.image, **problem.metadata},
        "labels": list(problem.labels),
        "decision": {"status": VERIFIED, "reasons": [f"verified by {verified_by}"]},
        "verification": {"by": verified_by, "source_uri": source_uri, "record": record, "at": at},
        "current": True,
        "superseded_by": None,
        "superseded_at": None,
    }


def check_verified(parsed: ParsedFile) -> None:
    """Beyond the problem-record contract: a verified label needs codes, and text to learn from."""
    kept = []
    for record, problem in parsed.problems:
        reason = None
        if not problem.labels:
            reason = "a verified label needs labels (codes)"
        elif problem.text is None:
            reason = "a verified label needs the problem's text (image-only records are not learned from yet)"
        if reason:
            parsed.rejected.append(RejectedRecord(record, problem.id, reason, parsed.raw.get(record, "")))
        else:
            kept.append((record, problem))
    parsed.problems = kept
    parsed.rejected.sort(key=lambda r: r.record)


def import_verified(
    name: str,
    data: bytes,
    *,
    labels: LabelStore,
    index: CurriculumIndex,
    source_uri: str,
    verified_by: str | None = None,
    max_text_chars: int = 20_000,
    now: datetime | None = None,
) -> tuple[ImportResult, ParsedFile]:
    """Validate a problem file with ``labels`` and store its verifications; return what happened and the parse
    (its ``rejected`` records are for the caller to quarantine).

    Codes are normalised by the record parser and must exist in ``index``'s curricula (the validation suite).
    ``verified_by`` defaults to ``import:<file name>``.

    Raises:
        IngestError: the file as a whole cannot be read.
    """
    now = now or datetime.now(UTC)
    who = verified_by or f"import:{name}"
    parsed = read_file(name, data, index.suite(max_text_chars))
    check_verified(parsed)
    result = ImportResult(file=name, read=parsed.read, quarantined=len(parsed.rejected))
    result.rejected = [r.to_doc() for r in parsed.rejected]
    for start in range(0, len(parsed.problems), BATCH):
        rows = parsed.problems[start : start + BATCH]
        docs = [
            verified_doc(p, curriculum=index.curriculum, verified_by=who, source_uri=source_uri, record=r, at=now)
            for r, p in rows
        ]
        existing = labels.get_labels([d["_id"] for d in docs])
        new = [d for d in docs if d["_id"] not in existing]
        result.unchanged += len(docs) - len(new)
        if not new:
            continue
        current = labels.find_labels(
            {"problem_id": {"$in": [d["problem_id"] for d in new]}, "decision.status": VERIFIED, "current": True}
        )
        replaced_by = {(d["problem_id"], d["curriculum"]): d["_id"] for d in new}
        superseded = []
        for old in current:
            successor = replaced_by.get((old["problem_id"], old.get("curriculum")))
            if successor and successor != old["_id"]:
                superseded.append({**old, "current": False, "superseded_by": successor, "superseded_at": now})
        labels.upsert_labels(new + superseded)
        result.stored += len(new)
        result.superseded += len(superseded)
    log.info(
        "%s: %d verified labels stored, %d unchanged, %d superseded, %d quarantined",
        name, result.stored, result.unchanged, result.superseded, result.quarantined,
    )  # fmt: skip
    return result, parsed


def quarantine_rejected(
    objects: ObjectStore, name: str, parsed: ParsedFile, *, run_id: str, run_date: str, source: str
) -> str:
    """Quarantine the rejected records of a verified-label file, however it came in, as the drop folder does:
    ``quarantine/<date>/verified/<name>.rejected.<ext>`` and ``<name>.error.json`` (whose key is returned)."""
    return quarantine_records(objects, join("verified", name), parsed, run_id, run_date, source)


# ------------------------------------------------------------------------------------------- the drop folder


def import_dropped(
    objects: ObjectStore,
    labels: LabelStore,
    index: CurriculumIndex,
    *,
    run_id: str,
    run_date: str,
    settle_seconds: float = 0.0,
    max_text_chars: int = 20_000,
) -> list[dict[str, Any]]:
    """Import every settled file under ``incoming/verified/``, then file it under ``processed/<date>/verified/``.

    Rejected records go to ``quarantine/<date>/verified/<file>.rejected.*`` with an ``.error.json``; a file that
    cannot be read at all is quarantined whole. Importing is idempotent, so a crash before a file is moved only
    means the next run imports it again and changes nothing.
    """
    results = []
    now = time.time()
    for key in objects.list(DROP):
        if settle_seconds and now - objects.modified(key) < settle_seconds:
            log.info("%s changed in the last %.0fs; left for the next run", key, settle_seconds)
            continue
        name = PurePosixPath(key).relative_to(DROP).as_posix()
        data = objects.read_bytes(key)
        error: dict[str, Any] = {"file": name, "run_id": run_id, "source": objects.uri(key)}
        quarantine = join("quarantine", run_date, "verified", name)
        try:
            result, parsed = import_verified(
                name, data, labels=labels, index=index, source_uri=objects.uri(key), max_text_chars=max_text_chars
            )
        except IngestError as exc:
            target = free_key(objects, quarantine, data)
            write_error(objects, target, {**error, "reason": str(exc), "records": []})
            objects.move(key, target)
            log.error("quarantined verified-label file %s: %s", name, exc)
            results.append({"file": name, "status": "quarantined", "reason": str(exc)})
            continue
        if parsed.rejected:
            quarantine_rejected(objects, name, parsed, run_id=run_id, run_date=run_date, source=objects.uri(key))
        try:
            objects.move(key, free_key(objects, join("processed", run_date, "verified", name), data))
        except StoreError as exc:  # another run moved it first; the import itself was idempotent
            log.warning("could not file %s under processed/: %s", key, exc)
        summary = {k: v for k, v in result.to_dict().items() if k != "rejected"}  # XCom: counts, not records
        results.append({"status": "imported", **summary, "quarantine": quarantine if parsed.rejected else None})
    return results
