"""Layout without a detector: rules, columns and lines of ink, deskewing; the ``Region`` and detector types."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from labeling.vision.image import ink_mask

if TYPE_CHECKING:
    from PIL import Image

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive) in page pixels


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
