"""What a generated page is: its image, the layout regions and text lines drawn on it, with exact boxes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from PIL import Image

CLASSES = ("text", "formula", "figure", "table", "choices", "problem")


Box = tuple[int, int, int, int]


@dataclass
class Region:
    """A layout region: ``box`` is ``(x0, y0, x1, y1)`` in pixels, x1/y1 exclusive; ``problem`` is the printed
    problem number, 0 for page furniture (header, page number)."""

    cls: str
    box: Box
    problem: int
    text: str | None = None


@dataclass
class TextLine:
    """One drawn run of Korean text or one formula, with its ground-truth text (formulas in linear form)."""

    box: Box
    text: str
    kind: Literal["korean", "formula"]
    problem: int


@dataclass
class Page:
    image: Image.Image
    regions: list[Region]
    lines: list[TextLine]
    problems: list[dict[str, Any]]
    noisy: bool = False
    seed: int = 0
