"""Images in a batch: page files (PNG/JPEG/PDF) and records that name an image, from claim to label-ready problems.

Two ways an image comes in:
- a **page file** dropped in ``incoming/`` (or in a zip): every page is read, split into its problems, and each
  problem gets a label document with id ``<file>#p<page>-<k>`` (k-th problem of the page in reading order);
- a **record** of a JSONL/CSV file with ``image`` and no ``text``: the image is that one problem (never split); its
  path is relative to the record file (dropped beside it or in the same zip), an object-store key, or a URI of the
  object store. An image a record file names is that file's asset, not a page file of its own.

``prepare_*`` run in the prepare step (cheap checks: decodable, not too large, not blank; PDF pages rendered once
into the run's chunk folder); ``read_page_row`` / ``read_image_row`` run in the mapped label step (layout and OCR).
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from labeling.errors import IngestError
from labeling.schemas import Problem
from labeling.vision import (
    IMAGE_SUFFIXES,
    PageError,
    PageProblem,
    PageReader,
    check_not_blank,
    open_image,
    page_hash,
    pdf_page_count,
    render_pdf_page,
)
from stores.errors import StoreError
from stores.objects import ObjectStore, check_key, join

if TYPE_CHECKING:
    from PIL import Image

RECORD_SUFFIXES = (".jsonl", ".csv")


@dataclass
class PageRow:
    """One page waiting for layout and OCR: where its image is, and the hash that decides re-reading."""

    record: int  # page number, 1-based
    key: str  # object key of the page image (the file itself, or the PDF page rendered into the chunk folder)
    sha: str

    def to_row(self) -> dict[str, Any]:
        return {"record": self.record, "page": {"key": self.key, "sha": self.sha}}


def page_problem_id(name: str, page: int, k: int) -> str:
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
            for line in text.splitlines():
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


def read_local_images(
    problems: list[Problem], base: Path, reader: PageReader
) -> tuple[list[Problem], list[tuple[str, str]], dict[str, float]]:
    """For ``mathlabel bench``: records with an ``image`` (a file path, relative to ``base``) and no ``text`` get the
    text read off it (the whole image is one problem). Returns the problems, ``(id, reason)`` for those without
    readable text, and timing (``images``, ``seconds_per_image``)."""
    import time

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
