"""What a problem says before it is drawn: formulas with their linear form, and helpers the families share."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal


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
