"""Page files to page images: size and format checks, PDF rendering, ink masks, the blank-page check."""

from __future__ import annotations

import hashlib
import io
import math
import re
import subprocess
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import numpy as np

from labeling.errors import IngestError

if TYPE_CHECKING:
    from PIL import Image


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
PAGE_SUFFIXES = (*IMAGE_SUFFIXES, ".pdf")
MAX_SIDE = 12_000  # pixels; a larger image is refused before it is decoded
MAX_PIXELS = 60_000_000  # about an A3 page at 600 dpi
MAX_PDF_PAGES = 500
PDF_DPI = 150
WORK_LONG_SIDE = 2400  # pages are scaled down to this (scans at 300 dpi read as well at 200 and twice as fast)
BLANK_INK_SHARE = 0.0003  # a page with less ink than this share of its pixels is blank


class PageError(IngestError):
    """A page cannot be read: not an image, too large, blank, or an unreadable PDF."""


def is_page_file(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in PAGE_SUFFIXES


def page_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def open_image(name: str, data: bytes) -> Image.Image:
    """Decode one PNG/JPEG page: size checked before decoding, EXIF rotation applied, RGB, at most WORK_LONG_SIDE.

    Raises:
        PageError: not a readable image, or larger than MAX_SIDE / MAX_PIXELS.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(data))
        width, height = image.size
    except Image.DecompressionBombError:  # PIL refuses to even open it; say how large it claims to be
        width, height = _png_size(data) or (0, 0)
    except (UnidentifiedImageError, OSError, ValueError, ImportError) as exc:
        # ImportError: once Ultralytics is imported it wraps Image.open and, on an unidentified image, tries to
        # import (and, were auto-install not off, to pip install) a HEIF plugin; either way the bytes are not a page.
        reason = "cannot identify image file" if isinstance(exc, ImportError) else str(exc)
        raise PageError(f"{name}: not a readable PNG or JPEG image ({reason})") from exc
    check_size(f"{name}: image", width, height)
    if image.format not in {"PNG", "JPEG", "MPO"}:
        raise PageError(f"{name}: a {image.format} image; pages must be PNG or JPEG (or PDF)")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise PageError(f"{name}: image data is corrupt or truncated ({exc})") from exc
    return normalise(image)


def check_size(what: str, width: int, height: int) -> None:
    """Refuse a page of ``width`` x ``height`` pixels (``what`` names it) larger than MAX_SIDE or MAX_PIXELS."""
    if not width or max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        raise PageError(
            f"{what} is {width}x{height} pixels; a page may be at most {MAX_SIDE} pixels on a side and "
            f"{MAX_PIXELS // 1_000_000} megapixels (scan at 150-300 dpi)"
        )


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None


def normalise(image: Image.Image) -> Image.Image:
    """RGB on white (transparency flattened), scaled down so that the longer side is at most WORK_LONG_SIDE."""
    from PIL import Image

    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    image = image.convert("RGB")
    longer = max(image.size)
    if longer > WORK_LONG_SIDE:
        scale = WORK_LONG_SIDE / longer
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    return image


def pdf_page_count(name: str, data: bytes) -> int:
    """Pages of a PDF (poppler's ``pdfinfo``). Raises ``PageError`` for an unreadable PDF or too many pages."""
    with tempfile.TemporaryDirectory(prefix="mathlabel-pdf-") as folder:
        path = Path(folder) / "in.pdf"
        path.write_bytes(data)
        try:
            done = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, timeout=60)
        except FileNotFoundError as exc:
            raise PageError(f"{name}: pdfinfo is not installed (apt-get install poppler-utils; make install)") from exc
        except subprocess.TimeoutExpired as exc:
            raise PageError(f"{name}: pdfinfo took over 60 s") from exc
    if done.returncode != 0:
        raise PageError(f"{name}: not a readable PDF ({done.stderr.strip().splitlines()[-1:] or ['pdfinfo failed']})")
    match = re.search(r"^Pages:\s+(\d+)", done.stdout, re.MULTILINE)
    pages = int(match.group(1)) if match else 0
    if pages < 1:
        raise PageError(f"{name}: the PDF has no pages")
    if pages > MAX_PDF_PAGES:
        raise PageError(f"{name}: the PDF has {pages} pages; split it into files of at most {MAX_PDF_PAGES}")
    return pages


def _pdf_page_pixels(name: str, path: Path, page: int, dpi: int) -> tuple[int, int]:
    """The pixel size of a PDF page (1-based) rendered at ``dpi``, from the page size ``pdfinfo`` reads."""
    try:
        done = subprocess.run(["pdfinfo", "-f", str(page), "-l", str(page), str(path)], capture_output=True,
                              text=True, errors="replace", timeout=60)  # fmt: skip
    except FileNotFoundError as exc:
        raise PageError(f"{name}: pdfinfo is not installed (apt-get install poppler-utils; make install)") from exc
    except subprocess.TimeoutExpired as exc:
        raise PageError(f"{name} page {page}: pdfinfo took over 60 s") from exc
    match = re.search(rf"^Page\s+{page} size:\s+([\d.]+) x ([\d.]+) pts", done.stdout, re.MULTILINE)
    if done.returncode != 0 or not match:
        raise PageError(f"{name} page {page}: its size cannot be read ({done.stderr.strip()[:300] or 'pdfinfo'})")
    width, height = (math.ceil(float(points) / 72 * dpi) for points in match.groups())
    return width, height


def render_pdf_page(name: str, data: bytes, page: int, dpi: int = PDF_DPI) -> Image.Image:
    """One PDF page (1-based) as an image, by ``pdftoppm``; a page larger at ``dpi`` than an image may be (MAX_SIDE,
    MAX_PIXELS) is refused before it is rendered. Raises ``PageError`` when it cannot be rendered."""
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="mathlabel-pdf-") as folder:
        path = Path(folder) / "in.pdf"
        path.write_bytes(data)
        check_size(f"{name} page {page} at {dpi} dpi", *_pdf_page_pixels(name, path, page, dpi))
        command = ["pdftoppm", "-f", str(page), "-l", str(page), "-r", str(dpi), "-png", "-singlefile"]
        try:
            done = subprocess.run([*command, str(path), str(Path(folder) / "page")], capture_output=True, timeout=120)
        except FileNotFoundError as exc:
            raise PageError(f"{name}: pdftoppm is not installed (apt-get install poppler-utils)") from exc
        except subprocess.TimeoutExpired as exc:
            raise PageError(f"{name} page {page}: pdftoppm took over 120 s") from exc
        out = Path(folder) / "page.png"
        if done.returncode != 0 or not out.is_file():
            reason = done.stderr.decode(errors="replace").strip()[:300] or "pdftoppm failed"
            raise PageError(f"{name} page {page}: cannot be rendered ({reason})")
        with out.open("rb") as handle:  # what pdftoppm wrote (a UserUnit may scale the page): checked again
            check_size(f"{name} page {page} at {dpi} dpi", *(_png_size(handle.read(24)) or (0, 0)))
        try:
            with Image.open(out) as image:
                image.load()
                return normalise(image)
        except (Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
            raise PageError(f"{name} page {page}: the rendered page cannot be read ({exc})") from exc


def ink_mask(image: Image.Image, threshold: float = 0.6) -> np.ndarray:
    """Boolean ink mask: pixels darker than ``threshold`` times their local background (uneven lighting and grey
    paper cancel out)."""
    return ink_ratio(image) < threshold


def ink_ratio(image: Image.Image) -> np.ndarray:
    """Each pixel's brightness over its local background's (1 = paper)."""
    import cv2

    gray = np.asarray(image.convert("L"), dtype=np.uint8)
    small = cv2.resize(gray, (max(1, gray.shape[1] // 8), max(1, gray.shape[0] // 8)), interpolation=cv2.INTER_AREA)
    background = cv2.dilate(small, np.ones((7, 7), np.uint8))  # paper is the brightest thing nearby
    background = cv2.resize(cv2.blur(background, (9, 9)), (gray.shape[1], gray.shape[0]))
    return gray.astype(np.float32) / np.maximum(background.astype(np.float32), 1.0)


def check_not_blank(name: str, image: Image.Image) -> None:
    mask = ink_mask(image)
    share = float(mask.mean())
    if share < BLANK_INK_SHARE:
        raise PageError(f"{name}: the page is blank ({share:.5f} of its pixels are ink)")
