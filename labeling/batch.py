"""The drop-folder batch: claim files, prepare them into chunks, label each chunk, then finish and report.

Used by the ``batch_labeling`` DAG and the CLI alike. Every step is safe to retry and to crash in:
- claim moves files into the run's own ``processing/<run_id>/`` folder (a retry returns what it already moved);
- prepare validates a file, quarantines bad records with reasons, and writes its good records as chunk files;
- label_chunk upserts one label document per (problem id, model version), skipping problems already labeled by
  that version with the same content, so a re-run duplicates nothing;
- finish moves an input to ``processed/`` only once every one of its chunks is stored, and writes the report.
"""

from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from labeling import page_input
from labeling.errors import IngestError, LabelingError
from labeling.evaluate import Labeler
from labeling.index import CurriculumIndex, expand_curricula
from labeling.ingest import ParsedFile, RejectedRecord
from labeling.llm import Judge
from labeling.pipeline import build_label_doc
from labeling.report import LISTED_PER_CHUNK, render_html, summarize
from labeling.review import review
from labeling.schemas import Problem, label_doc_id, metadata_defaults
from labeling.validation import ProblemSuite, read_file
from labeling.vision import PageError, is_page_file
from stores.errors import StoreError
from stores.labels import LabelStore
from stores.objects import ObjectStore, check_key, join

if TYPE_CHECKING:
    from labeling.vision import PageReader

__all__ = ["CurriculumIndex", "expand_curricula"]

log = logging.getLogger(__name__)
INCOMING = "incoming"
VERIFIED_DROP = "incoming/verified"  # reviewers' verified labels: nightly_retraining imports them
UPSERT_CHUNK = 200
MAX_ZIP_BYTES = 512 * 1024 * 1024  # uncompressed; a larger archive is quarantined, not unpacked
META_SUFFIX = ".meta.json"  # beside a page file: its school/grade/course, e.g. workbook.pdf.meta.json
ZIP_MEMBERS = ".d"  # an archive's members are labeled as files under "<archive>.d/"
REVIEW_CANDIDATES = 3  # candidates the report shows for a problem that needs review


@dataclass
class BatchConfig:
    run_id: str
    run_date: str  # YYYY-MM-DD, names the processed/ and quarantine/ folders
    curriculum: str
    model_version: str
    top_k: int
    auto_accept_score: float
    max_text_chars: int
    chunk_size: int = 500
    force: bool = False
    pages_per_chunk: int = 8
    min_ocr_confidence: float = 0.8
    defaults: dict[str, Any] = field(default_factory=dict)  # school/grade/course for problems that give none

    @property
    def processing(self) -> str:
        return join("processing", self.run_id)


