"""What every OCR engine shares: the ``OcrEngine`` interface, its result and errors, and the character error rate."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from labeling.errors import LabelingError

if TYPE_CHECKING:
    from PIL import Image


Kind = Literal["text", "formula"]
Layout = Literal["line", "block"]


class OcrError(LabelingError):
    """An OCR engine failed on an image."""


class OcrUnavailable(OcrError):
    """An OCR engine cannot run here: a program, language data or model file is missing."""


@dataclass
class OcrResult:
    """What an engine read.

    ``confidence`` is the mean word confidence, 0 to 1 (0 when nothing was read). Each of ``words`` is
    ``{"text", "conf" (0..1), "box": [left, top, width, height]}`` in the pixels of the image given to ``read``.
    """

    text: str
    confidence: float
    words: list[dict[str, Any]] = field(default_factory=list)


class OcrEngine(Protocol):
    """Reads the text of one image: a text line, a block of lines, or a formula.

    ``version`` names the program and models for label documents once ``check()`` has passed.
    """

    name: str
    version: str

    def check(self) -> None: ...

    def read(self, image: Image.Image, *, kind: Kind = "text", layout: Layout = "block") -> OcrResult: ...


def _flatten(image: Image.Image) -> Image.Image:
    """Grayscale on white: transparent pixels become background, not black."""
    from PIL import Image

    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("L")


_DASHES = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u2010": "-", "\u2011": "-"})


def normalize_for_cer(text: str, *, spaces: bool = False) -> str:
    """NFKC (so ``x²`` is ``x2`` and full-width forms are plain), dashes as ``-``; whitespace removed, or collapsed
    to single spaces when ``spaces``."""
    text = unicodedata.normalize("NFKC", text).translate(_DASHES)
    return re.sub(r"\s+", " ", text).strip() if spaces else re.sub(r"\s+", "", text)


def cer(reference: str, hypothesis: str, *, spaces: bool = False) -> float:
    """Character error rate: Levenshtein distance over the reference length, after ``normalize_for_cer``.

    Spaces do not count by default: Korean spacing (띄어쓰기) varies between writers and OCR engines and does not
    change what a problem asks, and formulas are spaced freely. An empty reference gives 0.0 for an empty
    hypothesis and 1.0 otherwise. The result can exceed 1 when the hypothesis is much longer than the reference.
    """
    ref, hyp = normalize_for_cer(reference, spaces=spaces), normalize_for_cer(hypothesis, spaces=spaces)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1] / len(ref)
