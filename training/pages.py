"""Synthetic Korean math worksheet pages with exact boxes: training data for the layout detector, test data for OCR.

``generate_page(seed)`` draws one A4 page (150 dpi by default): an optional header, one or two columns of 1-4
problems (number, Korean stem with inline formulas, optional display formula, figure, table, <보기> box and ①-⑤
choices) and an optional page number. Korean text is drawn with the Nanum fonts (Debian ``fonts-nanum``), formulas
with matplotlib's mathtext, figures with matplotlib. Every box is measured from the ink actually drawn, so on a clean
page a box is the tight bounding box of its ink. About half the pages get scan-like noise (slight rotation and shear,
uneven lighting, blur, specks, JPEG artefacts); their boxes are transformed with the page (the axis-aligned box of
the turned box, so a long line's box grows by up to its width x sin 1.5°).

Regions: ``text`` (a problem's number and stem, a <보기> box with its frame, header lines, the page number),
``formula`` (every formula: display ones, and inline ones, which also lie inside a text or choices region),
``figure``, ``table`` (to its outer grid lines), ``choices`` (the ①-⑤ block) and ``problem`` (the union of a
problem's regions). Text lines: every drawn run of Korean text (problem number, a line of a stem, a table cell, a
choice) and every formula.

The same seed always gives the same page: content comes from ``random.Random(seed)``, noise from its own
``numpy`` generator, so ``generate_page(s, noise=False)`` is the clean twin of ``generate_page(s, noise=True)``.

``write_yolo_dataset`` writes ``input-data/layout/<version>/`` (see its docstring); ``python -m training.pages``
does it for the configured object store.

Ground-truth text uses a plain linear form for formulas: ``3/4+1/2``, ``x^2-5x+6=0``, ``2^3×2^4``, ``5√3``,
``√(x+1)``; an overlined segment is written without its bar (``AB=6``). Tables are written row by row, cells joined
by `` | ``; choices as ``① 3 ② 5 ③ 7 ④ 9 ⑤ 11``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import json
import math
import random
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cache, lru_cache
from pathlib import Path
from posixpath import join
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from stores.objects import ObjectStore

CLASSES = ("text", "formula", "figure", "table", "choices", "problem")
LAYOUT = "input-data/layout"
GENERATOR = "pages-1"  # bump when the same seed would draw a different page
FONT_PACKAGE = "fonts-nanum"
FONT_DIR = Path("/usr/share/fonts/truetype/nanum")
FONT_FILES = {
    "gothic": "NanumGothic.ttf",
    "gothic-bold": "NanumGothicBold.ttf",
    "myeongjo": "NanumMyeongjo.ttf",
    "myeongjo-bold": "NanumMyeongjoBold.ttf",
}
MATH_FAMILIES = ("cm", "stix", "dejavuserif", "dejavusans")
CIRCLED = "①②③④⑤"
WHITE = (255, 255, 255)
MIN_GAP = 3  # pixels of paper between two neighbouring boxes, so every box is separable from the next

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


# ----------------------------------------------------------------------------------------------------------- fonts


@cache
def font_file(name: str) -> str:
    """The path of a Nanum font (``gothic``, ``gothic-bold``, ``myeongjo``, ``myeongjo-bold``).

    Raises:
        RuntimeError: the font is not installed (the Debian package ``fonts-nanum``; ``make deb`` installs it).
    """
    path = FONT_DIR / FONT_FILES[name]
    if path.is_file():
        return str(path)
    if shutil.which("fc-match"):
        family = FONT_FILES[name].removesuffix(".ttf").removesuffix("Bold")
        pattern = f"{family}:style={'Bold' if name.endswith('-bold') else 'Regular'}"
        found = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True).stdout
        if Path(found).name == FONT_FILES[name]:
            return found
    raise RuntimeError(
        f"font {FONT_FILES[name]} not found in {FONT_DIR} or by fc-match: install the Debian package "
        f"{FONT_PACKAGE} (`make deb`, or `apt-get install {FONT_PACKAGE}`)"
    )


@lru_cache(maxsize=256)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_file(name), size)


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


# ------------------------------------------------------------------------------------------------ problem specs


@dataclass(frozen=True)
class Math:
    """A formula: mathtext source (without the dollars) and its linear ground-truth form."""

    tex: str
    linear: str

    def __add__(self, other: Math | str) -> Math:
        other = other if isinstance(other, Math) else Math(other, other)
        return Math(self.tex + other.tex, self.linear + other.linear)


Seg = str | Math


@dataclass
class _Spec:
    stem: list[Seg]
    display: Math | None = None
    bogi: list[list[Seg]] | None = None  # statements of a <보기> box
    figure: tuple[str, dict[str, Any]] | None = None
    table: list[list[str]] | None = None
    header: Literal["row", "col"] = "row"
    choices: list[Seg] | None = None
    family: str = ""  # the generator that wrote it ("gcd", "quadratic", ...), for evaluations that need a topic


def _m(text: str) -> Math:
    return Math(text, text)


def _num(q: Fraction | int) -> Math:
    """A signed rational as a formula."""
    q = Fraction(q)
    if q.denominator == 1:
        return _m(str(q.numerator))
    sign = "-" if q < 0 else ""
    return Math(rf"{sign}\frac{{{abs(q.numerator)}}}{{{q.denominator}}}", f"{sign}{abs(q.numerator)}/{q.denominator}")


def _poly(terms: Sequence[tuple[Fraction | int, int]], var: str = "x") -> Math:
    """``[(coef, power), ...]`` as ``x^2-5x+6``."""
    out = Math("", "")
    for coef, power in terms:
        coef = Fraction(coef)
        if coef == 0:
            continue
        sign = "-" if coef < 0 else ("+" if out.tex else "")
        size = abs(coef)
        if power and size == 1:
            body = Math("", "")
        elif size.denominator == 1:
            body = _m(str(size.numerator))
        else:
            frac = _num(size)
            body = Math(frac.tex, f"({frac.linear})" if power else frac.linear)
        unit = {0: Math("", ""), 1: _m(var)}.get(power, Math(f"{var}^{{{power}}}", f"{var}^{power}"))
        out = out + _m(sign) + body + unit
    return out if out.tex else _m("0")


def _power(base: str, exp: int) -> Math:
    return Math(f"{base}^{{{exp}}}", f"{base}^{exp}")


def _sqrt(n: int | str, coef: int = 1) -> Math:
    c = "" if coef == 1 else str(coef)
    arg = str(n)
    linear = arg if re.fullmatch(r"\w+", arg) else f"({arg})"
    return Math(rf"{c}\sqrt{{{arg}}}", f"{c}√{linear}")


_BATCHIM_DIGITS = set("013678")


def _batchim(word: str | Math) -> bool:
    """Whether the word's last sound has a final consonant, for choosing 은/는, 이/가, 을/를, 와/과."""
    text = word.linear if isinstance(word, Math) else word
    chars = [c for c in text if c.isalnum()]
    if not chars:
        return False
    last = chars[-1]
    if "가" <= last <= "힣":
        return (ord(last) - 0xAC00) % 28 != 0
    if last.isdigit():
        return last in _BATCHIM_DIGITS
    return last in "lmnrLMNR"