@dataclass
class Prepared:
    """A claimed file after validation: where its chunks are, or why it was quarantined."""

    name: str
    key: str
    status: str  # prepared | quarantined | asset (an image a record file of the run names; filed with that file)
    read: int = 0
    quarantined: int = 0
    chunks: list[str] = field(default_factory=list)
    destination: str = ""
    error: str | None = None
    error_key: str | None = None
    seconds: float = 0.0
    pages: int = 0
    owner: str = ""  # for an asset: the record file that names it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChunkResult:
    chunk: str
    file: str
    labeled: int = 0
    skipped: int = 0
    with_provided_labels: int = 0
    top1_agreements: int = 0
    needs_review: int = 0
    top_scores: list[float] = field(default_factory=list)
    model_version: str = ""
    seconds: float = 0.0
    pages: int = 0  # pages read (layout + OCR) in this chunk
    ocr_seconds: float = 0.0
    quarantined: int = 0  # pages or image records nothing could be read from
    error_key: str | None = None
    # For the report, at most LISTED_PER_CHUNK of each (XCom carries small data); the counts above cover the rest.
    review: list[dict[str, Any]] = field(default_factory=list)  # problems that need review: why, and the candidates
    disagreements: list[dict[str, Any]] = field(default_factory=list)  # provided labels that the chosen one is not

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def safe_run_id(run_id: str) -> str:
    """A run id usable as one folder name in any object store (no ':' or '+')."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def batch_config(
    run_id: str,
    curriculum: str | None = None,
    force: bool = False,
    model_version: str | None = None,
    chunk_size: int | None = None,
    defaults: dict[str, Any] | None = None,
) -> BatchConfig:
    """The batch settings of one run, from the defaults file and the environment, read when the task runs.
    ``defaults``: ``metadata_defaults(...)``, the metadata of problems that give none (pages never do)."""
    from mathlabel.config import get_settings

    settings = get_settings()
    labeling = settings.labeling
    return BatchConfig(
        run_id=safe_run_id(run_id),
        run_date=datetime.now(UTC).strftime("%Y-%m-%d"),
        curriculum=curriculum or labeling.curriculum,
        model_version=model_version or labeling.model_version,
        top_k=labeling.top_k,
        auto_accept_score=labeling.auto_accept_score,
        max_text_chars=labeling.max_text_chars,
        chunk_size=chunk_size or labeling.chunk_size,
        force=force,
        pages_per_chunk=labeling.pages_per_chunk,
        min_ocr_confidence=settings.ocr.min_confidence,
        defaults=dict(defaults or {}),
    )


def check_course(
    metadata: dict[str, Any], courses: set[str], curriculum: str, where: str = "metadata defaults"
) -> None:
    """A course given for problems (``metadata_defaults``' result) must be one of the target curricula's
    (``CurriculumIndex.courses``), or every standard would be weighed as off-band. Raises ``ValueError``."""
    course = metadata.get("course")
    if course is not None and course not in courses:
        raise ValueError(f"{where}: course {course!r} is not in {curriculum} (one of {', '.join(sorted(courses))})")


def _page_metadata_for(row: dict[str, Any], cfg: BatchConfig) -> dict[str, Any]:
    """The metadata a page's problems get: its sidecar's over the run's Params."""
    return {**cfg.defaults, **row.get("metadata", {})}


# ---------------------------------------------------------------------------------------------------- claim


def free_key(objects: ObjectStore, key: str, data: bytes | None = None) -> str:
    """``key``, or a suffixed variant when a different object already sits there: nothing is overwritten."""
    if not objects.exists(key) or (data is not None and objects.read_bytes(key) == data):
        return key
    path = PurePosixPath(key)
    for n in range(1, 10_000):
        candidate = str(path.with_name(f"{path.stem}.{n}{path.suffix}"))
        if not objects.exists(candidate) or (data is not None and objects.read_bytes(candidate) == data):
            return candidate
    raise LabelingError(f"too many files named {path.name} in {path.parent}")


def write_error(objects: ObjectStore, base: str, error: dict[str, Any]) -> str:
    key = f"{base}.error.json"
    objects.write_bytes(key, json.dumps(error, ensure_ascii=False, indent=2).encode())
    return key


def _write_input_error(
    objects: ObjectStore,
    base: str,
    name: str,
    run_id: str,
    reason: str,
    records: list[dict[str, Any]] | None = None,
    source: str | None = None,
) -> str:
    """``<base>.error.json`` for an input: the file, the run, where it came from (by default where it was dropped),
    why, and the records."""
    source = source or objects.uri(join(INCOMING, name))
    error = {"file": name, "run_id": run_id, "source": source, "reason": reason, "records": records or []}
    return write_error(objects, base, error)


def _quarantine(objects: ObjectStore, key: str, name: str, run_id: str, run_date: str, reason: str) -> Prepared:
    data = objects.read_bytes(key)
    target = free_key(objects, join("quarantine", run_date, name), data)
    error_key = _write_input_error(objects, target, name, run_id, reason)
    objects.move(key, target)
    log.error("quarantined file %s: %s", name, reason)
    return Prepared(name=name, key=key, status="quarantined", destination=target, error=reason, error_key=error_key)


def _unpack(objects: ObjectStore, key: str, claimed: str, run_date: str, run_id: str) -> None:
    """Expand a claimed zip into ``<archive>.d/`` beside it, then file the archive itself under processed/.

    A member whose path is unsafe (absolute, or climbing out with ``..``) is never written: it is listed with its
    reason in ``quarantine/<date>/<archive>.error.json`` (with a copy of the archive) and the other members go on.
    """
    name = PurePosixPath(key).relative_to(claimed).as_posix()
    data = objects.read_bytes(key)
    refused: list[dict[str, Any]] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [
                m for m in archive.infolist() if not m.is_dir() and not PurePosixPath(m.filename).name.startswith(".")
            ]
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise IngestError(f"{name}: archive expands beyond {MAX_ZIP_BYTES // 2**20} MiB")
            safe = []
            for number, member in enumerate(members, start=1):
                try:
                    safe.append((member, join(claimed, name + ZIP_MEMBERS, check_key(member.filename))))
                except StoreError as exc:
                    refused.append(
                        {"record": number, "id": member.filename, "reason": f"unsafe path in archive: {exc}"}
                    )
            if not safe:
                raise IngestError(
                    f"{name}: no usable member ({'; '.join(r['reason'] for r in refused[:3]) or 'empty'})"
                )
            for member, target in safe:
                objects.write_bytes(target, archive.read(member))
    except (zipfile.BadZipFile, IngestError, StoreError) as exc:
        _quarantine(objects, key, name, run_id, run_date, f"unusable zip archive: {exc}")
        return
    if refused:
        base = free_key(objects, join("quarantine", run_date, name), data)
        objects.write_bytes(base, data)
        _write_input_error(objects, base, name, run_id, f"{len(refused)} member(s) of the archive refused", refused)
        for item in refused:
            log.error("%s: member %s refused: %s", name, item["id"], item["reason"])
    objects.move(key, free_key(objects, join("processed", run_date, name), data))
    log.info("unpacked %s: %d member(s)", name, len(members) - len(refused))


def _adopt_orphans(objects: ObjectStore, run_id: str, orphan_after_seconds: float, now: float) -> None:
    """Take over the inputs of runs that died: their processing folder untouched for ``orphan_after_seconds``."""
    folders: dict[str, list[str]] = {}
    for key in objects.list("processing"):
        folders.setdefault(key.split("/", 2)[1], []).append(key)
    for folder, keys in folders.items():
        if folder == run_id or now - max(objects.modified(k) for k in keys) < orphan_after_seconds:
            continue
        old = join("processing", folder)
        for key in keys:
            if key.startswith(join(old, "chunks") + "/"):
                objects.delete(key)  # derived from the input; the new run writes its own
                continue
            try:
                objects.move(key, join("processing", run_id, PurePosixPath(key).relative_to(old).as_posix()))
                log.warning("adopted %s from run %s, idle for over %.0fs", key, folder, orphan_after_seconds)
            except StoreError as exc:
                log.warning("could not adopt %s: %s", key, exc)


def claim_files(
    objects: ObjectStore,
    run_id: str,
    selector: str = "",
    *,
    settle_seconds: float = 0.0,
    orphan_after_seconds: float = 0.0,
    run_date: str | None = None,
) -> list[str]:
    """Move files from ``incoming/`` (or the part ``selector`` names) into ``processing/<run_id>/``.

    Files modified within the last ``settle_seconds`` are left for the next run (they may still be copied in).
    With ``orphan_after_seconds``, inputs of another run whose processing folder has been idle that long (the run
    died) are taken over, so nothing claimed is ever stranded. Zip archives are unpacked into ``<archive>.d/`` and
    their members claimed as files. Returns every file in the run's processing folder, so a retried claim also
    returns what an earlier attempt of the same run moved; a file another run claimed first is left to that run.
    """
    claimed = join("processing", run_id)
    run_date = run_date or datetime.now(UTC).strftime("%Y-%m-%d")
    now = time.time()
    if orphan_after_seconds:
        _adopt_orphans(objects, run_id, orphan_after_seconds, now)
    for key in objects.list(join(INCOMING, selector)):
        if key.startswith(VERIFIED_DROP + "/"):
            continue  # verified labels, imported by nightly_retraining, not problems to label
        if settle_seconds and now - objects.modified(key) < settle_seconds:
            log.info("%s changed in the last %.0fs; left for the next run", key, settle_seconds)
            continue
        target = join(claimed, PurePosixPath(key).relative_to(INCOMING).as_posix())
        try:
            objects.move(key, target)
            log.info("claimed %s", key)
        except StoreError as exc:
            log.warning("could not claim %s (another run may have it): %s", key, exc)
    return claimed_files(objects, run_id, run_date)


def claimed_files(objects: ObjectStore, run_id: str, run_date: str) -> list[str]:
    """Unpack the zip archives in ``processing/<run_id>/`` and return the files there: what the run labels.

    ``claim_files`` ends with it; ``mathlabel label`` writes its file straight into the run's folder and calls it,
    so its paths under ``processed/`` and ``quarantine/`` are those of the same file dropped into ``incoming/``.
    """
    claimed = join("processing", run_id)
    for key in objects.list(claimed):
        if key.lower().endswith(".zip") and not key.startswith(join(claimed, "chunks")):
            _unpack(objects, key, claimed, run_date, run_id)
    return [key for key in objects.list(claimed) if not key.startswith(join(claimed, "chunks") + "/")]


# -------------------------------------------------------------------------------------------------- prepare


def quarantine_records(
    objects: ObjectStore, name: str, parsed: ParsedFile, run_id: str, run_date: str, source: str | None = None
) -> str:
    """Write the rejected records (``<base>.rejected.<ext>``) and why (``<base>.error.json``, whose key is returned),
    beside where the file's quarantine would go; ``source`` names the file when it was not dropped under incoming/."""
    base = join("quarantine", run_date, name)
    lines = "".join(rejected.raw.rstrip("\n") + "\n" for rejected in parsed.rejected)
    objects.write_bytes(f"{base}.rejected{PurePosixPath(name).suffix}", lines.encode())
    for rejected in parsed.rejected:
        log.warning("%s record %d (id=%s) quarantined: %s", name, rejected.record, rejected.id, rejected.reason)
    reason = f"{len(parsed.rejected)} of {parsed.read} records failed validation"
    return _write_input_error(objects, base, name, run_id, reason, [r.to_doc() for r in parsed.rejected], source)


def _chunk_prefix(cfg: BatchConfig, name: str) -> str:
    return join(cfg.processing, "chunks", name)


def _write_chunks(prefix: str, rows: list[dict[str, Any]], size: int, objects: ObjectStore) -> list[str]:
    chunks = []
    for number, start in enumerate(range(0, len(rows), size)):
        body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows[start : start + size])
        chunk = join(prefix, f"{number:05d}.jsonl")
        objects.write_bytes(chunk, body.encode())
        chunks.append(chunk)
    return chunks


