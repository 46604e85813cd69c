"""From a page image to problem texts: page loading, layout, reading order, OCR per region, problem assembly.

``page_images(name, data)`` turns a PNG/JPEG file or a multi-page PDF (rendered by poppler's ``pdftoppm``) into page
images, refusing what cannot be a page (unreadable bytes, a decompression bomb, a blank page) with a ``PageError``
naming the file, page and reason. ``PageReader.read(image)`` finds the page's problems:

1. **Layout**: the ink of the page (background-normalised, so uneven scan lighting does not matter) is split into
   columns (a vertical rule or an empty gutter), each column into lines (rows of ink), and tall blocks of ink become
   ``figure`` regions (``table`` when their text reads as cells). With a trained detector (``YoloLayout``, the
   ``layout-detector`` model) the detector's ``problem`` boxes group the lines and its ``formula`` / ``figure`` /
   ``table`` / ``choices`` boxes set the lines' classes; without one, problems are split where a line at the column's
   left margin starts with a problem number (``12.``, ``12)``, ``[12]``).
2. **Reading order**: columns left to right, lines top to bottom.
3. **OCR**: text lines with the text engine (Tesseract ``kor`` by default), formula lines (the detector's, or a line
   the text engine read without Hangul) with the formula engine (RapidOCR), tables and figures in block mode; a
   figure is described by its class and the text read inside it.
4. **Problems**: one text per problem block (its number removed), with its box, regions and OCR confidence (the
   character-weighted mean word confidence).

The caller decides what a low confidence means (``labeling.review`` sends it to review).
"""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from labeling.errors import IngestError
from labeling.ocr import OcrEngine, OcrError, OcrResult

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
# "12.", "12)", "[12]", "(12)", "12번"; Tesseract often reads "[1]" as "[11" (the bracket as a 1), hence the [1l|I].
PROBLEM_NUMBER = re.compile(r"^\s*(?:\[\s*(\d{1,3}?)\s*[\]1l|I]|\(?\s*(\d{1,3})\s*(?:[.)\]]|번))\s*")
# A bare number before the text ("20 집에서 ...", "17 √3 ..."): OCR drops the period of a bold "20." often. Trusted
# only at a column's left margin and when it is above the page's numbering so far (or starts it).
LOOSE_NUMBER = re.compile(r"^\s*0?(\d{1,3})\s+(?=\S)")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) in page pixels


class PageError(IngestError):
    """A page cannot be read: not an image, too large, blank, or an unreadable PDF."""


# ------------------------------------------------------------------------------------------------------ pages


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
    if not width or max(width, height) > MAX_SIDE or width * height > MAX_PIXELS:
        raise PageError(
            f"{name}: image is {width}x{height} pixels; a page may be at most {MAX_SIDE} pixels on a side and "
            f"{MAX_PIXELS // 1_000_000} megapixels (scan at 150-300 dpi)"
        )
    if image.format not in {"PNG", "JPEG", "MPO"}:
        raise PageError(f"{name}: a {image.format} image; pages must be PNG or JPEG (or PDF)")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
    except (OSError, ValueError, SyntaxError) as exc:
        raise PageError(f"{name}: image data is corrupt or truncated ({exc})") from exc
    return normalise(image)


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


def render_pdf_page(name: str, data: bytes, page: int, dpi: int = PDF_DPI) -> Image.Image:
    """One PDF page (1-based) as an image, by ``pdftoppm``. Raises ``PageError`` when it cannot be rendered."""
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="mathlabel-pdf-") as folder:
        path = Path(folder) / "in.pdf"
        path.write_bytes(data)
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
        with Image.open(out) as image:
            image.load()
            return normalise(image)


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


# ----------------------------------------------------------------------------------------------------- layout


@dataclass
class Region:
    """A region of a page: ``cls`` is text, formula, figure, table, choices or problem; ``box`` in page pixels."""

    cls: str
    box: Box
    conf: float = 1.0
    text: str = ""
    ocr_conf: float | None = None
    engine: str | None = None
    column: int = 0

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["box"] = list(self.box)
        return {k: v for k, v in doc.items() if v not in (None, "")}