def _josa(word: str | Math, pair: str) -> str:
    with_final, without = pair.split("/")
    return with_final if _batchim(word) else without


def _int_choices(r: random.Random, answer: int, spread: int = 3, low: int | None = 1) -> list[int]:
    """The answer and four other integers near it (none below ``low``), ascending as on a real test."""
    values = {answer}
    while len(values) < 5:
        value = answer + r.randint(-spread, spread)
        if low is None or value >= low:
            values.add(value)
        spread += 1 if r.random() < 0.3 else 0
    return sorted(values)


def _five(r: random.Random, answer: Any, pool: Sequence[Any], pad: Callable[[], Any]) -> list[Any]:
    """The answer and four distinct distractors, from ``pool`` (shuffled) first, then from ``pad()``."""
    pool = list(pool)
    r.shuffle(pool)
    options = [answer]
    for value in itertools.chain(pool, iter(pad, None)):
        if value not in options:
            options.append(value)
        if len(options) == 5:
            return options
    raise AssertionError("unreachable: pad() never returns None")


def _frac_choices(r: random.Random, answer: Fraction) -> list[Math]:
    den = answer.denominator
    pool = [answer + Fraction(k, den) for k in (-3, -2, -1, 1, 2, 3)] + [-answer]
    if answer.numerator:
        pool.append(1 / answer)
    pool = [v for v in pool if v > 0 or (answer < 0 and v)]  # a positive answer (a probability) gets positive ones
    values = _five(r, answer, pool, lambda: answer + Fraction(r.randint(4, 9), den))
    return [_num(v) for v in sorted(values)]


def _suffix(r: random.Random) -> str:
    return r.choice(["", "", "", " [3점]", " [4점]", " [2점]"])


_NAMES = ("민수", "지영", "서준", "하윤", "도윤", "서연", "지호", "수빈", "예준", "채원")


def _p_gcd(r: random.Random) -> _Spec:
    g = r.choice([2, 3, 4, 5, 6, 7, 8, 9, 12, 15])
    m, n = r.choice([(2, 3), (3, 4), (2, 5), (3, 5), (4, 5), (5, 6), (2, 7), (3, 7), (4, 7), (5, 7)])
    a, b = g * m, g * n
    what, answer = ("최대공약수", g) if r.random() < 0.5 else ("최소공배수", g * m * n)
    if r.random() < 0.35:
        stem: list[Seg] = ["두 수 ", _factorised(a), ", ", _factorised(b), f"의 {what}를 구하시오."]
    elif r.random() < 0.5:
        stem = [f"두 자연수 {a}, {b}의 {what}는?"]
    else:
        stem = [f"{a}{_josa(str(a), '과/와')} {b}의 {what}를 구하시오."]
    return _Spec(stem, choices=[str(v) for v in _int_choices(r, answer, 4)] if r.random() < 0.8 else None)


def _factorised(n: int) -> Math:
    parts, p = [], 2
    while n > 1:
        k = 0
        while n % p == 0:
            n, k = n // p, k + 1
        if k:
            parts.append(_m(str(p)) if k == 1 else _power(str(p), k))
        p += 1
    out = parts[0]
    for part in parts[1:]:
        out = out + Math(r"\times ", "×") + part
    return out


def _p_fraction(r: random.Random) -> _Spec:
    a, b = Fraction(r.randint(1, 7), r.randint(2, 9)), Fraction(r.randint(1, 7), r.randint(2, 9))
    op, tex, value = r.choice([("+", "+", a + b), ("-", "-", a - b), ("×", r"\times ", a * b), ("÷", r"\div ", a / b)])
    display = _num(a) + Math(tex, op) + _num(b)
    if r.random() < 0.3:
        c = Fraction(r.randint(1, 5), r.randint(2, 6))
        display, value = display + _m("+") + _num(c), value + c
    stem = r.choice(["다음을 계산하시오.", "다음 식을 계산한 값은?", "다음 식을 계산하여 기약분수로 나타내시오."])
    return _Spec([stem + _suffix(r)], display=display, choices=_frac_choices(r, value) if r.random() < 0.8 else None)