def _prepare_sidecar(key: str, name: str, objects: ObjectStore, cfg: BatchConfig) -> Prepared:
    """``<page file>.meta.json``: read with its page file (``_page_metadata``) and filed with it, to ``processed/``
    or, when the page file is quarantined (its sidecar's values among the reasons), to ``quarantine/``."""
    owner = key.removesuffix(META_SUFFIX)
    owner_name = name.removesuffix(META_SUFFIX)
    claimed = objects.exists(owner) or objects.exists(join("quarantine", cfg.run_date, owner_name))
    if is_page_file(owner) and claimed:  # the page file may already be quarantined: prepare tasks run in any order
        record_file = page_input.owner_of(objects, owner, cfg.processing)
        if record_file is None:
            return Prepared(name=name, key=key, status="asset", owner=owner)
        reason = (f"{owner_name} is an image that {PurePosixPath(record_file).name} names: give its school, grade and "
                  "course in that record, not in a metadata file")  # fmt: skip
        return _quarantine(objects, key, name, cfg.run_id, cfg.run_date, reason)
    reason = (f"metadata file without its page file: drop {PurePosixPath(owner).name} with it (PNG, JPEG or PDF, "
              "in the same folder and run)")  # fmt: skip
    return _quarantine(objects, key, name, cfg.run_id, cfg.run_date, reason)


