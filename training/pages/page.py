"""A whole worksheet page: header, columns of problems, page number, and scan-like noise."""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageChops, ImageFilter

from training.pages.families import _pick_spec
from training.pages.fonts import _font
from training.pages.problems import _render_problem
from training.pages.regions import Box, Page, Region, TextLine
from training.pages.render import MIN_GAP, WHITE, _Canvas, _line_items, _Style, _Tok, _tokens

_GRADES = ("중학교 1학년", "중학교 2학년", "중학교 3학년", "고등학교 1학년")
_TITLES = (
    "{grade} 수학 단원평가",
    "{term} 기말고사 대비 수학",
    "{term} 중간고사 대비 수학",
    "{grade} 수학 형성평가",
    "수학 실력 다지기",
    "{grade} 수학 익힘 문제",
)
_UNITS = (
    "1. 소인수분해",
    "2. 정수와 유리수",
    "3. 문자와 식",
    "4. 일차방정식",
    "5. 좌표평면과 그래프",
    "6. 이차방정식",
    "7. 이차함수와 그래프",
    "8. 피타고라스 정리",
    "9. 확률",
    "10. 자료의 정리와 해석",
)


def _header(cv: _Canvas, r: random.Random, left: int, right: int, y: int) -> int:
    """Title, optional unit and name field, optional rule; returns the y below it."""
    st = cv.st
    title = r.choice(_TITLES).format(grade=r.choice(_GRADES), term=r.choice(["1학기", "2학기"]))
    title_font = _font(r.choice(["gothic-bold", "myeongjo-bold"]), round(st.size * r.uniform(1.45, 1.9)))
    items, width = _line_items([_Tok(w, i > 0, font=title_font) for i, w in enumerate(title.split())], st.space * 1.5)
    boxed = r.random() < 0.3
    pad = round(st.size * 0.6) if boxed else 0
    x = left + pad if r.random() < 0.4 else left + (right - left - width) // 2
    box, bottom = cv.line(items, x, y + pad, st.accent)
    cv.region("text", box, title)
    if boxed:
        cv.draw.rectangle((box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad), outline=st.ink, width=2)
        bottom = max(bottom, box[3] + pad + 2)
    y = bottom + st.leading
    unit = r.choice(_UNITS) if r.random() < 0.6 else None
    field_text = r.choice(["이름:", "이름", "( )반 이름:", "학번: 이름:"]) if r.random() < 0.6 else None
    row_bottom = y
    if unit:
        items, _ = _line_items(_tokens([unit], st), st.space)
        box, row_bottom = cv.line(items, left, y)
        cv.region("text", box, unit)
    if field_text:
        items, width = _line_items(_tokens([field_text], st), st.space)
        line_len = round(st.size * r.uniform(5, 8))
        x = right - line_len - MIN_GAP * 3 - width
        box, bottom = cv.line(items, x, y)
        cv.draw.rectangle((box[2] + MIN_GAP * 3, box[3] - 1, right - 1, box[3]), fill=st.ink)
        cv.region("text", box, field_text)
        row_bottom = max(row_bottom, bottom)
    y = row_bottom + st.leading
    if r.random() < 0.8:
        thick = r.choice([1, 2, 3])
        cv.draw.rectangle((left, y, right - 1, y + thick - 1), fill=st.ink)
        y += thick
        if r.random() < 0.3:
            cv.draw.rectangle((left, y + 3, right - 1, y + 3), fill=st.ink)
            y += 4
    return y


