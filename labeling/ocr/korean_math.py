"""``KoreanMathEngine``: Tesseract for the Korean words, RapidOCR's recogniser for the runs of symbols between them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from labeling.ocr.base import Kind, Layout, OcrResult
from labeling.ocr.rapid import RapidOcrEngine
from labeling.ocr.tesseract import TesseractEngine

if TYPE_CHECKING:
    from PIL import Image


# What the bundled (Chinese + English) recogniser writes for the math symbols it mistakes for CJK characters.
_CJK_SYMBOLS = str.maketrans({"十": "+", "二": "=", "三": "=", "一": "-", "，": ",", "．": ".", "：": ":", "（": "(",
                              "）": ")", "；": ";", "□": "", "口": ""})  # fmt: skip
_SYLLABLE = re.compile(r"[\uac00-\ud7a3]")
_LEADING_NUMBER = re.compile(r"[(\[]?\d{1,3}[.)\]]?")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class KoreanMathEngine:
    """Tesseract for Korean text; every run of words it read without a Hangul syllable (``x + y = 48,``, ``∠B``,
    ``f(x)``) is read again, as one crop spanning the gap between the Hangul words around it, by a recogniser that
    knows Latin letters, digits and symbols (RapidOCR's). The span also covers what Tesseract dropped between those
    words (error rates against Tesseract alone: benchmarks/RESULTS.md, benchmarks/ocr_lines.py). Formulas go to the
    symbol engine whole.

    Args:
        text: the Tesseract engine (its word boxes place the re-reads).
        symbols: an engine with ``recognize(image) -> (text, score)`` (``RapidOcrEngine``).
        min_score: a re-read below this score keeps Tesseract's words.
    """

    name = "tesseract+rapidocr"

    def __init__(self, text: TesseractEngine, symbols: RapidOcrEngine, *, min_score: float = 0.5) -> None:
        self.text = text
        self.symbols = symbols
        self.min_score = min_score
        self.version = ""

    def check(self) -> None:
        self.text.check()
        self.symbols.check()
        self.version = f"{self.text.version}; words without Hangul and formulas {self.symbols.version}"

    def read(self, image: Image.Image, *, kind: Kind = "text", layout: Layout = "block") -> OcrResult:
        self.check()
        if kind == "formula":
            return self.symbols.read(image, kind=kind, layout=layout)
        result = self.text.read(image, kind=kind, layout=layout)
        words = result.words  # in reading order, as Tesseract wrote them into its text
        if not words:
            return result
        spans = _word_spans(result.text, words)
        pieces, kept, done = [], [], 0  # done: how much of Tesseract's text is already in pieces
        cursor = 0  # next word not yet in kept
        for first, last in _symbol_runs(words):
            box = _run_box(words, first, last, image.size)
            if box is None:
                continue
            new, score = self.symbols.recognize(image.crop(box))
            new = new.translate(_CJK_SYMBOLS).strip()
            if not new or score < self.min_score or _CJK.search(new):  # a CJK character: Hangul Tesseract missed
                continue
            pieces.append(result.text[done : spans[first][0]] + new)
            done = spans[last][1]
            kept += words[cursor:first]
            kept.append({"text": new, "conf": score, "box": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
            cursor = last + 1
        pieces.append(result.text[done:])
        kept += words[cursor:]
        confidence = sum(w["conf"] for w in kept) / len(kept)
        return OcrResult(text="".join(pieces), confidence=confidence, words=kept)


def _word_spans(text: str, words: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Where each word is in the text the words were read into (in order; a word not found takes an empty span)."""
    spans, cursor = [], 0
    for word in words:
        found = text.find(word["text"], cursor)
        start = found if found >= 0 else cursor
        end = start + len(word["text"]) if found >= 0 else cursor
        spans.append((start, end))
        cursor = end
    return spans


def _same_line(a: dict[str, Any], b: dict[str, Any]) -> bool:
    centre_a, centre_b = a["box"][1] + a["box"][3] / 2, b["box"][1] + b["box"][3] / 2
    return abs(centre_a - centre_b) <= max(a["box"][3], b["box"][3]) / 2


def _symbol_runs(words: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(first, last) indexes of each run of consecutive words on one line with no Hangul syllable (a lone jamo such
    as ``ㅠ`` is Tesseract's misreading of a symbol, not Korean). A problem number (``19``, ``7.``) is a run of its
    own: read together with a formula after it, it would lose the space that marks it as a problem number."""
    runs, i = [], 0
    while i < len(words):
        if _SYLLABLE.search(words[i]["text"]):
            i += 1
            continue
        j = i
        if not _problem_number(words, i):
            while (
                j + 1 < len(words) and not _SYLLABLE.search(words[j + 1]["text"]) and _same_line(words[j], words[j + 1])
            ):
                j += 1
        runs.append((i, j))
        i = j + 1
    return runs


def _problem_number(words: list[dict[str, Any]], i: int) -> bool:
    """Whether word ``i`` looks like a printed problem number: a number opening its line, set apart from what follows
    by a gap of at least a third of its height (Tesseract also splits ``√58`` into ``7`` and ``58``, with no gap)."""
    word = words[i]
    if not _LEADING_NUMBER.fullmatch(word["text"]) or (i > 0 and _same_line(words[i - 1], word)):
        return False
    after = words[i + 1] if i + 1 < len(words) and _same_line(word, words[i + 1]) else None
    return after is None or after["box"][0] - (word["box"][0] + word["box"][2]) >= word["box"][3] / 3


def _run_box(
    words: list[dict[str, Any]], first: int, last: int, size: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """The crop to re-read a run: from the Hangul word before it to the one after it on the same line (a line's
    ends: one line height beyond the run), the height of the run and those neighbours, a little padded; None when
    that leaves no room. The neighbours' edges win over the run's own box: Tesseract's box of a number before a
    particle (``54의``) often reaches over the particle."""
    run = words[first : last + 1]
    x0, x1 = min(w["box"][0] for w in run), max(w["box"][0] + w["box"][2] for w in run)
    y0, y1 = min(w["box"][1] for w in run), max(w["box"][1] + w["box"][3] for w in run)
    before = words[first - 1] if first > 0 and _same_line(words[first - 1], run[0]) else None
    after = words[last + 1] if last + 1 < len(words) and _same_line(run[-1], words[last + 1]) else None
    neighbours = [w for w in (before, after) if w is not None]
    top = min([y0] + [w["box"][1] for w in neighbours])
    bottom = max([y1] + [w["box"][1] + w["box"][3] for w in neighbours])
    left = before["box"][0] + before["box"][2] + 1 if before else x0 - (y1 - y0)
    right = after["box"][0] - 1 if after else x1 + (y1 - y0)
    pad = max(2, (bottom - top) // 8)
    width, height = size
    box = max(0, left), max(0, top - pad), min(width, right), min(height, bottom + pad)
    return box if box[2] - box[0] >= 4 and box[3] - box[1] >= 4 else None
