"""``PageReader``: layout, reading order, OCR per region and problem assembly for one page."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from labeling.ocr import OcrEngine, OcrError, OcrResult
from labeling.vision.image import ink_mask, ink_ratio, normalise
from labeling.vision.layout import Box, LayoutDetector, Region, _overlap, _runs, deskew, find_lines

if TYPE_CHECKING:
    from PIL import Image

# "12.", "12)", "[12]", "(12)", "12번"; Tesseract often reads "[1]" as "[11" (the bracket as a 1), hence the [1l|I].
PROBLEM_NUMBER = re.compile(r"^\s*(?:\[\s*(\d{1,3}?)\s*[\]1l|I]|\(?\s*(\d{1,3})\s*(?:[.)\]]|번))\s*")
# A bare number before the text ("20 집에서 ...", "17 √3 ..."): OCR drops the period of a bold "20." often. Trusted
# only at a column's left margin and when it is above the page's numbering so far (or starts it).
LOOSE_NUMBER = re.compile(r"^\s*0?(\d{1,3})\s+(?=\S)")
HANGUL = re.compile(r"[\uac00-\ud7a3]")


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
