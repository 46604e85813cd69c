"""Problem families: each draws one random problem (stem, formula, figure, table, <보기>, choices)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from fractions import Fraction

from training.pages.specs import (
    Math,
    Seg,
    _five,
    _frac_choices,
    _int_choices,
    _josa,
    _m,
    _num,
    _poly,
    _power,
    _Spec,
    _sqrt,
    _suffix,
)

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