def _p_quadratic(r: random.Random) -> _Spec:
    p, q = r.sample([-6, -5, -4, -3, -2, -1, 1, 2, 3, 4, 5, 6], 2)
    eq = _poly([(1, 2), (-(p + q), 1), (p * q, 0)]) + _m("=0")
    kind = r.randrange(4)
    if kind == 0:
        return _Spec(
            ["이차방정식 ", eq, "의 두 근의 합을 구하시오."],
            choices=[str(v) for v in _int_choices(r, p + q, 4, low=None)],
        )
    if kind == 1:
        return _Spec(
            ["이차방정식 ", eq, "의 두 근의 곱은?" + _suffix(r)],
            choices=[str(v) for v in _int_choices(r, p * q, 5, low=None)],
        )
    if kind == 2:
        value = (p + q) ** 2 - 2 * p * q
        target = Math(r"\alpha^{2}+\beta^{2}", "α^2+β^2")
        stem = ["이차방정식 ", eq, "의 두 근을 α, β라 할 때, ", target, "의 값은?"]
        return _Spec(stem, choices=[str(v) for v in _int_choices(r, value, 6)])
    lo, hi = sorted((p, q))
    pool = [tuple(sorted(s)) for s in ((-p, -q), (p, -q), (-p, q), (lo - 1, hi), (lo, hi + 1)) if s[0] != s[1]]
    roots = _five(r, (lo, hi), pool, lambda: (lo - r.randint(1, 4), hi + r.randint(0, 4)))
    r.shuffle(roots)
    return _Spec(["이차방정식 ", eq, "의 해를 구하시오."], choices=[f"x={min(s)} 또는 x={max(s)}" for s in roots])


def _p_linear_eq(r: random.Random) -> _Spec:
    x, a = r.randint(-5, 9), r.randint(2, 8)
    c = r.choice([k for k in range(-4, 8) if k not in (0, a)])
    b = r.randint(-9, 9)
    d = (a - c) * x + b
    eq = _poly([(a, 1), (b, 0)]) + _m("=") + _poly([(c, 1), (d, 0)])
    choices = [_m(f"x={v}") for v in _int_choices(r, x, 3, low=None)]
    if r.random() < 0.5:
        return _Spec(["일차방정식 ", eq, "의 해를 구하시오." + _suffix(r)], choices=choices)
    return _Spec(["다음 일차방정식을 푸시오."], display=eq, choices=choices if r.random() < 0.7 else None)


def _p_exponent(r: random.Random) -> _Spec:
    base = r.choice(["2", "3", "5", "a", "x"])
    m, n, k = r.randint(2, 6), r.randint(2, 6), r.randint(1, 4)
    if r.random() < 0.5:
        display = _power(base, m) + Math(r"\times ", "×") + _power(base, n) + Math(r"\div ", "÷") + _power(base, k)
        exp = m + n - k
    else:
        display = Math(rf"\left({base}^{{{m}}}\right)^{{{n}}}", f"({base}^{m})^{n}") + Math(r"\times ", "×") + _m(base)
        exp = m * n + 1
    exps = _int_choices(r, max(exp, 2), 3, low=2)
    return _Spec(
        [r.choice(["다음 식을 간단히 하시오.", "다음 식을 간단히 하면?"])],
        display=display,
        choices=[_power(base, e) for e in exps],
    )


def _p_root(r: random.Random) -> _Spec:
    k = r.choice([2, 3, 5, 6, 7])
    a, b = r.sample([1, 2, 3, 4], 2)
    sign = r.choice(["+", "-"])
    expr = _sqrt(a * a * k) + _m(sign) + _sqrt(b * b * k)
    coef = a + b if sign == "+" else a - b
    pool = [c for c in (coef + 1, coef - 1, -coef, coef + 2, a * b) if c]
    options = sorted(_five(r, coef, pool, lambda: coef + r.choice([-5, -4, -3, 3, 4, 5])))
    choices = [
        Math(
            rf"{'-' if c < 0 else ''}{abs(c) if abs(c) != 1 else ''}\sqrt{{{k}}}",
            f"{'-' if c < 0 else ''}{abs(c) if abs(c) != 1 else ''}√{k}",
        )
        for c in options
    ]
    if r.random() < 0.5:
        return _Spec([expr, f"{_josa(expr, '을/를')} 간단히 하면?"], choices=choices)
    return _Spec(["다음 식을 간단히 하시오."], display=expr, choices=choices if r.random() < 0.7 else None)


def _p_parabola(r: random.Random) -> _Spec:
    a = r.choice([1, -1, 2, -2, Fraction(1, 2), Fraction(-1, 2)])
    p, q = r.randint(-3, 3), r.randint(-4, 4)
    y = _m("y=") + _poly([(a, 2), (-2 * a * p, 1), (a * p * p + q, 0)])
    figure = ("parabola", {"a": float(a), "p": p, "q": q, "mark": r.random() < 0.6})
    if r.random() < 0.6:
        stem = ["다음 그림은 이차함수 ", y, "의 그래프이다. 이 그래프의 꼭짓점의 좌표를 구하시오."]
        pool = [(-p, q), (p, -q), (-p, -q), (q, p), (p + 1, q), (p, q - 1)]
        pairs = _five(r, (p, q), pool, lambda: (p + r.randint(-3, 3), q + r.randint(-3, 3)))
        r.shuffle(pairs)
        return _Spec(stem, figure=figure, choices=[f"({x}, {z})" for x, z in pairs])
    stem = ["이차함수 ", y, "의 그래프가 다음 그림과 같을 때, 이 그래프의 축의 방정식은?"]
    return _Spec(stem, figure=figure, choices=[_m(f"x={v}") for v in _int_choices(r, p, 3, low=None)])


def _p_line(r: random.Random) -> _Spec:
    m = r.choice([-4, -3, -2, -1, 1, 2, 3, 4, 5])
    n = r.choice([-4, -3, -2, 2, 3, 4, 5])
    slope = Fraction(-n, m)
    p0, p1 = _m(f"({m},0)"), _m(f"(0,{n})")
    stem = ["다음 그림과 같이 일차함수 ", _m("y=ax+b"), "의 그래프가 두 점 ", p0, ", ", p1]
    stem += [f"{_josa(p1, '을/를')} 지날 때, 상수 a, b에 대하여 ", _m("a+b"), "의 값은?" + _suffix(r)]
    return _Spec(stem, figure=("line", {"m": m, "n": n}), choices=_frac_choices(r, slope + n))