def _footer(cv: _Canvas, r: random.Random, width: int, bottom: int) -> int:
    """A page number centred above ``bottom``; returns its top."""
    number = r.randint(1, 12)
    text = r.choice([f"- {number} -", str(number), f"{number} / {number + r.randint(0, 4)}"])
    items, w = _line_items(_tokens([text], cv.st), cv.st.space)
    height = max(it.piece.h for it in items)
    box, _ = cv.line(items, (width - w) // 2, bottom - height - cv.st.size // 2)
    cv.region("text", box, text)
    return box[1]


def generate_page(seed: int, *, width: int = 1240, height: int = 1754, noise: bool | None = None) -> Page:
    """One synthetic worksheet page; the same arguments always give the same page.

    Args:
        seed: a non-negative integer; content and noise derive from it alone.
        width, height: the page in pixels (A4 at 150 dpi by default).
        noise: scan-like noise on (True), off (False), or decided by the seed (None: about half the pages).
    """
    if seed < 0:
        raise ValueError(f"seed must be non-negative, not {seed}")
    r = random.Random(seed)
    noise_rng = np.random.default_rng([seed, 0x5CA7])
    noisy = bool(noise_rng.random() < 0.5) if noise is None else noise
    st = _Style.pick(r, width)
    cv = _Canvas(width, height, st, 0)
    left = round(width * r.uniform(0.055, 0.09))
    right = width - left
    top = round(height * r.uniform(0.035, 0.06))
    bottom = height - round(height * r.uniform(0.035, 0.06))
    if r.random() < 0.75:
        top = _header(cv, r, left, right, top) + round(st.size * r.uniform(1.0, 2.0))
    if r.random() < 0.7:
        bottom = _footer(cv, r, width, bottom) - st.size
    columns = 2 if width >= 900 and r.random() < 0.6 else 1
    gutter = round(width * r.uniform(0.035, 0.06))
    col_w = (right - left - (columns - 1) * gutter) // columns
    col_x = [left + i * (col_w + gutter) for i in range(columns)]
    if columns == 2 and r.random() < 0.7:
        mid = left + col_w + gutter // 2
        cv.draw.rectangle((mid, top, mid, bottom - 1), fill=st.ink)
    target, number = r.randint(1, 4), r.randint(1, 24)
    col, y, placed, misses = 0, top, [], 0
    families: dict[int, str] = {}
    while len(placed) < target and col < columns and misses < 6:
        spec = _pick_spec(r, plain=misses > 0)
        block = _render_problem(spec, number, st, col_w, bottom - top, r)
        height_needed = block.image.height
        while col < columns and y > top and y + height_needed > bottom:
            col, y = col + 1, top
        if col >= columns:
            break
        if y + height_needed > bottom:  # too tall even for an empty column: try a plainer problem
            misses += 1
            continue
        x = col_x[col]
        cv.image.paste(block.image, (x, y))
        for reg in block.regions:
            cv.regions.append(Region(reg.cls, _shift(reg.box, x, y), reg.problem, reg.text))
        for line in block.lines:
            cv.lines.append(TextLine(_shift(line.box, x, y), line.text, line.kind, line.problem))
        placed.append(number)
        families[number] = spec.family
        y += height_needed + st.problem_gap
        number += 1
    if not placed:
        raise RuntimeError(f"page {seed}: no problem fits on a {width}x{height} page")
    image, regions, lines = cv.image, cv.regions, cv.lines
    if noisy:
        image, move = _scan(image, noise_rng)
        regions = [Region(g.cls, move(g.box), g.problem, g.text) for g in regions]
        lines = [TextLine(move(t.box), t.text, t.kind, t.problem) for t in lines]
    problems = [{"number": g.problem, "box": g.box, "text": g.text, "family": families[g.problem]}
                for g in regions if g.cls == "problem"]  # fmt: skip
    return Page(image=image, regions=regions, lines=lines, problems=problems, noisy=noisy, seed=seed)


def _shift(box: Box, dx: int, dy: int) -> Box:
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def _scan(image: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, Callable[[Box], Box]]:
    """Scan-like noise: slight rotation and shear, uneven light, specks, blur, JPEG; returns the image and box map."""
    w, h = image.size
    angle = math.radians(rng.uniform(-1.5, 1.5))
    shear = rng.uniform(-0.01, 0.01)
    forward = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]) @ np.array(
        [[1.0, shear], [0.0, 1.0]]
    )
    inverse = np.linalg.inv(forward)
    centre = np.array([w / 2, h / 2])
    offset = centre - inverse @ centre
    coeffs = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    paper = tuple(int(v) for v in rng.integers(238, 256, size=3))
    image = image.transform((w, h), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR, fillcolor=WHITE)

    # Uneven light: a linear ramp across the page, computed small and scaled up (cheap), times the paper's tint.
    direction, strength = rng.uniform(0, 2 * math.pi), rng.uniform(0.03, 0.22)
    grid = np.linspace(0.0, 1.0, 32, dtype=np.float32)
    ramp = grid[None, :] * math.cos(direction) + grid[:, None] * math.sin(direction)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    light = Image.fromarray(np.round(255 * (1 - strength * ramp)).astype(np.uint8)).resize((w, h), Image.BILINEAR)
    tinted = Image.merge("RGB", [light.point([round(v * c / 255) for v in range(256)]) for c in paper])
    pixels = np.array(ImageChops.multiply(image, tinted))
    count = int(w * h * rng.uniform(0.00002, 0.0003))  # specks of dust and toner
    ys, xs = rng.integers(0, h, count), rng.integers(0, w, count)
    pixels[ys, xs] = rng.integers(40, 170, size=(count, 1), dtype=np.uint8)
    image = Image.fromarray(pixels)
    if rng.random() < 0.7:
        # A 3x3 Gaussian (sigma 0.4-0.9): as soft as a scanner's, several times cheaper than GaussianBlur.
        side = math.exp(-1 / (2 * rng.uniform(0.4, 0.9) ** 2))
        weights = np.outer([side, 1, side], [side, 1, side]).ravel()
        image = image.filter(ImageFilter.Kernel((3, 3), weights.tolist(), float(weights.sum())))
    if rng.random() < 0.8:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(rng.integers(35, 86)))
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")

    def move(box: Box) -> Box:
        corners = np.array([[box[0], box[1]], [box[2], box[1]], [box[0], box[3]], [box[2], box[3]]], dtype=float)
        mapped = (corners - centre) @ forward.T + centre
        x0, y0 = np.floor(mapped.min(axis=0)).astype(int)
        x1, y1 = np.ceil(mapped.max(axis=0)).astype(int)
        x0, y0 = min(max(int(x0), 0), w - 1), min(max(int(y0), 0), h - 1)
        return (x0, y0, max(min(int(x1), w), x0 + 1), max(min(int(y1), h), y0 + 1))

    return image, move
