"""Images in a batch: page files (PNG/JPEG/PDF) and records that name an image, from claim to label-ready problems.

Two ways an image comes in:
- a **page file** dropped in ``incoming/`` (or in a zip): every page is read, split into its problems, and each
  problem gets a label document with id ``<file>#p<page>-<k>`` (k-th problem of the page in reading order);
- a **record** of a JSONL/CSV file with ``image`` and no ``text``: the image is that one problem (never split); its
  path is relative to the record file (dropped beside it or in the same zip), an object-store key, or a URI of the
  object store. An image a record file names is that file's asset, not a page file of its own.

A page file's ``<file>.meta.json`` sidecar gives its problems school, grade and course, over the run's Params.

``prepare_*`` and ``image_rows`` run in the prepare step (cheap checks: decodable, not too large, not blank; PDF
pages rendered once into the run's chunk folder); ``stored_page`` and ``read_images`` run in the mapped label step
(layout and OCR).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import posixpath
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from labeling.errors import IngestError, LabelingError
from labeling.ingest import ParsedFile, RejectedRecord, jsonl_lines
from labeling.intake import INCOMING
from labeling.schemas import Problem, label_doc_id, metadata_defaults
from labeling.steps import BatchConfig, ChunkResult, Item, Prepared, check_course, quarantine, write_chunks
from labeling.validation import ProblemSuite
from labeling.vision import (
    IMAGE_SUFFIXES,
    PageError,
    PageProblem,
    PageReader,
    check_not_blank,
    is_page_file,
    open_image,
    page_hash,
    pdf_page_count,
    render_pdf_page,
)
from stores.errors import StoreError
from stores.labels import LabelStore
from stores.objects import ObjectStore, check_key, join

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)
RECORD_SUFFIXES = (".jsonl", ".csv")
META_SUFFIX = ".meta.json"  # beside a page file: its school/grade/course, e.g. workbook.pdf.meta.json


@dataclass
class PageRow:
    """One page waiting for layout and OCR: where its image is, and the hash that decides re-reading."""

    record: int  # page number, 1-based
    key: str  # object key of the page image (the file itself, or the PDF page rendered into the chunk folder)
    sha: str

    def to_row(self) -> dict[str, Any]:
        return {"record": self.record, "page": {"key": self.key, "sha": self.sha}}


def page_problem_id(name: str, page: int, k: int) -> str:
    """The id of the k-th problem on a page of the page file ``name``; it names its file, so it is also the problem's
    key (``schemas.problem_key(name, id) == id``)."""
    return f"{name}#p{page}-{k}"


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def prepare_pages(
    objects: ObjectStore, key: str, name: str, data: bytes, chunk_prefix: str
) -> tuple[list[PageRow], list[tuple[int, str]]]:
    """The pages of a page file worth reading, and ``(page, reason)`` for those refused.

    Raises:
        PageError: the file as a whole is unusable (corrupt, too large, an unreadable PDF, a blank single image).
    """
    if PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES:
        image = open_image(name, data)
        check_not_blank(name, image)
        return [PageRow(1, key, page_hash(data))], []
    pages = pdf_page_count(name, data)
    rows, refused = [], []
    for number in range(1, pages + 1):
        try:
            image = render_pdf_page(name, data, number)
            check_not_blank(f"{name} page {number}", image)
        except PageError as exc:
            refused.append((number, str(exc)))
            continue
        png = _png(image)
        page_key = join(chunk_prefix, f"page-{number:04d}.png")
        objects.write_bytes(page_key, png)
        rows.append(PageRow(number, page_key, page_hash(data + f"#page={number}".encode())))
    if not rows:
        raise PageError(f"{name}: no readable page ({'; '.join(reason for _, reason in refused[:3])})")
    return rows, refused


def page_metadata(objects: ObjectStore, key: str, suite: ProblemSuite, curriculum: str) -> dict[str, Any]:
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


def prepare_page_file(key: str, name: str, objects: ObjectStore, cfg: BatchConfig, suite: ProblemSuite) -> Prepared:
    """A PNG/JPEG/PDF page file: refuse what cannot be read; each readable page becomes a chunk row, with the
    metadata of its sidecar (``<file>.meta.json``), if any."""
    started = time.monotonic()
    owner = owner_of(objects, key, cfg.processing)
    if owner is not None:
        log.info("%s is an image named by %s; it is filed with that file", name, owner)
        return Prepared(name=name, key=key, status="asset", owner=owner)
    try:
        metadata = page_metadata(objects, key, suite, cfg.curriculum)
    except ValueError as exc:  # its sidecar follows it to quarantine (finish_run files assets with their owner)
        return quarantine(cfg.filing(objects), key, name, f"metadata file: {exc}")
    prefix = cfg.chunk_prefix(name)
    try:
        pages, refused = prepare_pages(objects, key, name, objects.read_bytes(key), prefix)
    except PageError as exc:
        return quarantine(cfg.filing(objects), key, name, str(exc))
    prepared = Prepared(name=name, key=key, status="prepared", read=len(pages) + len(refused),
                        quarantined=len(refused), pages=len(pages))  # fmt: skip
    if refused:
        for page, reason in refused:
            log.warning("%s page %d quarantined: %s", name, page, reason)
        records = [{"record": page, "id": f"{name}#p{page}", "reason": reason} for page, reason in refused]
        reason = f"{len(refused)} of {prepared.read} pages cannot be read"
        prepared.error_key = cfg.filing(objects).error(name, reason, records)
    rows = [{**page.to_row(), "metadata": metadata} if metadata else page.to_row() for page in pages]
    prepared.chunks = write_chunks(objects, prefix, rows, cfg.pages_per_chunk)
    prepared.seconds = round(time.monotonic() - started, 3)
    log.info("%s: %d page(s) to read, %d refused, %d chunk(s)", name, len(pages), len(refused), len(prepared.chunks))
    return prepared


def prepare_sidecar(key: str, name: str, objects: ObjectStore, cfg: BatchConfig) -> Prepared:
    """``<page file>.meta.json``: read with its page file (``page_metadata``) and filed with it, to ``processed/``
    or, when the page file is quarantined (its sidecar's values among the reasons), to ``quarantine/``."""
    owner = key.removesuffix(META_SUFFIX)
    owner_name = name.removesuffix(META_SUFFIX)
    claimed = objects.exists(owner) or objects.exists(join("quarantine", cfg.run_date, owner_name))
    if is_page_file(owner) and claimed:  # the page file may already be quarantined: prepare tasks run in any order
        record_file = owner_of(objects, owner, cfg.processing)
        if record_file is None:
            return Prepared(name=name, key=key, status="asset", owner=owner)
        reason = (f"{owner_name} is an image that {PurePosixPath(record_file).name} names: give its school, grade and "
                  "course in that record, not in a metadata file")  # fmt: skip
        return quarantine(cfg.filing(objects), key, name, reason)
    reason = (f"metadata file without its page file: drop {PurePosixPath(owner).name} with it (PNG, JPEG or PDF, "
              "in the same folder and run)")  # fmt: skip
    return quarantine(cfg.filing(objects), key, name, reason)


# -------------------------------------------------------------------------------------------- record images


def resolve_image(objects: ObjectStore, record_key: str, image: str) -> str:
    """The object key of a record's ``image``: relative to the record file, an object key, or a store URI.

    Raises:
        IngestError: the path leaves the store, or nothing is there.
    """
    root = objects.uri("probe").rsplit("/", 1)[0]
    if ".." in PurePosixPath(image.split("://", 1)[-1]).parts:
        raise IngestError(f"image path {image!r} must not contain '..'")
    if "://" in image:
        if not image.startswith(root + "/"):
            raise IngestError(f"image {image!r} is not in this object store ({root}/)")
        candidates = [image[len(root) + 1 :]]
    else:
        relative = posixpath.normpath(posixpath.join(posixpath.dirname(record_key), image))
        candidates = [relative, image] if not image.startswith("/") else [image.lstrip("/")]
    for candidate in candidates:
        try:
            candidate = check_key(candidate)
        except StoreError:
            continue
        if objects.exists(candidate):
            return candidate
    raise IngestError(f"image {image!r} not found beside the record file or in the object store")


def referenced_images(
    objects: ObjectStore, folder: str, only: str | None = None, mentioning: str | None = None
) -> set[str]:
    """Keys of the images that the record files in ``folder`` (or just ``only``) name: assets, not pages.

    ``mentioning``: only records whose line holds this file name (as written, percent-encoded or JSON-escaped) are
    parsed; a record naming an image always holds its file name, and a large record file is then scanned, not
    parsed.
    """
    found: set[str] = set()
    hints = (mentioning, quote(mentioning), json.dumps(mentioning)[1:-1]) if mentioning else ()
    for key in [only] if only else objects.list(folder):
        if posixpath.dirname(key) != folder or PurePosixPath(key).suffix.lower() not in RECORD_SUFFIXES:
            continue
        try:
            text = objects.read_bytes(key).decode("utf-8-sig")
        except (UnicodeDecodeError, StoreError):
            continue
        if hints and not any(hint in text for hint in hints):
            continue
        values: list[Any] = []
        if key.lower().endswith(".jsonl"):
            for line in jsonl_lines(text):
                if hints and not any(hint in line for hint in hints):
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue
                values.append(record.get("image") if isinstance(record, dict) else None)
        else:
            values = [row.get("image") for row in csv.DictReader(io.StringIO(text))]
        for value in values:
            if isinstance(value, str) and value.strip():
                try:
                    found.add(resolve_image(objects, key, value.strip()))
                except IngestError:
                    continue
    return found


def owner_of(objects: ObjectStore, image_key: str, root: str) -> str | None:
    """The record file (in the image's folder or a folder above it, up to ``root``) that names this image."""
    folder, name = posixpath.split(image_key)
    while folder.startswith(root):
        for record_file in sorted(k for k in objects.list(folder) if posixpath.dirname(k) == folder
                                  and PurePosixPath(k).suffix.lower() in RECORD_SUFFIXES):  # fmt: skip
            if image_key in referenced_images(objects, folder, only=record_file, mentioning=name):
                return record_file
        folder = posixpath.dirname(folder)
    return None


def check_record_image(objects: ObjectStore, image_key: str) -> str:
    """Decode the image a record names (size and blankness checked); its hash. Raises ``PageError``."""
    data = objects.read_bytes(image_key)
    if PurePosixPath(image_key).suffix.lower() not in IMAGE_SUFFIXES:
        raise PageError(f"image {image_key}: a record's image must be PNG or JPEG")
    check_not_blank(image_key, open_image(image_key, data))
    return page_hash(data)


def image_rows(parsed: ParsedFile, key: str, objects: ObjectStore) -> dict[int, dict[str, str]]:
    """For each record with an image and no text: where its image is and its hash; bad ones become rejections."""
    found: dict[int, dict[str, str]] = {}
    for record, problem in list(parsed.problems):
        if problem.text is not None or problem.image is None:
            continue
        try:
            image_key = resolve_image(objects, key, problem.image)
            found[record] = {"image_key": image_key, "image_sha": check_record_image(objects, image_key)}
        except (IngestError, StoreError) as exc:
            parsed.rejected.append(RejectedRecord(record, problem.id, str(exc), parsed.raw.get(record, "")))
    bad = {r.record for r in parsed.rejected}
    parsed.problems = [(record, problem) for record, problem in parsed.problems if record not in bad]
    parsed.rejected.sort(key=lambda r: r.record)
    return found


# -------------------------------------------------------------------------------------------------- reading


def vision_doc(problem: PageProblem, *, reader: PageReader, page: int | None, uri: str, crop: str | None,
               problems_on_page: int, sha: str, seconds: float, skew: float = 0.0) -> dict[str, Any]:  # fmt: skip
    """What a label document keeps of how its text was read off an image. Boxes are in the page as read: scaled to
    at most ``vision.WORK_LONG_SIDE`` pixels and turned by ``skew`` degrees (counter-clockwise) to level it."""
    return {
        "ocr": {
            "text": problem.text,
            "confidence": round(problem.confidence, 4),
            "engine": reader.ocr_version,
            "seconds": round(seconds, 3),
        },
        "regions": [region.to_doc() for region in problem.regions],
        "page": {
            "uri": uri,
            "page": page,
            "number": problem.number,
            "box": list(problem.box),
            "crop": crop,
            "problems": problems_on_page,
            "sha": sha,
            "skew": skew,
        },
        "layout": reader.layout_version,
    }


def load_page(objects: ObjectStore, key: str) -> Image.Image:
    return open_image(key, objects.read_bytes(key))


def crop_of(image: Image.Image, box: tuple[int, int, int, int], pad: int = 8) -> bytes:
    x0, y0, x1, y1 = box
    return _png(
        image.crop((max(0, x0 - pad), max(0, y0 - pad), min(image.width, x1 + pad), min(image.height, y1 + pad)))
    )


def page_problems(
    name: str, page: int, image_uri: str, reading_problems: list[PageProblem], defaults: dict[str, Any] | None = None
) -> list[Problem]:
    """Problem records for the problems found on one page of a page file, with the run's metadata ``defaults``."""
    return [
        Problem(id=page_problem_id(name, page, k), text=found.text, image=f"{image_uri}#page={page}").with_defaults(
            defaults or {}
        )
        for k, found in enumerate(reading_problems, start=1)
    ]


def page_metadata_for(row: dict[str, Any], cfg: BatchConfig) -> dict[str, Any]:
    """The metadata a page's problems get: its sidecar's over the run's Params."""
    return {**cfg.defaults, **row.get("metadata", {})}


def stored_page(stored: dict[str, Any] | None, labels: LabelStore, sha: str, name: str, page: int, version: str,
                curriculum: str, metadata: dict[str, Any]) -> list[dict[str, Any]] | None:  # fmt: skip
    """The label documents of a page already read and labeled by model ``version`` (``stored``: its first problem's),
    if all of them are stored with the same curriculum and the same metadata (``metadata``: what the run and the
    page's sidecar give)."""
    if stored is None or (stored.get("input", {}).get("page") or {}).get("sha") != sha:
        return None
    count = stored["input"]["page"].get("problems") or 0
    ids = [label_doc_id(page_problem_id(name, page, k), version) for k in range(1, count + 1)]
    docs = labels.get_labels(ids)
    wanted = Problem(id="page", text="-").with_defaults(metadata).metadata
    changed = any(
        doc.get("curriculum") != curriculum
        or any((doc.get("metadata") or {}).get(k) != wanted[k] for k in ("school", "grade", "course"))
        for doc in docs.values()
    )
    return None if len(docs) != count or changed else list(docs.values())


def read_images(
    to_read: list[tuple[dict[str, Any], Problem | None]],
    name: str,
    objects: ObjectStore,
    reader_factory: Callable[[], PageReader] | None,
    cfg: BatchConfig,
    result: ChunkResult,
) -> list[Item]:
    """Layout + OCR for the pages and image records of a chunk; what yields no text is quarantined with why."""
    if reader_factory is None:
        raise LabelingError(f"{name}: the chunk holds images but no page reader (layout + OCR) was given")
    reader = reader_factory()
    items: list[Item] = []
    refused: list[dict[str, Any]] = []
    crops = join("processed", cfg.run_date, f"{name}.crops")
    for row, problem in to_read:
        started = time.monotonic()
        key = row["page"]["key"] if problem is None else row["image_key"]
        sha = row["page"]["sha"] if problem is None else row["image_sha"]
        page = row["record"] if problem is None else None
        what = f"page {page}" if page else f"record {row['record']} (id={problem.id if problem else ''})"
        try:  # checked when prepared, but an image record's image may have changed since
            image = load_page(objects, key)
        except PageError as exc:
            log.warning("%s %s: %s", name, what, exc)
            refused.append({"record": row["record"], "id": problem.id if problem else f"{name}#p{page}",
                            "reason": str(exc), "image": objects.uri(key)})  # fmt: skip
            continue
        reading = reader.read(image, split=problem is None)
        seconds = time.monotonic() - started
        result.pages += 1
        result.ocr_seconds = round(result.ocr_seconds + seconds, 3)
        found = [p for p in reading.problems if p.text.strip()]
        if not found:
            reason = f"no text could be read off {what} ({reading.layout}; {reading.ocr})"
            log.warning("%s %s", name, reason)
            refused.append({"record": row["record"], "id": problem.id if problem else f"{name}#p{page}",
                            "reason": reason, "image": objects.uri(key)})  # fmt: skip
            continue
        if problem is not None:  # an image record: the whole image is the one problem
            inside = key.startswith(cfg.processing + "/")
            uri = objects.uri(join(INCOMING, key.removeprefix(cfg.processing + "/")) if inside else key)
            vision = vision_doc(found[0], reader=reader, page=None, uri=uri, crop=uri, problems_on_page=1, sha=sha,
                                seconds=seconds, skew=reading.skew)  # fmt: skip
            text_problem = problem.model_copy(update={"text": found[0].text})
            items.append(Item(row["record"], text_problem, problem.content_hash(cfg.curriculum, sha), vision))
            continue
        image_uri = objects.uri(join(INCOMING, name))
        text_problems = page_problems(name, page, image_uri, found, page_metadata_for(row, cfg))
        for k, (found_problem, text_problem) in enumerate(zip(found, text_problems, strict=True), start=1):
            crop_key = join(crops, f"p{page:04d}-{k}.png")
            objects.write_bytes(crop_key, crop_of(reading.image or image, found_problem.box))
            vision = vision_doc(found_problem, reader=reader, page=page, uri=image_uri, crop=objects.uri(crop_key),
                                problems_on_page=len(found), sha=sha, seconds=seconds / len(found),
                                skew=reading.skew)  # fmt: skip
            items.append(Item(page, text_problem, text_problem.content_hash(cfg.curriculum, sha), vision))
    if refused:
        result.quarantined = len(refused)
        base = join("quarantine", cfg.run_date, f"{name}.{PurePosixPath(result.chunk).stem}")
        reason = f"{len(refused)} page(s) or image(s) unreadable or without readable text"
        result.error_key = cfg.filing(objects).error(name, reason, refused, base=base)
    return items


def read_local_images(
    problems: list[Problem], base: Path, reader: PageReader
) -> tuple[list[Problem], list[tuple[str, str]], dict[str, float]]:
    """For ``mathlabel bench``: records with an ``image`` (a file path, relative to ``base``) and no ``text`` get the
    text read off it (the whole image is one problem). Returns the problems, ``(id, reason)`` for those without
    readable text, and timing (``images``, ``seconds_per_image``)."""
    out, refused, seconds = [], [], []
    for problem in problems:
        if problem.text is not None or problem.image is None:
            out.append(problem)
            continue
        path = (base / problem.image).resolve() if not Path(problem.image).is_absolute() else Path(problem.image)
        try:
            image = open_image(str(path), path.read_bytes())
            started = time.perf_counter()
            reading = reader.read(image, split=False)
            seconds.append(time.perf_counter() - started)
        except (OSError, PageError) as exc:
            refused.append((problem.id, str(exc)))
            continue
        text = "\n".join(p.text for p in reading.problems).strip()
        if not text:
            refused.append((problem.id, f"no text could be read off {path}"))
            continue
        out.append(problem.model_copy(update={"text": text}))
    timing = {"images": len(seconds), "seconds_per_image": round(sum(seconds) / len(seconds), 3) if seconds else None}
    return out, refused, timing
