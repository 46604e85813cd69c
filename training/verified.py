"""Verified labels from files: what reviewers confirmed, imported into the label store with an audit trail.

Each record becomes a verification through ``labeling.verification`` (as a review does): re-importing the same
verification finds its document and writes nothing, and a different verification of the same problem supersedes the
earlier one, which stays (the audit trail). A record names the problem set it verifies with an optional ``source``
(the input's name in the drop folder, e.g. ``set1.jsonl``): the problem's key is then ``set1.jsonl#<id>``, the key
its label documents have; without it, the bare id.

A record's codes are standards of one curriculum of the import's (``check_curricula``): the one its optional
``curriculum`` field names, or the only one holding them all. kr-2015 and kr-2022 reuse code strings for other
standards, so a record naming another curriculum, or a code of several with no ``curriculum`` to say which, is
quarantined with the reason, as is a standard whose grade band contradicts the record's school or grade.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from labeling.errors import IngestError
from labeling.index import CurriculumIndex, expand_curricula
from labeling.ingest import ParsedFile, RejectedRecord
from labeling.intake import VERIFIED_DROP, Filing, settled
from labeling.retrieval import grade_fit
from labeling.schemas import Problem, problem_key
from labeling.validation import read_file
from labeling.verification import verification_doc, verify_many
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


class _Refused(ValueError):
    """Why a record's codes are no standards of one curriculum of the import."""


def _curriculum_of(
    problem: Problem, given: str | None, curricula: list[str], standards: dict[tuple[str, str], dict[str, Any]]
) -> str:
    """The one curriculum of ``curricula`` whose standards ``problem``'s codes are (``given`` by the record, or the
    only one holding them all), its grade bands checked against the record's school and grade."""
    if given is not None:
        named = expand_curricula(given)
        if not named or any(cid not in curricula for cid in named):
            raise _Refused(f"curriculum {given!r} is not one this import is for ({', '.join(curricula)})")
        curricula = named
    holding = {code: [cid for cid in curricula if (cid, code) in standards] for code in problem.labels}
    if missing := [code for code, cids in holding.items() if not cids]:
        raise _Refused(f"labels not standards of {' or '.join(curricula)}: {', '.join(missing)}")
    fits = [cid for cid in curricula if all(cid in cids for cids in holding.values())]
    if not fits:
        where = "; ".join(f"{code} in {' and '.join(cids)}" for code, cids in holding.items())
        raise _Refused(f"the labels are standards of different curricula ({where}): a verification is for one")
    if len(fits) > 1:
        shared = [code for code, cids in holding.items() if len(cids) > 1]
        verb = "exists" if len(shared) == 1 else "exist"
        raise _Refused(f"{', '.join(shared)} {verb} in {' and '.join(fits)}: say which with `curriculum`")
    cid = fits[0]
    # School and grade only: a course name ("수학") need not be the standard's course to be right.
    level = problem.model_copy(update={"course": None})
    for code in problem.labels:
        standard = standards[(cid, code)]
        if grade_fit(level, standard) is False:
            band = " ".join(dict.fromkeys(str(standard.get(k)) for k in ("grade_band", "grade_group")))
            said = " ".join(str(v) for v in (problem.school, problem.grade) if v is not None)
            raise _Refused(f"{code} is a {band} standard of {cid}, which contradicts the record's {said}")
    return cid


def check_curricula(parsed: ParsedFile, index: CurriculumIndex) -> dict[int, str]:
    """The curriculum of ``index``'s whose standards each record's codes are (record number → curriculum id); a
    record they cannot be placed in one of (``_curriculum_of``'s reasons) is moved to ``rejected``."""
    standards = {(row["curriculum"], row["code"]): row for row in index.standards}
    kept, placed = [], {}
    for record, problem in parsed.problems:
        try:
            placed[record] = _curriculum_of(problem, parsed.curricula.get(record), index.curricula, standards)
        except _Refused as exc:
            parsed.rejected.append(RejectedRecord(record, problem.id, str(exc), parsed.raw.get(record, "")))
        else:
            kept.append((record, problem))
    parsed.problems = kept
    parsed.rejected.sort(key=lambda r: r.record)
    return placed


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

    Codes are normalised by the record parser and must be standards of one of ``index``'s curricula, as the
    record's ``curriculum`` says or its codes alone do (``check_curricula``); the documents are stored under
    ``index.curriculum`` (what training for these curricula reads) and name that one in ``verification.curriculum``.
    ``verified_by`` defaults to ``import:<file name>``.

    Raises:
        IngestError: the file as a whole cannot be read.
    """
    now = now or datetime.now(UTC)
    who = verified_by or f"import:{name}"
    parsed = read_file(name, data, index.suite(max_text_chars))
    check_verified(parsed)
    placed = check_curricula(parsed, index)
    result = ImportResult(file=name, read=parsed.read, quarantined=len(parsed.rejected))
    result.rejected = [r.to_doc() for r in parsed.rejected]
    for start in range(0, len(parsed.problems), BATCH):
        rows = parsed.problems[start : start + BATCH]
        docs = [
            verification_doc(p, curriculum=index.curriculum, verified_by=who, source_uri=source_uri, record=r, at=now,
                             key=problem_key(parsed.sources.get(r), p.id), standards_of=placed[r])
            for r, p in rows
        ]  # fmt: skip
        done = verify_many(labels, docs, at=now)
        result.stored += done.stored
        result.unchanged += done.unchanged
        result.superseded += done.superseded
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
    return Filing(objects, run_id, run_date, area="verified").quarantine_records(name, parsed, source)


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
    filing = Filing(objects, run_id, run_date, area="verified")
    for key in settled(objects, objects.list(VERIFIED_DROP), settle_seconds):
        name = PurePosixPath(key).relative_to(VERIFIED_DROP).as_posix()
        data = objects.read_bytes(key)
        try:
            result, parsed = import_verified(
                name, data, labels=labels, index=index, source_uri=objects.uri(key), max_text_chars=max_text_chars
            )
        except IngestError as exc:
            filing.quarantine(key, name, str(exc))
            results.append({"file": name, "status": "quarantined", "reason": str(exc)})
            continue
        if parsed.rejected:
            filing.quarantine_records(name, parsed)
        try:
            filing.file(key, name, data)
        except StoreError as exc:  # another run moved it first; the import itself was idempotent
            log.warning("could not file %s under processed/: %s", key, exc)
        summary = {k: v for k, v in result.to_dict().items() if k != "rejected"}  # XCom: counts, not records
        quarantine = filing.quarantine_base(name) if parsed.rejected else None
        results.append({"status": "imported", **summary, "quarantine": quarantine})
    return results