def _p_right_triangle(r: random.Random) -> _Spec:
    a, b, c = r.choice(
        [(3, 4, 5), (4, 3, 5), (6, 8, 10), (8, 6, 10), (5, 12, 13), (12, 5, 13), (8, 15, 17), (9, 12, 15)]
    )
    ab, bc = Math(rf"\overline{{AB}}={a}", f"AB={a}"), Math(rf"\overline{{BC}}={b}", f"BC={b}")
    stem: list[Seg] = ["다음 그림과 같이 ∠B=90°인 직각삼각형 ABC에서 ", ab, " cm, ", bc, " cm일 때, "]
    stem += [Math(r"\overline{AC}", "AC"), "의 길이를 구하시오."]
    figure = ("right_triangle", {"a": a, "b": b, "flip": r.random() < 0.4})
    return _Spec(stem, figure=figure, choices=[f"{v} cm" for v in _int_choices(r, c, 3)])


def _p_triangle_angle(r: random.Random) -> _Spec:
    a = r.randrange(35, 95, 5)
    b = r.randrange(30, 150 - a, 5)
    stem = [f"다음 그림의 삼각형 ABC에서 ∠A={a}°, ∠B={b}°일 때, ∠x의 크기를 구하시오." + _suffix(r)]
    return _Spec(
        stem, figure=("triangle", {"A": a, "B": b}), choices=[f"{v}°" for v in _int_choices(r, 180 - a - b, 3)]
    )


