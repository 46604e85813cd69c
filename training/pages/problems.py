"""One problem drawn into its own canvas: number, stem, display formula, <보기>, figure, table, choices."""

from __future__ import annotations

import random

from training.pages.figures import _render_figure
from training.pages.fonts import _font
from training.pages.regions import TextLine
from training.pages.render import (
    MIN_GAP,
    _Canvas,
    _Item,
    _line_items,
    _linear,
    _math_piece,
    _Style,
    _text_piece,
    _tokens,
    _union,
    _wrap,
)
from training.pages.specs import Seg, _Spec

CIRCLED = "①②③④⑤"


def _render_problem(spec: _Spec, number: int, st: _Style, width: int, height: int, r: random.Random) -> _Canvas:
    """Draw one problem into its own canvas of the column's size, cropped to its height afterwards.

    A problem taller than ``height`` (the column) comes back taller than it, cut off, and is not used."""
    cv = _Canvas(width, height + 1, st, number)
    label = st.number_style.format(number)
    label_piece = _text_piece(label, st.bold)
    label_x = max(0, label_piece.dx)
    indent = label_x + label_piece.w + max(MIN_GAP, round(st.size * r.uniform(0.35, 0.7)))
    toks = _tokens(spec.stem, st)
    lines = _wrap(toks, width - indent - 4, width - indent - 4, st.space)
    # The label sits on the first line's baseline.
    first = lines[0]
    above = max([round(st.size * 0.8), label_piece.above] + [it.piece.above for it in first])
    label_box = cv.paste(label_piece, label_x, above - label_piece.above, st.accent)
    cv.lines.append(TextLine(label_box, label, "korean", number))
    y0 = above - max([round(st.size * 0.8)] + [it.piece.above for it in first])
    boxes, y = cv.paragraph(lines, indent, y0)
    stem_text = _linear(spec.stem)
    cv.region("text", _union([label_box, *boxes]), f"{label} {stem_text}")
    parts = [stem_text]
    gap = st.block_gap
    avail = width - indent
    if spec.display is not None:
        tex = spec.display.tex.replace(r"\frac", r"\dfrac")
        piece = _math_piece(f"${tex}$", round(st.math_size * 1.1), st.math_family)
        x = indent + (max(0, (avail - piece.w) // 2) if r.random() < 0.5 else round(st.size * r.uniform(0.5, 2)))
        box = cv.paste(piece, x, y + gap, st.ink)
        cv.lines.append(TextLine(box, spec.display.linear, "formula", number))
        cv.region("formula", box, spec.display.linear)
        parts.append(spec.display.linear)
        y = box[3]
    if spec.bogi is not None:
        y = _render_bogi(cv, spec.bogi, indent, y + gap, avail, parts)
    if spec.figure is not None:
        kind, params = spec.figure
        fw = min(avail - 8, round(st.size * r.uniform(11, 16)))
        fh = round(fw * (1.0 if kind == "circle" else r.uniform(0.68, 0.9)))
        piece = _render_figure(kind, params, fw, fh, r, st)
        where = r.random()
        x = indent + (0 if where < 0.3 else (avail - piece.w) // 2 if where < 0.8 else avail - piece.w - 4)
        box = cv.paste(piece, max(indent, x), y + gap, st.ink)
        cv.region("figure", box, None)
        y = box[3]
    if spec.table is not None:
        y = _render_table(cv, spec.table, spec.header, indent, y + gap, avail, r, parts)
    if spec.choices is not None:
        y = _render_choices(cv, spec.choices, indent, y + gap, avail, parts)
    cv.image = cv.image.crop((0, 0, width, y))
    box = _union([reg.box for reg in cv.regions])
    cv.region("problem", box, "\n".join(parts))
    return cv


def _render_bogi(cv: _Canvas, items: list[list[Seg]], x: int, y: int, avail: int, parts: list[str]) -> int:
    st = cv.st
    pad = round(st.size * 0.7)
    inner = avail - 2 * pad - 8
    title = _text_piece("<보기>", st.bold)
    top = y
    title_box = cv.paste(title, x + (avail - 8 - title.w) // 2, top + pad, st.ink)
    cv.lines.append(TextLine(title_box, "<보기>", "korean", cv.problem))
    y = title_box[3] + st.leading
    for item in items:
        lines = _wrap(_tokens(item, st), inner, inner - round(st.size * 1.2), st.space)
        for i, line in enumerate(lines):
            _, bottom = cv.line(line, x + pad + (round(st.size * 1.2) if i else 0), y)
            y = bottom + st.leading
    y -= st.leading
    # The frame belongs to the region: a detector sees the <보기> box as one block of text.
    box = (x, top, x + avail - 7, y + pad + 1)
    cv.draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), outline=st.ink, width=st.size // 12 + 1)
    text = "\n".join(["<보기>", *(_linear(item) for item in items)])
    cv.region("text", box, text)
    parts.append(text)
    return box[3]


def _render_table(
    cv: _Canvas, cells: list[list[str]], header: str, x: int, y: int, avail: int, r: random.Random, parts: list[str]
) -> int:
    st = cv.st
    lw = r.choice([1, 1, 2])
    shade = r.choice([None, (232, 232, 232), (222, 230, 242)])
    size, family = st.size, r.choice(["gothic", "myeongjo"])
    while True:
        font = _font(family, size)
        pieces = [[_text_piece(text, font) if text.strip() else None for text in row] for row in cells]
        pad_x, pad_y = round(size * 0.6), round(size * 0.35)
        widths = [max(p.w for p in col if p) + 2 * pad_x for col in zip(*pieces, strict=True)]
        widths = [max(w, round(size * 2.2)) for w in widths]
        row_h = max(p.h for row in pieces for p in row if p) + 2 * pad_y
        if sum(widths) + lw * (len(widths) + 1) <= avail - 8 or size <= 14:
            break
        size -= 2
    if header == "row" and sum(widths) < avail * 0.6:
        extra = round(avail * r.uniform(0.6, 0.85)) - sum(widths)
        widths = [w + extra // len(widths) for w in widths]
    xs = [x]
    for w in widths:
        xs.append(xs[-1] + lw + w)
    ys = [y]
    for _ in cells:
        ys.append(ys[-1] + lw + row_h)
    x1, y1 = xs[-1] + lw, ys[-1] + lw
    for i, row in enumerate(pieces):
        for j, piece in enumerate(row):
            left, top = xs[j] + lw, ys[i] + lw
            is_header = (header == "row" and i == 0) or (header == "col" and j == 0)
            if shade and is_header:
                cv.draw.rectangle((left, top, left + widths[j] - 1, top + row_h - 1), fill=shade)
            if piece is not None:
                px, py = left + (widths[j] - piece.w) // 2, top + (row_h - piece.h) // 2
                box = cv.paste(piece, px, py, st.ink)
                cv.lines.append(TextLine(box, cells[i][j], "korean", cv.problem))
    for gx in xs:
        cv.draw.rectangle((gx, y, gx + lw - 1, y1 - 1), fill=st.ink)
    for gy in ys:
        cv.draw.rectangle((x, gy, x1 - 1, gy + lw - 1), fill=st.ink)
    text = "\n".join(" | ".join(row) for row in cells)
    cv.region("table", (x, y, x1, y1), text)
    parts.append(text)
    return y1


def _render_choices(cv: _Canvas, choices: list[Seg], x: int, y: int, avail: int, parts: list[str]) -> int:
    st = cv.st
    items = [
        _line_items(_tokens([f"{mark} ", value], st, display=True), st.space)
        for mark, value in zip(CIRCLED, choices, strict=True)
    ]
    widest = max(width for _, width in items)
    per_row = next(n for n in (5, 3, 1) if n == 1 or widest + round(st.size * 0.8) <= avail // n)
    slot = avail // per_row
    boxes = []
    for start in range(0, 5, per_row):
        row = items[start : start + per_row]
        merged = [_Item(it.piece, j * slot + it.x, it.text, it.kind) for j, (line, _) in enumerate(row) for it in line]
        box, bottom = cv.line(merged, x, y)
        boxes.append(box)
        y = bottom + st.leading
    text = " ".join(f"{mark} {_linear([value])}" for mark, value in zip(CIRCLED, choices, strict=True))
    cv.region("choices", _union(boxes), text)
    parts.append(text)
    return y - st.leading