class LayoutDetector(Protocol):
    """A trained detector of layout regions (``YoloLayout``); ``version`` is recorded in label documents."""

    version: str

    def detect(self, image: Image.Image) -> list[Region]: ...


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Half-open [start, end) runs of True."""
    padded = np.concatenate(([False], flags, [False]))
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _longest_run(flags: np.ndarray, gap: int) -> int:
    """Length of the longest run of True, bridging breaks shorter than ``gap``."""
    runs = _runs(flags)
    best, start, end = 0, None, None
    for a, b in runs:
        if start is not None and a - end < gap:
            end = b
        else:
            start, end = a, b
        best = max(best, end - start)
    return best


def _strip_rules(mask: np.ndarray, faint: np.ndarray | None = None) -> tuple[np.ndarray, list[int], list[int]]:
    """Remove long straight rules (column separators, header lines, box frames); the x of each vertical rule and
    the y of each horizontal one. A rule is ink that survives an opening with a line a 20th of the page long and
    adds up to a third of the page; ``faint`` (a more lenient ink mask) finds rules that a scan left grey and broken.
    """
    import cv2

    height, width = mask.shape
    ink = (mask if faint is None else faint).astype(np.uint8)
    vertical = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((max(8, height // 20), 1), np.uint8))
    horizontal = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, max(8, width // 6)), np.uint8))
    # A vertical rule of a scan may lean: count its pixels over a band a fiftieth of the page wide.
    band = max(5, width // 50)
    columns = np.convolve(vertical.sum(axis=0), np.ones(band), mode="same")
    rows = horizontal.sum(axis=1)
    verticals = [
        a + int(np.argmax(columns[a:b]))
        for a, b in _runs(columns >= height / 3)
        if _longest_run(vertical[:, max(0, a - band) : b + band].any(axis=1), gap=height // 50) >= 0.4 * height
    ]  # one long rule (breaks of a bad scan bridged), not the axes and frames of figures stacked down the page
    # Rules as long as half the page: a title block's underline, not a graph's axis or a table's row.
    horizontals = [(a + b) // 2 for a, b in _runs(rows >= width / 2)]
    rules = cv2.dilate(vertical | horizontal, np.ones((5, 5), np.uint8)) > 0
    return mask & ~rules, verticals, horizontals


def _despeckle(mask: np.ndarray, max_area: int = 12) -> np.ndarray:
    """The mask without specks of scan dust: components of at most ``max_area`` pixels far from any other ink."""
    import cv2

    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    small = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] <= max_area)
    small = small[small != 0]
    if small.size == 0:
        return mask
    specks = np.isin(labels, small)
    big = mask & ~specks
    near = cv2.dilate(big.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0  # dots of i, j, periods, 의's stroke
    return big | (specks & near)


def deskew(image: Image.Image, max_degrees: float = 3.0) -> tuple[Image.Image, float]:
    """The page rotated so that its lines are level (the angle whose row profile is sharpest), and that angle."""
    import cv2
    from PIL import Image

    mask = ink_mask(image).astype(np.uint8) * 255
    small = cv2.resize(mask, (max(1, mask.shape[1] // 3), max(1, mask.shape[0] // 3)), interpolation=cv2.INTER_AREA)
    centre = (small.shape[1] / 2, small.shape[0] / 2)

    def sharpness(angle: float) -> float:
        turned = cv2.warpAffine(small, cv2.getRotationMatrix2D(centre, angle, 1.0), small.shape[::-1])
        profile = turned.sum(axis=1, dtype=np.float64)
        return float(np.square(np.diff(profile)).sum())

    coarse = max(np.arange(-max_degrees, max_degrees + 1e-9, 0.5), key=sharpness)
    best = max(np.arange(coarse - 0.5, coarse + 0.5 + 1e-9, 0.1), key=sharpness)
    if abs(best) < 0.15:
        return image, 0.0
    turned = image.rotate(float(best), resample=Image.Resampling.BICUBIC, expand=False, fillcolor=(255, 255, 255))
    return turned, round(float(best), 2)


def _columns(mask: np.ndarray, verticals: list[int]) -> list[tuple[int, int]]:
    """Column extents [x0, x1): split at a vertical rule near the middle, or at a gutter there that (almost) no
    line of text crosses. Lines are smeared horizontally first, so the gaps between words do not count."""
    import cv2

    height, width = mask.shape
    middle = sorted((x for x in verticals if 0.3 * width <= x <= 0.7 * width), key=lambda x: abs(x - width / 2))
    if middle:
        split, margin = middle[0], max(4, width // 150)  # the rule's blurred edges stay out of both columns
        return [(0, split - margin), (split + margin, width)]
    smear = max(3, width // 60)
    solid = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((1, smear), np.uint8)) > 0
    ink_rows = solid.any(axis=1)
    rows = int(ink_rows.sum())
    if rows == 0:
        return [(0, width)]
    coverage = solid[ink_rows].sum(axis=0)  # per x: how many rows with ink cross it
    profile = mask.sum(axis=0)
    total = float(profile.sum())
    lo, hi = int(0.3 * width), int(0.7 * width)
    for a, b in sorted(_runs(coverage[lo:hi] <= 0.08 * rows), key=lambda g: g[0] - g[1]):
        a, b = a + lo, b + lo
        if b - a < 0.012 * width:
            break
        split = a + int(np.argmin(coverage[a:b]))
        if profile[:split].sum() < 0.15 * total or profile[split:].sum() < 0.15 * total:
            continue
        band_rows = solid[:, max(0, split - 2) : split + 3].any(axis=1)
        crossing = [(c, d) for c, d in _runs(band_rows) if d - c >= 3 and 0.1 * height < c and d < 0.92 * height]
        if crossing:  # a line of the body runs across it (titles and page numbers may): one column
            continue
        if _rows_aligned(solid[:, :split], solid[:, split:]):
            return [(0, width)]  # one column of tab-stopped content (choices in a row), not two columns
        return [(0, split), (split, width)]
    return [(0, width)]


def _rows_aligned(left: np.ndarray, right: np.ndarray) -> bool:
    """Whether most lines right of a gap sit on the same rows as lines left of it (a row of choices or a header
    with a name field do; two independent columns of text do not)."""
    left_rows = left.any(axis=1)
    right_lines = [(a, b) for a, b in _runs(right.any(axis=1)) if b - a >= 3]
    if not right_lines:
        return True
    aligned = sum(1 for a, b in right_lines if left_rows[a:b].mean() >= 0.8)
    if aligned >= 0.7 * len(right_lines):
        return True
    # A second column holds lines of its own that start at its left margin: at least three lines that sit beside
    # nothing on the left and begin within a small distance of the leftmost line right of the gap. A right column
    # of one short problem is missed (on 200 generated pages: 3 of 12 right columns; requiring two lines instead
    # split 3 one-column pages).
    starts = [(a, b, int(np.argmax(right[a:b].any(axis=0)))) for a, b in right_lines if left_rows[a:b].mean() < 0.8]
    margin = min(x for _, _, x in starts)
    at_margin = [x for _, _, x in starts if x - margin <= 0.04 * (left.shape[1] + right.shape[1])]
    return len(at_margin) < 3


def find_lines(mask: np.ndarray, faint: np.ndarray | None = None) -> list[Region]:
    """Lines of ink in reading order (columns left to right, top to bottom): ``text`` lines and tall ``figure``
    blocks. Rows of a line closer than a third of a typical line height are merged (superscripts, fraction bars).
    Lines above a half-page-wide rule in the top 15% of the page (a worksheet's title block) are ``header``."""
    clean, verticals, horizontals = _strip_rules(_despeckle(mask), faint)
    header_rule = max((y for y in horizontals if y < 0.15 * mask.shape[0]), default=-1)
    regions: list[Region] = []
    for column, (x0, x1) in enumerate(_columns(clean, verticals)):
        band = clean[:, x0:x1]
        min_ink = max(1, (x1 - x0) // 800)
        runs = [(a, b) for a, b in _runs(band.sum(axis=1) >= min_ink) if b - a >= 3]
        if not runs:
            continue
        typical = float(np.median([b - a for a, b in runs]))
        merged: list[list[int]] = []
        for a, b in runs:
            if merged and a - merged[-1][1] < max(2.0, typical / 3):
                merged[-1][1] = b
            else:
                merged.append([a, b])
        heights = [b - a for a, b in merged]
        line_height = float(np.median([h for h in heights if h <= 3 * typical] or heights))
        for a, b in merged:
            cols = np.flatnonzero(band[a:b].any(axis=0))
            if cols.size == 0:
                continue
            box = (x0 + int(cols[0]), a, x0 + int(cols[-1]) + 1, b)
            tall = (b - a) > 2.4 * line_height
            if tall and box[2] - box[0] < 1.5 * line_height:
                continue  # a sliver (the remains of a rule, a scan streak), not a figure
            kind = "header" if b <= header_rule else "figure" if tall else "text"
            regions.append(Region(kind, box, column=column))
    return regions


def _overlap(inner: Box, outer: Box) -> float:
    """Share of ``inner``'s area inside ``outer``."""
    w = min(inner[2], outer[2]) - max(inner[0], outer[0])
    h = min(inner[3], outer[3]) - max(inner[1], outer[1])
    area = max(1, (inner[2] - inner[0]) * (inner[3] - inner[1]))
    return max(0, w) * max(0, h) / area


# -------------------------------------------------------------------------------------------------------- OCR


@dataclass
class PageProblem:
    """One problem found on a page: its printed number (None when unnumbered), box, regions and text."""

    number: int | None
    box: Box
    regions: list[Region]
    text: str
    confidence: float

    def to_doc(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "box": list(self.box),
            "confidence": round(self.confidence, 4),
            "regions": [r.to_doc() for r in self.regions],
        }


@dataclass
class PageReading:
    """What ``PageReader.read`` found on one page; ``furniture`` is text outside every problem (headers, numbers)."""

    size: tuple[int, int]
    problems: list[PageProblem]
    furniture: list[Region] = field(default_factory=list)
    layout: str = ""
    ocr: str = ""
    seconds: float = 0.0
    skew: float = 0.0  # degrees the page was turned to level its lines; boxes are in the turned page
    image: Image.Image | None = None  # the page as read (normalised, levelled): crops come from it


def _page_number(box: Box, size: tuple[int, int]) -> bool:
    """A small piece of text in the top or bottom margin: a page number or running head, not a problem's."""
    width, height = size
    return (box[2] - box[0]) < 0.2 * width and (box[3] > 0.94 * height or box[1] < 0.04 * height)


def _number(match: re.Match[str]) -> int:
    return int(match.group(1) or match.group(2))


def _union(boxes: list[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _confidence(regions: list[Region]) -> float:
    """Character-weighted mean of the regions' OCR confidence (figures count only through the text inside them)."""
    weighted = [(len(r.text), r.ocr_conf) for r in regions if r.ocr_conf is not None and r.text]
    chars = sum(n for n, _ in weighted)
    return sum(n * c for n, c in weighted) / chars if chars else 0.0


class PageReader:
    """Reads problems off page images with the configured OCR engines and, when given, a trained layout detector.

    Args:
        text_engine: reads text lines (and tables, figures in block mode).
        formula_engine: reads formula lines; None = the text engine.
        detector: a trained layout detector; None = the layout analysis of this module alone.
        min_problem_conf: detector ``problem`` boxes below this confidence are ignored.
    """

    def __init__(
        self,
        text_engine: OcrEngine,
        formula_engine: OcrEngine | None = None,
        detector: LayoutDetector | None = None,
        *,
        min_problem_conf: float = 0.3,
    ) -> None:
        self.text_engine = text_engine
        self.formula_engine = formula_engine or text_engine
        self.detector = detector
        self.min_problem_conf = min_problem_conf

    @property
    def layout_version(self) -> str:
        return self.detector.version if self.detector else "projection-v1"

    @property
    def ocr_version(self) -> str:
        self.text_engine.check()
        text = self.text_engine.version
        if self.formula_engine in (self.text_engine, getattr(self.text_engine, "symbols", None)):
            return text  # the text engine's version already names it
        try:
            self.formula_engine.check()
        except OcrError:
            return text
        return f"{text}; formulas {self.formula_engine.version}"

    def read(self, image: Image.Image, *, split: bool = True) -> PageReading:
        """The problems of one page in reading order. With ``split=False`` the whole page is one problem (a record
        that names its own image). A page where no problem number is found is one unnumbered problem."""
        started = time.monotonic()
        image, skew = deskew(normalise(image))
        ratio = ink_ratio(image)
        lines = find_lines(ratio < 0.6, faint=ratio < 0.85)
        detected = self.detector.detect(image) if self.detector else []
        self._classify(lines, detected)
        for region in lines:
            if region.cls != "header":
                self._ocr(image, region)
        lines = [r for r in lines if r.text or r.cls in {"figure", "table", "header"}]
        if not split:
            body = [r for r in lines if r.cls != "header"]
            groups = [(None, body)] if body else []
            furniture: list[Region] = []
        elif self.detector:
            groups, furniture = self._group_by_detector(lines, detected, image.size)
        else:
            groups, furniture = self._group_by_numbers(lines, image.size)
        problems = []
        for number, regions in groups:
            if not regions:
                continue
            text = self._problem_text(regions, strip_number=number is not None)
            problems.append(PageProblem(number, _union([r.box for r in regions]), regions, text, _confidence(regions)))
        return PageReading(
            size=image.size,
            problems=problems,
            furniture=furniture,
            layout=self.layout_version,
            ocr=self.ocr_version,
            seconds=round(time.monotonic() - started, 3),
            skew=skew,
            image=image,
        )

    def _classify(self, lines: list[Region], detected: list[Region]) -> None:
        """Give each line the class of the detected region (other than ``problem``) that holds most of it: a line of
        text may become a formula or a row of choices, a block may become a table. A line of text is never turned
        into a figure or table: a detector's figure box often takes in the line beside it, and a table row read as a
        line gives its cells in order anyway."""
        allowed = {"text": {"formula", "choices"}, "figure": {"table", "figure"}}
        for line in lines:
            kinds = [d for d in detected if d.cls in allowed.get(line.cls, set())]
            best = max(kinds, key=lambda d: _overlap(line.box, d.box), default=None)
            if best is not None and _overlap(line.box, best.box) >= 0.6:
                line.cls = best.cls

    def _ocr(self, image: Image.Image, region: Region) -> None:
        x0, y0, x1, y1 = region.box
        pad = 4
        crop = image.crop((max(0, x0 - pad), max(0, y0 - pad), x1 + pad, y1 + pad))
        if region.cls in {"figure", "table"}:
            result = self.text_engine.read(_without_rules(crop), kind="text", layout="block")
            words = [w["text"] for w in result.words if w["conf"] >= 0.6 and re.search(r"\w", w["text"])]
            if region.cls == "figure" and len(words) >= 8 and result.confidence >= 0.75:
                region.cls = "table"
            region.text = " ".join(words) if region.cls == "figure" else result.text.replace("\n", " ")
            region.ocr_conf, region.engine = (result.confidence if words else None), self.text_engine.name
            return
        if region.cls == "formula":
            result = self.formula_engine.read(crop, kind="formula", layout="line")
            region.text, region.ocr_conf, region.engine = result.text, result.confidence, self.formula_engine.name
            return
        result = self.text_engine.read(_close_gaps(crop), kind="text", layout="line")
        region.text, region.ocr_conf, region.engine = result.text, result.confidence, self.text_engine.name
        if self._looks_like_formula(result) and self.formula_engine is not self.text_engine:
            second = self.formula_engine.read(crop, kind="formula", layout="line")
            if second.text and second.confidence >= 0.5:
                region.cls, region.text = "formula", second.text
                region.ocr_conf, region.engine = second.confidence, self.formula_engine.name

    @staticmethod
    def _looks_like_formula(result: OcrResult) -> bool:
        """A line the text engine read without Hangul but with an operator: a display formula."""
        text = result.text
        return (
            bool(text)
            and not HANGUL.search(text)
            and bool(re.search(r"[=+×÷^<>≤≥√]|\d\s*[-/]\s*\d", text))
            and (PROBLEM_NUMBER.match(text) is None)
        )

    def _group_by_numbers(
        self, lines: list[Region], size: tuple[int, int]
    ) -> tuple[list[tuple[int | None, list[Region]]], list[Region]]:
        """Problems start at lines that begin with a problem number at their column's left margin."""
        width, height = size
        text_heights = [r.box[3] - r.box[1] for r in lines if r.cls == "text"]
        line_height = float(np.median(text_heights)) if text_heights else 20.0
        columns: dict[int, list[Region]] = {}
        for region in lines:  # find_lines gives them column by column, each top to bottom
            columns.setdefault(region.column, []).append(region)
        groups: list[tuple[int | None, list[Region]]] = []
        furniture: list[Region] = []
        starts: dict[int, int] = {}  # id(region) → its problem number
        previous: int | None = None
        for column in columns.values():
            text_lefts = [r.box[0] for r in column if r.cls in {"text", "formula"}]
            margin = min(text_lefts) if text_lefts else 0
            for region in column:
                if region.cls not in {"text", "formula"} or region.box[0] > margin + 1.5 * line_height:
                    continue
                match = PROBLEM_NUMBER.match(region.text)
                loose = LOOSE_NUMBER.match(region.text) if match is None else None
                if match is not None:
                    starts[id(region)] = previous = _number(match)
                elif loose is not None and (previous is None or int(loose.group(1)) > previous):
                    starts[id(region)] = previous = int(loose.group(1))
        first = min((r.box[1] for r in lines if id(r) in starts), default=height)
        for column in columns.values():
            for region in column:
                small = (region.box[2] - region.box[0]) < 0.2 * width
                if id(region) in starts:
                    groups.append((starts[id(region)], [region]))
                elif (
                    region.cls == "header"
                    or region.box[3] <= first
                    or _page_number(region.box, size)
                    or (small and groups and region.box[1] - groups[-1][1][-1].box[3] > 5 * line_height)
                ):  # a header, a page number, or a speck of text far below the last problem
                    furniture.append(region)
                elif groups:
                    groups[-1][1].append(region)
                else:
                    furniture.append(region)  # above the first problem: a header
        if not groups:  # no problem number anywhere: the page (less its header and page number) is one problem
            body = [r for r in lines if r.cls != "header" and not _page_number(r.box, size)]
            return ([(None, body)] if body else []), [r for r in lines if r not in body]
        return groups, furniture

    def _group_by_detector(
        self, lines: list[Region], detected: list[Region], size: tuple[int, int]
    ) -> tuple[list[tuple[int | None, list[Region]]], list[Region]]:
        """Lines go to the detected problem box that holds most of them; lines outside every box are furniture.
        Without a confident problem box the page is split by problem numbers."""
        boxes = [d for d in detected if d.cls == "problem" and d.conf >= self.min_problem_conf]
        if not boxes:
            return self._group_by_numbers(lines, size)
        members: list[list[Region]] = [[] for _ in boxes]
        furniture = []
        for line in lines:
            best = max(range(len(boxes)), key=lambda i: _overlap(line.box, boxes[i].box))
            if _overlap(line.box, boxes[best].box) >= 0.5:
                members[best].append(line)
            else:
                furniture.append(line)
        groups: list[tuple[int | None, list[Region]]] = []
        # In reading order: by the position of each box's first line among the page's lines.
        for i in sorted((i for i in range(len(boxes)) if members[i]), key=lambda i: lines.index(members[i][0])):
            match = PROBLEM_NUMBER.match(members[i][0].text)
            groups.append((_number(match) if match else None, members[i]))
        return groups, furniture

    @staticmethod
    def _problem_text(regions: list[Region], *, strip_number: bool) -> str:
        parts = []
        for i, region in enumerate(regions):
            text = region.text.strip()
            if i == 0 and strip_number:
                text = (
                    PROBLEM_NUMBER.sub("", text, count=1)
                    if PROBLEM_NUMBER.match(text)
                    else LOOSE_NUMBER.sub("", text, count=1)
                )
            if region.cls == "figure":
                text = f"[그림: {text}]" if text else "[그림]"
            elif region.cls == "table":
                text = f"[표: {text}]"
            if text:
                parts.append(text)
        return "\n".join(parts)


def _without_rules(crop: Image.Image) -> Image.Image:
    """The crop with its long straight lines (table rules, axes) painted white, so that only the text is read."""
    import cv2
    from PIL import Image

    mask = ink_mask(crop).astype(np.uint8)
    long_side = max(8, min(crop.size) // 4)
    rules = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, long_side), np.uint8))
    rules |= cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((long_side, 1), np.uint8))
    rules = cv2.dilate(rules, np.ones((3, 3), np.uint8))
    pixels = np.asarray(crop.convert("RGB")).copy()
    pixels[rules > 0] = 255
    return Image.fromarray(pixels)


def _close_gaps(crop: Image.Image) -> Image.Image:
    """A line with wide blank gaps (choices spread over a row) with each gap narrowed to about one letter: a line
    recogniser reads it far better, and the gaps still separate the pieces."""
    from PIL import Image

    mask = ink_mask(crop)
    height = crop.height
    gaps = [(a, b) for a, b in _runs(~mask.any(axis=0)) if b - a > 1.5 * height and a > 0 and b < crop.width]
    if not gaps:
        return crop
    keep = round(0.8 * height)
    pieces, start = [], 0
    for a, b in gaps:
        pieces.append((start, a + keep // 2))
        start = b - keep // 2
    pieces.append((start, crop.width))
    out = Image.new("RGB", (sum(b - a for a, b in pieces), height), (255, 255, 255))
    x = 0
    for a, b in pieces:
        out.paste(crop.crop((a, 0, b, height)), (x, 0))
        x += b - a
    return out


# ------------------------------------------------------------------------------------------------------ YOLO


class YoloLayout:
    """A trained Ultralytics layout detector (``training.layout``), from a ``best.pt`` file.

    Args:
        weights: path of the checkpoint.
        version: what label documents record, e.g. ``layout-detector-v3``.
        imgsz: inference image size (the training size).
        conf: boxes below this confidence are dropped.
    """

    def __init__(self, weights: str | Path, version: str, *, imgsz: int = 640, conf: float = 0.25) -> None:
        from ultralytics import YOLO  # the caller has configured Ultralytics offline (mathlabel.clients)

        self.model = YOLO(str(weights))
        self.version = version
        self.imgsz = imgsz
        self.conf = conf

    def detect(self, image: Image.Image) -> list[Region]:
        result = self.model.predict(image.convert("RGB"), imgsz=self.imgsz, conf=self.conf, verbose=False)[0]
        names = result.names
        regions = []
        for box, cls, conf in zip(
            result.boxes.xyxy.tolist(), result.boxes.cls.tolist(), result.boxes.conf.tolist(), strict=True
        ):
            x0, y0, x1, y1 = (round(v) for v in box)
            regions.append(Region(names[int(cls)], (x0, y0, x1, y1), round(float(conf), 4)))
        return regions
