"""Drawing primitives: ink pieces cropped tight, a page's typographic style, and text flow into lines."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from training.pages.fonts import MATH_FAMILIES, _font
from training.pages.regions import Box, Region, TextLine
from training.pages.specs import Math, Seg

WHITE = (255, 255, 255)
MIN_GAP = 3  # pixels of paper between two neighbouring boxes, so every box is separable from the next


# ---------------------------------------------------------------------------------------------- rendered pieces


@dataclass(frozen=True)
class _Piece:
    """Ink cropped tight: ``mask`` (255 = ink); ``dx`` ink left relative to the pen; ``above`` rows above the
    baseline; ``adv`` how far the pen moves."""

    mask: Image.Image
    dx: int
    above: int
    adv: float

    @property
    def w(self) -> int:
        return self.mask.width

    @property
    def h(self) -> int:
        return self.mask.height

    @property
    def below(self) -> int:
        return self.h - self.above


def _crop(mask: Image.Image) -> tuple[Image.Image, Box]:
    bbox = mask.getbbox()
    if bbox is None:
        raise ValueError("nothing was drawn")
    return mask.crop(bbox), bbox


@lru_cache(maxsize=8192)
def _text_piece(text: str, font: ImageFont.FreeTypeFont) -> _Piece:
    left, top, right, bottom = font.getbbox(text, anchor="ls")
    pad = 2
    img = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ox, oy = pad - left, pad - top
    ImageDraw.Draw(img).text((ox, oy), text, font=font, fill=255, anchor="ls")
    mask, bbox = _crop(img)
    return _Piece(mask, bbox[0] - ox, oy - bbox[1], font.getlength(text))


@lru_cache(maxsize=1)
def _math_parser() -> Any:
    from matplotlib.mathtext import MathTextParser

    return MathTextParser("agg")


@lru_cache(maxsize=4096)
def _math_piece(tex: str, size: int, family: str) -> _Piece:
    from matplotlib.font_manager import FontProperties

    parsed = _math_parser().parse(tex, dpi=72, prop=FontProperties(size=size, math_fontfamily=family))
    img = Image.fromarray(np.asarray(parsed.image, dtype=np.uint8))
    baseline = img.height - round(parsed.depth)
    mask, bbox = _crop(img)
    return _Piece(mask, 0, baseline - bbox[1], float(mask.width))


def _figure_piece(draw_figure: Callable[[Any, Any], None], w: int, h: int, axes: Sequence[float] | None) -> _Piece:
    """Run ``draw_figure(fig, ax)`` on a ``w``x``h`` matplotlib canvas and keep its ink."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w / 100, h / 100), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes(axes or (0.0, 0.0, 1.0, 1.0))
    if axes is None:
        ax.set_axis_off()
    draw_figure(fig, ax)
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(np.uint16)
    ink = (255 - rgb.sum(axis=2) // 3).astype(np.uint8)
    mask, _ = _crop(Image.fromarray(ink))
    return _Piece(mask, 0, mask.height, float(mask.width))


# ---------------------------------------------------------------------------------------------------------- style


@dataclass
class _Style:
    """Typographic choices shared by everything on one page."""

    body: ImageFont.FreeTypeFont
    bold: ImageFont.FreeTypeFont
    size: int
    math_size: int
    math_family: str
    ink: tuple[int, int, int]
    accent: tuple[int, int, int]
    number_style: str
    leading: int
    block_gap: int
    problem_gap: int

    @classmethod
    def pick(cls, r: random.Random, width: int) -> _Style:
        scale = width / 1240
        size = round(r.randint(21, 26) * scale)
        family = r.choice(["gothic", "myeongjo"])
        bold = r.choice([family, "gothic"]) + "-bold"
        shade = r.randint(0, 35)
        ink = (shade, shade, min(shade + r.randint(0, 12), 255))
        accent = r.choice([ink, ink, (30, 60, 150), (150, 30, 40), (20, 95, 60)])
        return cls(
            body=_font(family, size),
            bold=_font(bold, size + r.randint(1, 4)),
            size=size,
            math_size=round(size * r.uniform(1.0, 1.12)),
            math_family=r.choice(MATH_FAMILIES),
            ink=ink,
            accent=accent,
            number_style=r.choice(["{}.", "{}.", "[{}]", "{:02d}"]),
            leading=round(size * r.uniform(0.55, 0.95)),
            block_gap=round(size * r.uniform(0.6, 1.1)),
            problem_gap=round(size * r.uniform(1.8, 4.0)),
        )

    @property
    def space(self) -> float:
        return self.body.getlength(" ")


# ----------------------------------------------------------------------------------------------------- text flow


@dataclass
class _Tok:
    text: str  # a word, or the linear form of a formula; "\n" forces a line break
    space: bool  # a space before it
    font: ImageFont.FreeTypeFont | None = None
    piece: _Piece | None = None  # the rendered formula


@dataclass
class _Item:
    piece: _Piece
    x: int  # ink left, relative to the line start
    text: str
    kind: Literal["korean", "formula"]


def _tokens(segs: Sequence[Seg], st: _Style, *, display: bool = False) -> list[_Tok]:
    """Words and formulas; a word written right after a formula (a particle: ``x^2=4의``) keeps no space.

    ``display`` draws fractions full size (choices), not in the smaller inline style."""
    toks: list[_Tok] = []
    pending = False
    for seg in segs:
        if isinstance(seg, Math):
            tex = seg.tex.replace(r"\frac", r"\dfrac") if display else seg.tex
            toks.append(_Tok(seg.linear, pending, piece=_math_piece(f"${tex}$", st.math_size, st.math_family)))
            pending = False
            continue
        for i, part in enumerate(seg.split(" ")):
            pending = pending or i > 0
            if part:
                toks.append(_Tok(part, pending, font=st.body))
                pending = False
    return toks


def _line_items(toks: Sequence[_Tok], space: float) -> tuple[list[_Item], int]:
    """Lay out one line: neighbouring words become one drawn run; returns the items and the ink width."""
    runs: list[list[Any]] = []  # [text, font, piece, space]
    for tok in toks:
        if tok.piece is None and runs and runs[-1][2] is None and runs[-1][1] is tok.font:
            runs[-1][0] += (" " if tok.space else "") + tok.text
        else:
            runs.append([tok.text, tok.font, tok.piece, tok.space])
    items: list[_Item] = []
    pen, right = 0.0, None
    for text, font, piece, space_before in runs:
        kind: Literal["korean", "formula"] = "korean" if piece is None else "formula"
        piece = piece or _text_piece(text, font)
        if items and space_before:
            pen += space
        x = round(pen) + piece.dx
        if right is not None:
            x = max(x, right + MIN_GAP)
        items.append(_Item(piece, x, text, kind))
        pen, right = x - piece.dx + piece.adv, x + piece.w
    shift = max(0, -items[0].x) if items else 0  # a glyph reaching left of its pen must not leave the column
    for it in items:
        it.x += shift
    return items, (right or 0) + shift


def _units(toks: Sequence[_Tok]) -> list[list[_Tok]]:
    units: list[list[_Tok]] = []
    for tok in toks:
        if not units or tok.space or tok.text == "\n" or units[-1][0].text == "\n":
            units.append([tok])
        else:
            units[-1].append(tok)
    return units


def _estimate(unit: Sequence[_Tok], space: float) -> float:
    width = 0.0
    for i, tok in enumerate(unit):
        width += (tok.piece.w + MIN_GAP if tok.piece else tok.font.getlength(tok.text)) + 2
        width += space if i and tok.space else 0
    return width


def _wrap(toks: Sequence[_Tok], first: int, rest: int, space: float) -> list[list[_Item]]:
    """Greedy line breaking between words (a formula stays with its particle)."""
    lines: list[list[_Tok]] = []
    current: list[_Tok] = []
    used, limit = 0.0, first
    for unit in _units(toks):
        if unit[0].text == "\n":
            lines.append(current)
            current, used, limit = [], 0.0, rest
            continue
        width = _estimate(unit, space) + (space if current else 0)
        if current and used + width > limit:
            lines.append(current)
            current, used, limit = [], 0.0, rest
            width = _estimate(unit, space)
        if not current:
            unit = [_Tok(unit[0].text, False, unit[0].font, unit[0].piece), *unit[1:]]
        current.extend(unit)
        used += width
    lines.append(current)
    return [_line_items(line, space)[0] for line in lines if line]


class _Canvas:
    """A problem (or the page furniture) being drawn, with everything measured so far."""

    def __init__(self, width: int, height: int, st: _Style, problem: int) -> None:
        self.image = Image.new("RGB", (width, height), WHITE)
        self.draw = ImageDraw.Draw(self.image)
        self.st = st
        self.problem = problem
        self.regions: list[Region] = []
        self.lines: list[TextLine] = []

    def paste(self, piece: _Piece, x: int, y: int, color: tuple[int, int, int]) -> Box:
        self.image.paste(color, (x, y), piece.mask)
        return (x, y, x + piece.w, y + piece.h)

    def line(
        self, items: Sequence[_Item], x: int, y: int, color: tuple[int, int, int] | None = None
    ) -> tuple[Box, int]:
        """Draw one laid-out line with its top at ``y``; returns the ink box and the y below the line."""
        st = self.st
        above = max([round(st.size * 0.8)] + [it.piece.above for it in items])
        below = max([round(st.size * 0.22)] + [it.piece.below for it in items])
        baseline = y + above
        boxes = []
        for it in items:
            box = self.paste(it.piece, x + it.x, baseline - it.piece.above, color or st.ink)
            self.lines.append(TextLine(box, it.text, it.kind, self.problem))
            if it.kind == "formula":  # inline formulas are regions too: OCR sends them to a formula reader
                self.region("formula", box, it.text)
            boxes.append(box)
        return _union(boxes), baseline + below

    def paragraph(self, lines: Sequence[Sequence[_Item]], x: int, y: int) -> tuple[list[Box], int]:
        boxes = []
        for items in lines:
            box, bottom = self.line(items, x, y)
            boxes.append(box)
            y = bottom + self.st.leading
        return boxes, y - self.st.leading

    def region(self, cls: str, box: Box, text: str | None) -> None:
        self.regions.append(Region(cls, box, self.problem, text))


def _union(boxes: Sequence[Box]) -> Box:
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _linear(segs: Sequence[Seg]) -> str:
    return "".join(s.linear if isinstance(s, Math) else s for s in segs)