def _page_metadata(objects: ObjectStore, key: str, suite: ProblemSuite, curriculum: str) -> dict[str, Any]:
    """The school/grade/course of a page file's ``<file>.meta.json`` sidecar, checked; {} without one.

    Raises:
        ValueError: the sidecar is not a JSON object of known fields with valid values.
    """
    sidecar = key + META_SUFFIX
    if not objects.exists(sidecar):
        return {}
    try:
        data = json.loads(objects.read_bytes(sidecar).decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{PurePosixPath(sidecar).name} is not UTF-8 JSON: {exc}") from exc
    if not isinstance(data, dict) or not set(data) <= {"school", "grade", "course"}:
        raise ValueError(f"{PurePosixPath(sidecar).name} must be an object with school, grade and/or course only")
    metadata = metadata_defaults(data.get("school"), data.get("grade"), data.get("course"))
    check_course(metadata, suite.known_courses, curriculum, PurePosixPath(sidecar).name)
    return metadata


def _prepare_pages(
    key: str, name: str, objects: ObjectStore, cfg: BatchConfig, started: float, suite: ProblemSuite
) -> Prepared:
    """A PNG/JPEG/PDF page file: refuse what cannot be read; each readable page becomes a chunk row, with the
    metadata of its sidecar (``<file>.meta.json``), if any."""
    owner = page_input.owner_of(objects, key, cfg.processing)
    if owner is not None:
        log.info("%s is an image named by %s; it is filed with that file", name, owner)
        return Prepared(name=name, key=key, status="asset", owner=owner)
    try:
        metadata = _page_metadata(objects, key, suite, cfg.curriculum)
    except ValueError as exc:  # its sidecar follows it to quarantine (finish_run files assets with their owner)
        return _quarantine(objects, key, name, cfg.run_id, cfg.run_date, f"metadata file: {exc}")
    prefix = _chunk_prefix(cfg, name)
    try:
        pages, refused = page_input.prepare_pages(objects, key, name, objects.read_bytes(key), prefix)
    except PageError as exc:
        return _quarantine(objects, key, name, cfg.run_id, cfg.run_date, str(exc))
    prepared = Prepared(name=name, key=key, status="prepared", read=len(pages) + len(refused),
                        quarantined=len(refused), pages=len(pages))  # fmt: skip
    if refused:
        for page, reason in refused:
            log.warning("%s page %d quarantined: %s", name, page, reason)
        records = [{"record": page, "id": f"{name}#p{page}", "reason": reason} for page, reason in refused]
        reason = f"{len(refused)} of {prepared.read} pages cannot be read"
        prepared.error_key = _write_input_error(
            objects, join("quarantine", cfg.run_date, name), name, cfg.run_id, reason, records
        )
    rows = [{**page.to_row(), "metadata": metadata} if metadata else page.to_row() for page in pages]
    prepared.chunks = _write_chunks(prefix, rows, cfg.pages_per_chunk, objects)
    prepared.seconds = round(time.monotonic() - started, 3)
    log.info("%s: %d page(s) to read, %d refused, %d chunk(s)", name, len(pages), len(refused), len(prepared.chunks))
    return prepared


def _image_rows(parsed: ParsedFile, key: str, objects: ObjectStore) -> dict[int, dict[str, str]]:
    """For each record with an image and no text: where its image is and its hash; bad ones become rejections."""
    found: dict[int, dict[str, str]] = {}
    for record, problem in list(parsed.problems):
        if problem.text is not None or problem.image is None:
            continue
        try:
            image_key = page_input.resolve_image(objects, key, problem.image)
            found[record] = {"image_key": image_key, "image_sha": page_input.check_record_image(objects, image_key)}
        except (IngestError, StoreError) as exc:
            parsed.rejected.append(RejectedRecord(record, problem.id, str(exc), parsed.raw.get(record, "")))
    bad = {r.record for r in parsed.rejected}
    parsed.problems = [(record, problem) for record, problem in parsed.problems if record not in bad]
    parsed.rejected.sort(key=lambda r: r.record)
    return found


def prepare_file(key: str, *, objects: ObjectStore, suite: ProblemSuite, cfg: BatchConfig) -> Prepared:
    """Validate one claimed file; quarantine what is bad; write its good records (or pages) as chunk files."""
    started = time.monotonic()
    name = PurePosixPath(key).relative_to(cfg.processing).as_posix()
    if name.endswith(META_SUFFIX):
        return _prepare_sidecar(key, name, objects, cfg)
    if is_page_file(name):
        return _prepare_pages(key, name, objects, cfg, started, suite)
    try:
        parsed = read_file(name, objects.read_bytes(key), suite)
    except IngestError as exc:
        return _quarantine(objects, key, name, cfg.run_id, cfg.run_date, str(exc))
    images = _image_rows(parsed, key, objects)
    if not parsed.problems:
        reasons = "; ".join(f"record {r.record}: {r.reason}" for r in parsed.rejected[:5])
        result = _quarantine(objects, key, name, cfg.run_id, cfg.run_date, f"no valid records ({reasons})")
        result.read = result.quarantined = parsed.read
        return result
    prepared = Prepared(name=name, key=key, status="prepared", read=parsed.read, quarantined=len(parsed.rejected))
    if parsed.rejected:
        prepared.error_key = quarantine_records(objects, name, parsed, cfg.run_id, cfg.run_date)
    rows = [
        {"record": record, "problem": problem.model_dump(exclude_none=True), **images.get(record, {})}
        for record, problem in parsed.problems
    ]
    prepared.chunks = _write_chunks(_chunk_prefix(cfg, name), rows, cfg.chunk_size, objects)
    prepared.pages = len(images)
    prepared.seconds = round(time.monotonic() - started, 3)
    log.info("%s: read %d, %d chunk(s), quarantined %d", name, parsed.read, len(prepared.chunks), prepared.quarantined)
    return prepared


# ------------------------------------------------------------------------------------------------------ label


@dataclass
class _Item:
    """A problem ready to rank: from a text record, an image record (OCR'd) or a page (one of its problems)."""

    record: int
    problem: Problem
    content_hash: str
    vision: dict[str, Any] | None = None


def _stored_page(stored: dict[str, Any] | None, sha: str, labels: LabelStore, name: str, page: int,
                 cfg: BatchConfig, metadata: dict[str, Any]) -> list[dict[str, Any]] | None:  # fmt: skip
    """The label documents of a page already read and labeled with this model version, if all of them are stored
    with the same curriculum and the same metadata (``metadata``: what the run and the page's sidecar give)."""
    if stored is None or (stored.get("input", {}).get("page") or {}).get("sha") != sha:
        return None
    count = stored["input"]["page"].get("problems") or 0
    ids = [label_doc_id(page_input.page_problem_id(name, page, k), cfg.model_version) for k in range(1, count + 1)]
    docs = labels.get_labels(ids)
    wanted = Problem(id="page", text="-").with_defaults(metadata).metadata
    changed = any(
        doc.get("curriculum") != cfg.curriculum
        or any((doc.get("metadata") or {}).get(k) != wanted[k] for k in ("school", "grade", "course"))
        for doc in docs.values()
    )
    return None if len(docs) != count or changed else list(docs.values())


def label_chunk(
    chunk: str,
    *,
    objects: ObjectStore,
    labels: LabelStore,
    index: CurriculumIndex,
    cfg: BatchConfig,
    labeler: Labeler | None = None,
    judge: Judge | None = None,
    reader: Callable[[], PageReader] | None = None,
) -> ChunkResult:
    """Label the problems of one chunk and upsert their label documents.

    ``labeler`` defaults to the cold-start retriever; ``cfg.model_version`` must name the labeler used. With a
    ``judge`` (an LLM), each problem's candidates also go to it, and the reviewing rules weigh its answer.
    ``reader`` builds the page reader (layout + OCR) when the chunk holds pages or image records; it is called once.
    A page or image nothing can be read from is quarantined with its reason (``quarantine/<date>/<file>...``).
    """
    started = time.monotonic()
    name = PurePosixPath(chunk).parent.relative_to(join(cfg.processing, "chunks")).as_posix()
    result = ChunkResult(chunk=chunk, file=name, model_version=cfg.model_version)
    rows = [json.loads(line) for line in objects.read_bytes(chunk).decode().splitlines() if line.strip()]
    source_uri = objects.uri(join(INCOMING, name))
    text_rows = [row for row in rows if "page" not in row]
    problems = [(row, Problem.model_validate(row["problem"]).with_defaults(cfg.defaults)) for row in text_rows]
    page_rows = [row for row in rows if "page" in row]
    first_ids = [
        label_doc_id(page_input.page_problem_id(name, row["record"], 1), cfg.model_version) for row in page_rows
    ]
    stored = labels.get_labels([label_doc_id(p.id, cfg.model_version) for _, p in problems] + first_ids)
    items: list[_Item] = []
    to_read: list[tuple[dict[str, Any], Problem | None]] = []
    for row, problem in problems:
        existing = stored.get(label_doc_id(problem.id, cfg.model_version))
        content_hash = problem.content_hash(cfg.curriculum, row.get("image_sha"))
        if existing and existing.get("content_hash") == content_hash and not cfg.force:
            result.skipped += 1
            _count(result, problem, existing)
        elif row.get("image_key"):
            to_read.append((row, problem))
        else:
            items.append(_Item(row["record"], problem, content_hash))
    for row, first in zip(page_rows, first_ids, strict=True):
        done = None if cfg.force else _stored_page(stored.get(first), row["page"]["sha"], labels, name,
                                                     row["record"], cfg, _page_metadata_for(row, cfg))  # fmt: skip
        if done is not None:
            for doc in done:
                result.skipped += 1
                _count(result, Problem(id=doc["problem_id"], text=doc["input"]["text"]), doc)
        else:
            to_read.append((row, None))
    if to_read:
        items += _read_images(to_read, name, objects, reader, cfg, result)
    ranked = (labeler or index.retriever).rank([item.problem for item in items], cfg.top_k) if items else []
    docs: list[dict[str, Any]] = []
    for item, candidates in zip(items, ranked, strict=True):
        problem = item.problem
        context = index.context([c.code for c in candidates])
        llm = None
        if judge:
            pool = candidates + index.expand(candidates)
            llm = judge.choose(problem, pool, index.context([c.code for c in pool]))
        ocr_confidence = item.vision["ocr"]["confidence"] if item.vision else None
        decision = review(
            problem, candidates, auto_accept_score=cfg.auto_accept_score, standards=index.by_code, llm=llm,
            ocr_confidence=ocr_confidence, min_ocr_confidence=cfg.min_ocr_confidence,
        )  # fmt: skip
        doc = build_label_doc(
            problem,
            candidates,
            curriculum=cfg.curriculum,
            model_version=cfg.model_version,
            graph_version=index.version,
            run_id=cfg.run_id,
            batch_id=name,
            source_uri=source_uri,
            record=item.record,
            decision=decision,
            llm=llm,
            llm_version=judge.version if judge else None,
            vision=item.vision,
            content_hash=item.content_hash,
            context=context,
        )
        docs.append(doc)
        _count(result, problem, doc)
    for start in range(0, len(docs), UPSERT_CHUNK):
        labels.upsert_labels(docs[start : start + UPSERT_CHUNK])
    result.labeled = len(docs)
    result.seconds = round(time.monotonic() - started, 3)
    log.info("%s: labeled %d, skipped %d (already labeled)", chunk, result.labeled, result.skipped)
    return result


def _read_images(
    to_read: list[tuple[dict[str, Any], Problem | None]],
    name: str,
    objects: ObjectStore,
    reader_factory: Callable[[], PageReader] | None,
    cfg: BatchConfig,
    result: ChunkResult,
) -> list[_Item]:
    """Layout + OCR for the pages and image records of a chunk; what yields no text is quarantined with why."""
    if reader_factory is None:
        raise LabelingError(f"{name}: the chunk holds images but no page reader (layout + OCR) was given")
    reader = reader_factory()
    items: list[_Item] = []
    refused: list[dict[str, Any]] = []
    crops = join("processed", cfg.run_date, f"{name}.crops")
    for row, problem in to_read:
        started = time.monotonic()
        key = row["page"]["key"] if problem is None else row["image_key"]
        sha = row["page"]["sha"] if problem is None else row["image_sha"]
        page = row["record"] if problem is None else None
        image = page_input.load_page(objects, key)
        reading = reader.read(image, split=problem is None)
        seconds = time.monotonic() - started
        result.pages += 1
        result.ocr_seconds = round(result.ocr_seconds + seconds, 3)
        found = [p for p in reading.problems if p.text.strip()]
        if not found:
            what = f"page {page}" if page else f"record {row['record']} (id={problem.id if problem else ''})"
            reason = f"no text could be read off {what} ({reading.layout}; {reading.ocr})"
            log.warning("%s %s", name, reason)
            refused.append({"record": row["record"], "id": problem.id if problem else f"{name}#p{page}",
                            "reason": reason, "image": objects.uri(key)})  # fmt: skip
            continue
        if problem is not None:  # an image record: the whole image is the one problem
            inside = key.startswith(cfg.processing + "/")
            uri = objects.uri(join(INCOMING, key.removeprefix(cfg.processing + "/")) if inside else key)
            vision = page_input.vision_doc(found[0], reader=reader, page=None, uri=uri, crop=uri,
                                           problems_on_page=1, sha=sha, seconds=seconds, skew=reading.skew)  # fmt: skip
            text_problem = problem.model_copy(update={"text": found[0].text})
            items.append(_Item(row["record"], text_problem, problem.content_hash(cfg.curriculum, sha), vision))
            continue
        image_uri = objects.uri(join(INCOMING, name))
        text_problems = page_input.page_problems(name, page, image_uri, found, _page_metadata_for(row, cfg))
        for k, (found_problem, text_problem) in enumerate(zip(found, text_problems, strict=True), start=1):
            crop_key = join(crops, f"p{page:04d}-{k}.png")
            objects.write_bytes(crop_key, page_input.crop_of(reading.image or image, found_problem.box))
            vision = page_input.vision_doc(found_problem, reader=reader, page=page, uri=image_uri,
                                           crop=objects.uri(crop_key), problems_on_page=len(found), sha=sha,
                                           seconds=seconds / len(found), skew=reading.skew)  # fmt: skip
            items.append(_Item(page, text_problem, text_problem.content_hash(cfg.curriculum, sha), vision))
    if refused:
        result.quarantined = len(refused)
        base = join("quarantine", cfg.run_date, f"{name}.{PurePosixPath(result.chunk).stem}")
        reason = f"{len(refused)} page(s) or image(s) without readable text"
        result.error_key = _write_input_error(objects, base, name, cfg.run_id, reason, refused)
    return items


def _count(result: ChunkResult, problem: Problem, doc: dict[str, Any]) -> None:
    """Count a stored label document into the chunk's result, and list it when it needs review or disagrees with
    the record's own labels (up to ``LISTED_PER_CHUNK`` of each)."""
    chosen = doc.get("labels") or []
    candidates = doc.get("candidates") or []
    top_score = round(float(candidates[0]["score"]), 4) if candidates else 0.0
    problem_ref = {"problem_id": problem.id, "doc_id": doc.get("_id") or label_doc_id(problem.id, result.model_version)}
    if problem.labels:
        result.with_provided_labels += 1
        agrees = bool(chosen) and chosen[0] in problem.labels
        result.top1_agreements += int(agrees)
        if not agrees and len(result.disagreements) < LISTED_PER_CHUNK:
            chosen_code = chosen[0] if chosen else None
            result.disagreements.append({**problem_ref, "provided": list(problem.labels), "chosen": chosen_code,
                                         "score": top_score})  # fmt: skip
    decision = doc.get("decision") or {}
    if decision.get("status") == "needs_review":
        result.needs_review += 1
        if len(result.review) < LISTED_PER_CHUNK:
            top = [{"code": c["code"], "score": round(float(c["score"]), 4)} for c in candidates[:REVIEW_CANDIDATES]]
            result.review.append({**problem_ref, "reasons": list(decision.get("reasons") or []), "candidates": top})
    result.top_scores.append(top_score)


# ----------------------------------------------------------------------------------------------------- finish


LISTS = {"files", "review", "disagreements", "quarantine"}  # the report's lists, left out of finish_run's return


def report_key(run_id: str, suffix: str = "json") -> str:
    return join("reports", f"{safe_run_id(run_id)}.{suffix}")


def finish_run(
    objects: ObjectStore,
    run_id: str,
    prepared: list[dict[str, Any]],
    results: list[dict[str, Any]],
    *,
    run_date: str | None = None,
    stage_seconds: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Move each input whose chunks are all stored to ``processed/``, then write the report (JSON and HTML).

    A file with a missing chunk result (its task failed) stays in ``processing/<run_id>/`` for the retry and is
    listed as unfinished: kept, never lost. The report lists the problems that need review and the disagreements
    the chunk results carry, and what was quarantined (read from the ``.error.json`` files they name); the summary
    returned (an XCom under Airflow) leaves those lists out.
    """
    run_date = run_date or datetime.now(UTC).strftime("%Y-%m-%d")
    done = {r["chunk"] for r in results}
    files = []
    finished = {
        item["key"] for item in prepared if item["status"] == "prepared" and all(c in done for c in item["chunks"])
    }
    quarantined = {item["key"]: item for item in prepared if item["status"] == "quarantined"}
    for item in prepared:
        entry = dict(item)
        if item["status"] == "asset":  # filed with the record file that names it, once that file is done
            if item.get("owner") in finished and objects.exists(item["key"]):
                data = objects.read_bytes(item["key"])
                entry["destination"] = free_key(objects, join("processed", run_date, item["name"]), data)
                objects.move(item["key"], entry["destination"])
                entry["status"] = "processed"
            elif item.get("owner") in quarantined and objects.exists(item["key"]):
                owner = quarantined[item["owner"]]
                reason = f"named by {owner['name']}, which was quarantined: {owner['error']}"
                entry.update(_quarantine(objects, item["key"], item["name"], run_id, run_date, reason).to_dict())
            elif item.get("owner") not in finished:
                entry["status"] = "unfinished"
        elif item["status"] == "prepared":
            if all(chunk in done for chunk in item["chunks"]):
                data = objects.read_bytes(item["key"]) if objects.exists(item["key"]) else None
                if data is not None:
                    entry["destination"] = free_key(objects, join("processed", run_date, item["name"]), data)
                    objects.move(item["key"], entry["destination"])
                for chunk in item["chunks"]:
                    objects.delete(chunk)
                entry["status"] = "processed"
            else:
                entry["status"] = "unfinished"
        files.append(entry)
    quarantine = _quarantined(objects, files, results)
    summary = summarize(safe_run_id(run_id), files, results, stage_seconds or {}, quarantine=quarantine)
    summary["report"] = report_key(run_id)
    summary["report_html"] = report_key(run_id, "html")
    objects.write_bytes(summary["report"], json.dumps(summary, ensure_ascii=False, indent=2, default=str).encode())
    objects.write_bytes(summary["report_html"], render_html(summary).encode())
    small = {k: v for k, v in summary.items() if k not in LISTS}  # the lists stay in the report: XCom stays small
    log.info("run %s: %s", run_id, {k: v for k, v in small.items() if k != "histogram"})
    return small


def _quarantined(objects: ObjectStore, files: list[dict[str, Any]], results: list[dict[str, Any]]) -> list[dict]:
    """What the run quarantined, why and where, read from the ``.error.json`` its files and chunks name (at most
    ``LISTED_PER_CHUNK`` records of each; ``records_total`` counts them all)."""
    found = [(f["name"], f["error_key"], f.get("destination") if f["status"] == "quarantined" else None, f.get("error"))
             for f in files if f.get("error_key")]  # fmt: skip
    found += [(r["file"], r["error_key"], None, None) for r in results if r.get("error_key")]
    out = []
    for name, error_key, moved_to, error in found:
        try:
            written = json.loads(objects.read_bytes(error_key))
        except (StoreError, ValueError) as exc:
            written = {"reason": error or f"cannot read {error_key}: {exc}"}
        records = written.get("records") or []
        rejected = f"{error_key.removesuffix('.error.json')}.rejected{PurePosixPath(name).suffix}"
        out.append({
            "file": name,
            "reason": written.get("reason") or error,
            "file_key": moved_to,  # the whole input, when it was quarantined
            "error_key": error_key,
            "rejected_key": rejected if objects.exists(rejected) else None,  # the rejected records, as written
            "records": [{k: r.get(k) for k in ("record", "id", "reason")} for r in records[:LISTED_PER_CHUNK]],
            "records_total": len(records),
        })  # fmt: skip
    return out


def run_batch(
    keys: list[str],
    *,
    objects: ObjectStore,
    labels: LabelStore,
    index: CurriculumIndex,
    cfg: BatchConfig,
    labeler: Labeler | None = None,
    judge: Judge | None = None,
    reader: Callable[[], PageReader] | None = None,
) -> dict[str, Any]:
    """Prepare, label and finish claimed files in-process (the CLI's path; the DAG maps the same steps)."""
    suite = index.suite(cfg.max_text_chars)
    started = time.monotonic()
    prepared = [prepare_file(key, objects=objects, suite=suite, cfg=cfg) for key in keys]
    results = [
        label_chunk(
            chunk, objects=objects, labels=labels, index=index, cfg=cfg, labeler=labeler, judge=judge, reader=reader
        ).to_dict()
        for item in prepared
        for chunk in item.chunks
    ]
    return finish_run(
        objects,
        cfg.run_id,
        [item.to_dict() for item in prepared],
        results,
        run_date=cfg.run_date,
        stage_seconds={"total": round(time.monotonic() - started, 3)},
    )