def _p_circle(r: random.Random) -> _Spec:
    if r.random() < 0.5:
        radius = r.randint(2, 9)
        stem = [f"다음 그림과 같이 반지름의 길이가 {radius} cm인 원 O의 넓이를 구하시오. (단, 원주율은 π로 계산한다.)"]
        choices = [f"{v}π cm²" for v in _int_choices(r, radius * radius, 4)]
        return _Spec(stem, figure=("circle", {"radius": radius, "angle": None}), choices=choices)
    t = r.randrange(60, 170, 10)
    stem = [f"다음 그림과 같이 원 O에서 ∠AOB={t}°일 때, ∠APB의 크기를 구하시오."]
    return _Spec(
        stem, figure=("circle", {"radius": None, "angle": t}), choices=[f"{v}°" for v in _int_choices(r, t // 2, 3)]
    )


_SURVEYS = (
    ("수학 점수", "점수(점)", 50, 10, "학생 수(명)"),
    ("턱걸이 횟수", "횟수(회)", 0, 5, "학생 수(명)"),
    ("통학 시간", "시간(분)", 0, 10, "학생 수(명)"),
    ("키", "키(cm)", 140, 5, "학생 수(명)"),
)


def _p_frequency_table(r: random.Random) -> _Spec:
    topic, head, start, width, count_head = r.choice(_SURVEYS)
    rows = r.randint(4, 6)
    counts = [r.randint(1, 12) for _ in range(rows)]
    hidden = r.randrange(rows)
    table = [[head, count_head]]
    for i, n in enumerate(counts):
        lo = start + i * width
        table.append([f"{lo} 이상 ~ {lo + width} 미만", "A" if i == hidden else str(n)])
    table.append(["합계", str(sum(counts))])
    stem = [
        f"다음 표는 어느 반 학생 {sum(counts)}명의 {topic}{_josa(topic, '을/를')} 조사하여 나타낸 도수분포표이다. "
        "A의 값을 구하시오."
    ]
    return _Spec(stem, table=table, header="row", choices=[str(v) for v in _int_choices(r, counts[hidden], 3)])


def _p_function_table(r: random.Random) -> _Spec:
    a, b = r.choice([-3, -2, -1, 2, 3, 4]), r.randint(-5, 5)
    xs = list(range(r.randint(-2, 0), r.randint(-2, 0) + 5))
    hide = r.sample(range(len(xs)), 2)
    ys = [str(a * x + b) for x in xs]
    ys[hide[0]], ys[hide[1]] = "A", "B"
    table = [["x", *map(str, xs)], ["y", *ys]]
    answer = sum(a * xs[i] + b for i in hide)
    f = _m("y=") + _poly([(a, 1), (b, 0)])
    stem = ["다음 표는 일차함수 ", f, "에서 x의 값에 따른 y의 값을 나타낸 것이다. ", _m("A+B"), "의 값은?"]
    return _Spec(stem, table=table, header="col", choices=[str(v) for v in _int_choices(r, answer, 4, low=None)])


def _p_weekday_table(r: random.Random) -> _Spec:
    books = [r.randint(3, 20) for _ in range(5)]
    while len(set(books)) < 5:
        books = [r.randint(3, 20) for _ in range(5)]
    name = r.choice(_NAMES)
    table = [["요일", "월", "화", "수", "목", "금"], ["책의 수(권)", *map(str, books)]]
    days = ["월요일", "화요일", "수요일", "목요일", "금요일"]
    stem = f"다음 표는 {name}네 반 학생들이 일주일 동안 도서관에서 빌린 책의 수를 요일별로 조사하여 나타낸 것이다. "
    if r.random() < 0.5:
        return _Spec([stem + "빌린 책이 가장 많은 요일은?"], table=table, header="col", choices=days)
    return _Spec([stem + "빌린 책은 모두 몇 권인지 구하시오."], table=table, header="col",
                 choices=[f"{v}권" for v in _int_choices(r, sum(books), 4)])  # fmt: skip


def _p_word(r: random.Random) -> _Spec:
    name = r.choice(_NAMES)
    kind = r.randrange(4)
    if kind == 0:
        p, a, q, b = r.choice([500, 600, 800, 1000]), r.randint(2, 6), r.choice([300, 400, 700]), r.randint(1, 4)
        pay = (p * a + q * b) // 1000 * 1000 + 1000
        stem = (
            f"{name}{_josa(name, '은/는')} 한 자루에 {p}원인 연필 {a}자루와 한 개에 {q}원인 지우개 {b}개를 사고 "
            f"{pay:,}원을 냈다. 거스름돈은 얼마인지 구하시오."
        )
        return _Spec([stem], choices=[f"{v * 100:,}원" for v in _int_choices(r, (pay - p * a - q * b) // 100, 3)])
    if kind == 1:
        v, minutes = r.choice([(3, 20), (4, 30), (4, 45), (5, 36), (6, 40), (3, 40)])
        d = Fraction(v * minutes, 60)
        dist = str(d) if d.denominator == 1 else f"{float(d):g}"
        stem = f"집에서 {dist} km 떨어진 도서관까지 시속 {v} km로 걸어갔을 때, 걸린 시간은 몇 분인지 구하시오."
        return _Spec([stem + _suffix(r)], choices=[f"{m * 5}분" for m in _int_choices(r, minutes // 5, 2)])
    if kind == 2:
        s, t, k = r.randint(6, 14), r.randint(2, 12), r.choice([2, 3])
        m = k * (s + t) - t
        stem = (
            f"현재 어머니의 나이는 {m}살이고, 아들의 나이는 {s}살이다. 어머니의 나이가 아들의 나이의 {k}배가 되는 "
            "것은 몇 년 후인지 구하시오."
        )
        return _Spec([stem], choices=[f"{v}년 후" for v in _int_choices(r, t, 3)] if r.random() < 0.7 else None)
    a, b = r.sample([2, 3, 4, 5, 7], 2)
    total = (a + b) * r.randint(3, 9)
    stem = f"사탕 {total}개를 {name}{_josa(name, '과/와')} 동생이 {a}:{b}의 비로 나누어 가질 때, "
    stem += "더 많이 가지는 사람이 받는 사탕은 몇 개인지 구하시오."
    return _Spec([stem], choices=[f"{v}개" for v in _int_choices(r, total * max(a, b) // (a + b), 4)])


def _p_probability(r: random.Random) -> _Spec:
    kind = r.randrange(3)
    if kind == 0:
        k = r.choice([2, 3])
        stem, answer = f"한 개의 주사위를 던질 때, {k}의 배수의 눈이 나올 확률을 구하시오.", Fraction(6 // k, 6)
        options = [Fraction(1, 6), Fraction(1, 3), Fraction(1, 2), Fraction(2, 3), Fraction(5, 6)]
    elif kind == 1:
        stem, answer = "서로 다른 두 개의 동전을 동시에 던질 때, 앞면이 한 개만 나올 확률은?", Fraction(1, 2)
        options = [Fraction(1, 4), Fraction(1, 3), Fraction(1, 2), Fraction(2, 3), Fraction(3, 4)]
    else:
        red, blue = r.randint(2, 7), r.randint(2, 7)
        stem = (
            f"주머니 속에 빨간 공 {red}개, 파란 공 {blue}개가 들어 있다. 이 주머니에서 공 한 개를 꺼낼 때, "
            "파란 공이 나올 확률을 구하시오."
        )
        answer = Fraction(blue, red + blue)
        return _Spec([stem], choices=_frac_choices(r, answer))
    assert answer in options
    return _Spec([stem + _suffix(r)], choices=[_num(v) for v in options])


def _p_inequality(r: random.Random) -> _Spec:
    a, b, c = r.randint(2, 5), r.randint(1, 9), r.randint(5, 20)
    ineq = _poly([(a, 1), (-b, 0)]) + _m("<") + _m(str(c))
    count = math.ceil((b + c) / a) - 1
    stem = ["부등식 ", ineq, f"{_josa(ineq, '을/를')} 만족시키는 자연수 x의 개수를 구하시오."]
    return _Spec(stem, choices=[f"{v}개" for v in _int_choices(r, max(count, 1), 3)] if r.random() < 0.8 else None)


_BOGI = (
    ["1은 소수도 합성수도 아니다."],
    ["모든 소수는 홀수이다."],
    ["두 홀수의 합은 항상 짝수이다."],
    ["0은 자연수이다."],
    ["서로 다른 두 소수는 항상 서로소이다."],
    ["순환소수는 모두 유리수이다."],
    ["무한소수는 모두 무리수이다."],
    [_sqrt(4), "는 무리수이다."],
    [_sqrt(2), "는 유리수가 아니다."],
    ["평행사변형의 두 대각선은 서로 다른 것을 이등분한다."],
    ["마름모의 네 변의 길이는 모두 같다."],
    ["삼각형의 세 내각의 크기의 합은 180°이다."],
    ["일차함수 ", _m("y=2x+1"), "의 그래프는 점 (1, 3)을 지난다."],
    ["이차함수 ", Math("y=-x^{2}", "y=-x^2"), "의 그래프는 위로 볼록하다."],
)


def _p_bogi(r: random.Random) -> _Spec:
    statements = r.sample(_BOGI, 3)
    items = [[f"{mark}. ", *st] for mark, st in zip("ㄱㄴㄷ", statements, strict=True)]
    choices = ["ㄱ", "ㄴ", "ㄱ, ㄴ", "ㄴ, ㄷ", "ㄱ, ㄴ, ㄷ"]
    return _Spec(["다음 <보기> 중 옳은 것을 모두 고른 것은?" + _suffix(r)], bogi=items, choices=choices)


def _p_histogram(r: random.Random) -> _Spec:
    topic, unit, start, width = r.choice(
        [("턱걸이 횟수", "회", 0, 5), ("하루 운동 시간", "분", 0, 10), ("수학 점수", "점", 50, 10)]
    )
    counts = [r.randint(1, 10) for _ in range(r.randint(4, 6))]
    cut = r.randrange(1, len(counts))
    threshold = start + cut * width
    stem = (
        f"다음은 어느 반 학생들의 {topic}{_josa(topic, '을/를')} 조사하여 나타낸 히스토그램이다. "
        f"{topic}{_josa(topic, '이/가')} {threshold}{unit} 이상인 학생은 몇 명인지 구하시오."
    )
    figure = ("histogram", {"counts": counts, "start": start, "width": width, "unit": unit})
    return _Spec([stem], figure=figure, choices=[f"{v}명" for v in _int_choices(r, sum(counts[cut:]), 3)])


_FAMILIES: tuple[tuple[Callable[[random.Random], _Spec], int], ...] = (
    (_p_gcd, 2),
    (_p_fraction, 3),
    (_p_quadratic, 3),
    (_p_linear_eq, 2),
    (_p_exponent, 2),
    (_p_root, 2),
    (_p_parabola, 3),
    (_p_line, 2),
    (_p_right_triangle, 2),
    (_p_triangle_angle, 2),
    (_p_circle, 2),
    (_p_frequency_table, 3),
    (_p_function_table, 3),
    (_p_weekday_table, 2),
    (_p_word, 3),
    (_p_probability, 2),
    (_p_inequality, 2),
    (_p_bogi, 2),
    (_p_histogram, 2),
)


def _pick_spec(r: random.Random, plain: bool = False) -> _Spec:
    families = [(f, w) for f, w in _FAMILIES if not plain or f in (_p_gcd, _p_quadratic, _p_word, _p_inequality)]
    family = r.choices([f for f, _ in families], weights=[w for _, w in families])[0]
    spec = family(r)
    spec.family = family.__name__.removeprefix("_p_")
    return spec


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


# ---------------------------------------------------------------------------------------------------- figures


def _label_props(size: float, serif: bool) -> dict[str, Any]:
    return {"fontsize": size, "family": "DejaVu Serif" if serif else "DejaVu Sans", "ha": "center", "va": "center"}


def _draw_axes(ax: Any, xlim: tuple[float, float], ylim: tuple[float, float], props: dict[str, Any]) -> None:
    arrow = {"arrowstyle": "-|>", "lw": 0.9, "color": "black", "mutation_scale": 9, "shrinkA": 0, "shrinkB": 0}
    ax.annotate("", xy=(xlim[1], 0), xytext=(xlim[0], 0), arrowprops=arrow)
    ax.annotate("", xy=(0, ylim[1]), xytext=(0, ylim[0]), arrowprops=arrow)
    dx, dy = (xlim[1] - xlim[0]) * 0.045, (ylim[1] - ylim[0]) * 0.05
    ax.text(xlim[1] - dx * 0.4, -dy * 1.3, "$x$", **props)
    ax.text(dx * 1.0, ylim[1] - dy * 0.4, "$y$", **props)
    ax.text(-dx * 0.9, -dy * 1.1, "O", **props)
    ax.set_xlim(xlim[0] - dx, xlim[1] + dx)
    ax.set_ylim(ylim[0] - dy, ylim[1] + dy)


def _render_figure(kind: str, params: dict[str, Any], w: int, h: int, r: random.Random, st: _Style) -> _Piece:
    size = st.size * 0.58  # points at 100 dpi, close to the body text
    props = _label_props(size, r.random() < 0.5)
    lw = r.uniform(0.9, 1.6)

    def parabola(fig: Any, ax: Any) -> None:
        a, p, q = params["a"], params["p"], params["q"]
        span = 4.5 if abs(a) < 1 else 3.5
        lo, hi = (min(q, 0) - 1.5, max(q, 0) + span) if a > 0 else (min(q, 0) - span, max(q, 0) + 1.5)
        reach = math.sqrt(abs((hi if a > 0 else lo) - q) / abs(a))
        xlim = (min(p - reach, -1.5), max(p + reach, 1.5))
        xs = np.linspace(xlim[0], xlim[1], 160)
        ax.plot(xs, a * (xs - p) ** 2 + q, color="black", lw=lw)
        _draw_axes(ax, xlim, (lo, hi), props)
        if params["mark"] and p and q:
            ax.plot([p, p, 0], [0, q, q], color="black", lw=0.7, ls=(0, (3, 2)))
            ax.plot([p], [q], "o", color="black", ms=3)
            off = (xlim[1] - xlim[0]) * 0.05
            ax.text(p, -off if q > 0 else off, str(p), **props)
            ax.text(-off * 1.2 if p > 0 else off * 1.2, q, str(q), **props)

    def line(fig: Any, ax: Any) -> None:
        m, n = params["m"], params["n"]
        xlim = (min(m, 0) - 1.8, max(m, 0) + 1.8)
        ylim = (min(n, 0) - 1.8, max(n, 0) + 1.8)
        xs = np.linspace(*xlim, 50)
        ax.plot(xs, -n / m * xs + n, color="black", lw=lw)
        _draw_axes(ax, xlim, ylim, props)
        off = (ylim[1] - ylim[0]) * 0.06
        ax.text(m, off if n < 0 else -off, str(m), **props)
        ax.text(-off * 1.1 if m > 0 else off * 1.1, n, str(n), **props)

    def right_triangle(fig: Any, ax: Any) -> None:
        a, b, flip = params["a"], params["b"], params["flip"]
        s = 1 / max(a, b)
        sx = -1 if flip else 1
        pa, pb, pc = (0, a * s), (0, 0), (sx * b * s, 0)
        ax.add_patch(_polygon([pa, pb, pc], lw))
        k = 0.07
        ax.plot([sx * k, sx * k, 0], [0, k, k], color="black", lw=0.8)
        off = 0.09
        ax.text(pa[0], pa[1] + off, "A", **props)
        ax.text(pb[0] - sx * off, pb[1] - off * 0.6, "B", **props)
        ax.text(pc[0] + sx * off, pc[1] - off * 0.6, "C", **props)
        ax.text(-sx * off * 2.4, pa[1] / 2, f"{a} cm", **props)
        ax.text(pc[0] / 2, -off * 1.2, f"{b} cm", **props)
        ax.set_aspect("equal")
        xs = sorted([0, pc[0]])
        ax.set_xlim(xs[0] - 0.35, xs[1] + 0.35)
        ax.set_ylim(-0.25, pa[1] + 0.2)

    def triangle(fig: Any, ax: Any) -> None:
        angle_a, angle_b = math.radians(params["A"]), math.radians(params["B"])
        angle_c = math.pi - angle_a - angle_b
        ab = math.sin(angle_c) / math.sin(angle_a)
        pb, pc = (0.0, 0.0), (1.0, 0.0)
        pa = (ab * math.cos(angle_b), ab * math.sin(angle_b))
        ax.add_patch(_polygon([pa, pb, pc], lw))
        cx, cy = (pa[0] + 1) / 3, pa[1] / 3
        for (px, py), name in ((pa, "A"), (pb, "B"), (pc, "C")):
            vx, vy = px - cx, py - cy
            norm = math.hypot(vx, vy) or 1
            ax.text(px + vx / norm * 0.09, py + vy / norm * 0.09, name, **props)
        for (px, py), label in ((pa, f"{params['A']}°"), (pb, f"{params['B']}°"), (pc, "$x$")):
            vx, vy = cx - px, cy - py
            norm = math.hypot(vx, vy) or 1
            ax.text(px + vx / norm * 0.2, py + vy / norm * 0.2, label, **(props | {"fontsize": size * 0.85}))
        ax.set_aspect("equal")
        xs = [pa[0], 0, 1]
        ax.set_xlim(min(xs) - 0.15, max(xs) + 0.15)
        ax.set_ylim(-0.15, pa[1] + 0.15)

    def circle(fig: Any, ax: Any) -> None:
        from matplotlib.patches import Circle

        ax.add_patch(Circle((0, 0), 1, fill=False, lw=lw, color="black"))
        ax.plot([0], [0], "o", color="black", ms=2.5)
        if params["radius"] is not None:
            phi = r.uniform(0.2, 1.2)
            ax.text(-0.13 * math.cos(phi), -0.13 * math.sin(phi), "O", **props)
            ax.plot([0, math.cos(phi)], [0, math.sin(phi)], color="black", lw=lw * 0.8)
            ax.text(math.cos(phi) / 2 - 0.1 * math.sin(phi) * 2.4, math.sin(phi) / 2 + 0.12, f"{params['radius']} cm",
                    **props)  # fmt: skip
        else:
            t = math.radians(params["angle"])
            start = -math.pi / 2 - t / 2 + r.uniform(-0.3, 0.3)
            pa, pb = (math.cos(start), math.sin(start)), (math.cos(start + t), math.sin(start + t))
            mid = start + t / 2 + math.pi + r.uniform(-0.5, 0.5)
            pp = (math.cos(mid), math.sin(mid))
            ax.text(-0.15 * math.cos(start + t / 2), -0.15 * math.sin(start + t / 2), "O", **props)
            for end in (pa, pb):
                ax.plot([0, end[0]], [0, end[1]], color="black", lw=lw * 0.8)
                ax.plot([pp[0], end[0]], [pp[1], end[1]], color="black", lw=lw * 0.8)
            for (px, py), name in ((pa, "A"), (pb, "B"), (pp, "P")):
                ax.text(px * 1.14, py * 1.14, name, **props)
            inner = start + t / 2
            ax.text(
                0.3 * math.cos(inner),
                0.3 * math.sin(inner),
                f"{params['angle']}°",
                **(props | {"fontsize": size * 0.8}),
            )
        ax.set_aspect("equal")
        ax.set_xlim(-1.25, 1.25)
        ax.set_ylim(-1.25, 1.25)

    def histogram(fig: Any, ax: Any) -> None:
        from matplotlib.font_manager import FontProperties

        counts, start, width = params["counts"], params["start"], params["width"]
        edges = [start + i * width for i in range(len(counts) + 1)]
        face = r.choice(["white", "0.85", "0.7"])
        ax.bar(edges[:-1], counts, width=width, align="edge", color=face, edgecolor="black", lw=0.9)
        ax.spines[["top", "right"]].set_visible(False)
        ax.set_xticks(edges)
        ax.set_yticks(range(0, max(counts) + 2, 2))
        ax.tick_params(labelsize=size * 0.8, length=3)
        ax.set_xlim(start - width * 0.3, edges[-1] + width * 0.6)
        ax.set_ylim(0, max(counts) + 1.5)
        korean = FontProperties(fname=font_file("gothic"), size=size * 0.8)
        ax.text(-0.02, 1.02, "(명)", transform=ax.transAxes, fontproperties=korean, ha="right", va="bottom")
        ax.text(1.0, -0.02, f"({params['unit']})", transform=ax.transAxes, fontproperties=korean, ha="left", va="top")

    drawers = {"parabola": parabola, "line": line, "right_triangle": right_triangle, "triangle": triangle,
               "circle": circle, "histogram": histogram}  # fmt: skip
    axes = (0.14, 0.12, 0.76, 0.8) if kind == "histogram" else None
    return _figure_piece(drawers[kind], w, h, axes)


def _polygon(points: Sequence[tuple[float, float]], lw: float) -> Any:
    from matplotlib.patches import Polygon

    return Polygon(points, closed=True, fill=False, lw=lw, edgecolor="black", joinstyle="miter")


# ------------------------------------------------------------------------------------------------------ problems


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


# ---------------------------------------------------------------------------------------------------------- pages

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


# -------------------------------------------------------------------------------------------------------- dataset


def page_seed(seed: int, split: str, index: int) -> int:
    """The seed of page ``index`` of ``split`` in a dataset made with ``seed``."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{split}/{index}".encode()).digest()[:8], "big") >> 1


def yolo_labels(page: Page) -> str:
    """YOLO detection labels: one ``cls cx cy w h`` line (normalised) per region."""
    w, h = page.image.size
    rows = []
    for reg in page.regions:
        x0, y0, x1, y1 = reg.box
        cx, cy, bw, bh = (x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h
        rows.append(f"{CLASSES.index(reg.cls)} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}\n")
    return "".join(rows)


def _jsonl(rows: Sequence[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows).encode()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def data_yaml(version: str, seed: int) -> bytes:
    import yaml

    body = {
        "path": None,
        "train": "images/train",
        "val": "images/val",
        "nc": len(CLASSES),
        "names": dict(enumerate(CLASSES)),
    }
    head = (
        f"# Synthetic worksheet layouts {version} (training/pages.py, seed {seed}).\n"
        "# `path` is filled in by the trainer with the local folder it copies this dataset into.\n"
    )
    return (head + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)).encode()


def write_yolo_dataset(
    objects: ObjectStore,
    version: str,
    *,
    train: int,
    val: int,
    seed: int = 0,
    imgsz_hint: int | None = None,
    width: int = 1240,
    height: int = 1754,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, Any]:
    """Write a YOLO layout dataset of synthetic pages to ``input-data/layout/<version>/``.

    Files: ``images/<split>/<name>.png``; ``labels/<split>/<name>.txt`` (YOLO ``cls cx cy w h``); ``lines/<split>/
    <name>.jsonl`` (text lines: box, text, kind, problem, noisy); ``problems/<split>/<name>.jsonl`` (number, box,
    text); ``data.yaml``; ``manifest.json`` (written last: a dataset without it is incomplete and is rewritten).
    The same arguments always write the same bytes. A version, once complete, is never changed.

    Returns:
        The manifest.

    Raises:
        ValueError: the version exists with other parameters, or is not a plain name.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", version):
        raise ValueError(f"version must be a plain name such as v1, not {version!r}")
    prefix = join(LAYOUT, version)
    parameters = {
        "generator": GENERATOR,
        "seed": seed,
        "train": train,
        "val": val,
        "width": width,
        "height": height,
        "imgsz_hint": imgsz_hint,
        "noise": "decided by each page's seed, about half the pages",
        "page_seed": "first 8 bytes of sha256('<seed>/<split>/<index>'), big-endian, shifted right by 1",
    }
    manifest_key = join(prefix, "manifest.json")
    if objects.exists(manifest_key):
        existing = json.loads(objects.read_bytes(manifest_key))
        if existing.get("parameters") == parameters:
            return existing
        raise ValueError(f"{prefix} already holds a dataset made with other parameters; write a new version")
    files: dict[str, list[str]] = {}
    classes: dict[str, dict[str, int]] = {}
    noisy: dict[str, int] = {}
    for split, count in (("train", train), ("val", val)):
        classes[split] = dict.fromkeys(CLASSES, 0)
        noisy[split] = 0
        for index in range(count):
            page = generate_page(page_seed(seed, split, index), width=width, height=height)
            name = f"{index:06d}"
            lines = [
                {"box": list(t.box), "text": t.text, "kind": t.kind, "problem": t.problem, "noisy": page.noisy}
                for t in page.lines
            ]
            problems = [{"number": p["number"], "box": list(p["box"]), "text": p["text"]} for p in page.problems]
            for kind, suffix, data in (
                ("images", "png", _png(page.image)),
                ("labels", "txt", yolo_labels(page).encode()),
                ("lines", "jsonl", _jsonl(lines)),
                ("problems", "jsonl", _jsonl(problems)),
            ):
                objects.write_bytes(join(prefix, kind, split, f"{name}.{suffix}"), data)
                files.setdefault(f"{kind}/{split}", []).append(f"{hashlib.sha256(data).hexdigest()}  {name}.{suffix}\n")
            for reg in page.regions:
                classes[split][reg.cls] += 1
            noisy[split] += page.noisy
            if progress:
                progress(1)
    objects.write_bytes(join(prefix, "data.yaml"), data_yaml(version, seed))
    manifest = {
        "version": version,
        "prefix": prefix,
        "seed": seed,
        "parameters": parameters,
        "classes": list(CLASSES),
        "pages": {"train": train, "val": val},
        "noisy_pages": noisy,
        "regions": {
            "train": classes["train"],
            "val": classes["val"],
            "total": {c: classes["train"][c] + classes["val"][c] for c in CLASSES},
        },
        "files": {
            folder: {"count": len(rows), "sha256": hashlib.sha256("".join(rows).encode()).hexdigest()}
            for folder, rows in sorted(files.items())
        },
    }
    objects.write_bytes(manifest_key, json.dumps(manifest, ensure_ascii=False, indent=2).encode())
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m training.pages --version v1 --train 200 --val 50``: write a dataset to the configured store."""
    parser = argparse.ArgumentParser(prog="python -m training.pages", description=write_yolo_dataset.__doc__)
    parser.add_argument("--version", required=True, help="dataset version, e.g. v1 (input-data/layout/<version>/)")
    parser.add_argument("--train", type=int, default=200, help="training pages")
    parser.add_argument("--val", type=int, default=50, help="validation pages")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--imgsz", type=int, default=None, help="image size the trainer should use (recorded only)")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from mathlabel.clients import object_store
    from mathlabel.config import get_settings

    objects = object_store(get_settings())
    with tqdm(total=args.train + args.val, unit="page", desc=f"layout {args.version}") as bar:
        manifest = write_yolo_dataset(
            objects, args.version, train=args.train, val=args.val, seed=args.seed, imgsz_hint=args.imgsz,
            progress=bar.update,
        )  # fmt: skip
    summary = {k: manifest[k] for k in ("prefix", "pages", "noisy_pages")} | {"regions": manifest["regions"]["total"]}
    print(json.dumps(summary | {"uri": objects.uri(join(manifest["prefix"], "data.yaml"))}, ensure_ascii=False))


if __name__ == "__main__":
    main()
