"""Benchmark: OCR character error rate on rendered lines, for choosing the OCR defaults (labeling/ocr/).

Everything is generated here with a fixed seed, nothing is downloaded:
- Korean math sentences rendered with NanumGothic / NanumMyeongjo at 24-40 px, clean and with scan-like noise
  (rotation up to 1 degree, slight blur, JPEG quality 40); and the same sentences at 12-18 px, to choose the upscaling;
- formulas (fractions, exponents, roots) rendered with matplotlib mathtext, against a linear ground truth such as
  ``3/4+1/2`` or ``x^2-5x+6=0``; and the linear text itself rendered as a plain line.

Needs the Debian packages tesseract-ocr, tesseract-ocr-kor and fonts-nanum (make install); RapidOCR rows need the
rapidocr and onnxruntime packages (the models it ships are used; they have no Hangul). Run:
    .venv/bin/python benchmarks/ocr_lines.py [--jobs 2] > ocr_lines.json

CER is labeling.ocr.cer (spaces ignored); ``cer_spaced`` counts spaces; ``cer_flat`` (formulas) compares with the
ground truth less its ``^`` markers, which no reader of a typeset superscript can see. Seconds are per line and
call, ``--jobs`` lines at a time (the last section: one at a time, with and without OpenMP threads).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw, ImageFilter, ImageFont  # noqa: E402

from labeling.ocr import (  # noqa: E402
    FORMULA_WHITELIST,
    KoreanMathEngine,
    OcrEngine,
    OcrUnavailable,
    RapidOcrEngine,
    TesseractEngine,
    cer,
)

FONTS = {
    "NanumGothic": Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf"),
    "NanumMyeongjo": Path("/usr/share/fonts/truetype/nanum/NanumMyeongjo.ttf"),
}

TEMPLATES = [
    "이차방정식 x² − {a}x + {b} = 0의 두 근의 합을 구하시오.",
    "두 점 A({a}, {b}), B({c}, {d}) 사이의 거리를 구하시오.",
    "어떤 수에 {a}를 더한 후 {b}를 곱하면 {n}이 된다. 어떤 수를 구하시오.",
    "한 변의 길이가 {a}cm인 정사각형의 넓이는 몇 cm²인가?",
    "일차함수 y = {a}x + {b}의 그래프의 기울기와 y절편을 각각 구하시오.",
    "주사위를 두 번 던질 때, 나오는 눈의 수의 합이 {a}일 확률은?",
    "등차수열에서 첫째항이 {a}, 공차가 {b}일 때, 제{c}항을 구하시오.",
    "반지름의 길이가 {a}cm인 원의 둘레의 길이를 구하시오.",
    "연립방정식 x + y = {n}, x − y = {a}의 해를 구하시오.",
    "삼각형 ABC에서 ∠A = {p}°, ∠B = {q}°일 때, ∠C의 크기를 구하시오.",
    "{n}명의 학생 중에서 대표 {a}명을 뽑는 경우의 수를 구하시오.",
    "함수 f(x) = {a}x² + {b}x의 x = {c}에서의 미분계수를 구하시오.",
    "정가가 {n}00원인 물건을 {p}% 할인하여 판매할 때, 판매 가격은 얼마인가?",
    "부등식 {a}x − {b} > {n}을 만족시키는 가장 작은 정수 x의 값은?",
    "밑면의 반지름이 {a}cm, 높이가 {b}cm인 원기둥의 부피를 구하시오.",
    "자료 {a}, {b}, {c}, {d}, {n}의 평균과 중앙값을 구하시오.",
    "좌표평면 위의 점 ({a}, −{b})를 x축에 대하여 대칭이동한 점의 좌표는?",
    "시속 {n}km로 {a}시간 동안 이동한 거리는 몇 km인가?",
    "{n}과 {p}의 최대공약수와 최소공배수를 차례로 구하시오.",
    "직각삼각형의 빗변이 아닌 두 변의 길이가 {a}, {b}일 때 빗변의 길이를 구하시오.",
    "다항식 (x + {a})(x − {b})를 전개하여 간단히 하시오.",
    "√{n}의 정수 부분을 a라 할 때, a의 값을 구하시오.",
    "집합 A = {{1, 2, {a}}}의 부분집합의 개수를 구하시오.",
    "상자 안에 흰 공 {a}개와 검은 공 {b}개가 들어 있다. 공을 한 개 꺼낼 때 흰 공일 확률은?",
    "두 수의 비가 {a} : {b}이고 그 합이 {n}일 때, 두 수를 구하시오.",
]


def korean_lines(count: int, rng: random.Random) -> list[str]:
    lines = []
    for i in range(count):
        values = {k: rng.randint(2, 9) for k in "abcd"} | {"n": rng.randint(10, 60)}
        values |= {"p": rng.randint(20, 80), "q": rng.randint(20, 70)}
        lines.append(TEMPLATES[i % len(TEMPLATES)].format(**values))
    return lines


def formulas(count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(mathtext, linear ground truth) pairs: fractions, exponents, roots."""
    makers: list[Callable[[], tuple[str, str]]] = [
        lambda a, b, c, d: (rf"$\frac{{{a}}}{{{b}}}+\frac{{{c}}}{{{d}}}$", f"{a}/{b}+{c}/{d}"),
        lambda a, b, c, d: (rf"$x^{{2}}-{a + b}x+{a * b}=0$", f"x^2-{a + b}x+{a * b}=0"),
        lambda a, b, c, d: (rf"$\sqrt{{{a * a * b}}}={a}\sqrt{{{b}}}$", f"√{a * a * b}={a}√{b}"),
        lambda a, b, c, d: (rf"$2^{{{a}}}\times 2^{{{b}}}=2^{{{a + b}}}$", f"2^{a}×2^{b}=2^{a + b}"),
        lambda a, b, c, d: (rf"$y={a}x^{{2}}+{b}x-{c}$", f"y={a}x^2+{b}x-{c}"),
        lambda a, b, c, d: (rf"$\frac{{{a}}}{{{b}}}\div\frac{{{c}}}{{{d}}}$", f"{a}/{b}÷{c}/{d}"),
        lambda a, b, c, d: (rf"$(x+{a})^{{2}}=x^{{2}}+{2 * a}x+{a * a}$", f"(x+{a})^2=x^2+{2 * a}x+{a * a}"),
        lambda a, b, c, d: (rf"$\sqrt{{{a}}}+\sqrt{{{b}}}$", f"√{a}+√{b}"),
        lambda a, b, c, d: (rf"$f(x)={a}x^{{3}}-{b}x$", f"f(x)={a}x^3-{b}x"),
        lambda a, b, c, d: (rf"${a}x-{b}<{c}x+{d}$", f"{a}x-{b}<{c}x+{d}"),
    ]
    out = []
    for i in range(count):
        a, b, c, d = (rng.randint(2, 9) for _ in range(4))
        out.append(makers[i % len(makers)](a, b, c, d))
    return out


def render_line(text: str, font: Path, size: int, pad: int = 4) -> Image.Image:
    """Black text on white, cropped tightly (``pad`` pixels), as a layout detector's line crop would be."""
    face = ImageFont.truetype(str(font), size)
    left, top, right, bottom = face.getbbox(text)
    image = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 255)
    ImageDraw.Draw(image).text((pad - left, pad - top), text, font=face, fill=0)
    return image


def render_mathtext(tex: str, size: int) -> Image.Image:
    from matplotlib import mathtext
    from matplotlib.font_manager import FontProperties

    buffer = io.BytesIO()
    mathtext.math_to_image(tex, buffer, prop=FontProperties(size=size), dpi=72, format="png")
    buffer.seek(0)
    image = Image.open(buffer).convert("RGBA")
    white = Image.new("RGBA", image.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, image).convert("L")


def scan_noise(image: Image.Image, rng: random.Random) -> Image.Image:
    """Rotation within 1 degree, a slight blur, JPEG quality 40."""
    rotated = image.rotate(rng.uniform(-1, 1), resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    blurred = rotated.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 0.8)))
    buffer = io.BytesIO()
    blurred.save(buffer, format="JPEG", quality=40)
    buffer.seek(0)
    return Image.open(buffer).convert("L")


def hangul_only(text: str) -> str:
    return "".join(ch for ch in text if "가" <= ch <= "힣")


def evaluate(engine: OcrEngine, samples: list[tuple[Image.Image, str]], kind: str, layout: str, jobs: int) -> dict:
    def one(sample: tuple[Image.Image, str]) -> tuple[str, str, float, float]:
        image, truth = sample
        start = time.perf_counter()
        result = engine.read(image, kind=kind, layout=layout)  # type: ignore[arg-type]
        return truth, result.text, result.confidence, time.perf_counter() - start

    with ThreadPoolExecutor(jobs) as pool:
        rows = list(pool.map(one, samples))
    errors = [cer(truth, text) for truth, text, _, _ in rows]
    summary = {
        "n": len(rows),
        "cer": round(statistics.mean(errors), 4),
        "cer_median": round(statistics.median(errors), 4),
        "share_of_lines_cer_le_0.10": round(sum(e <= 0.10 for e in errors) / len(errors), 3),
        "cer_spaced": round(statistics.mean(cer(t, h, spaces=True) for t, h, _, _ in rows), 4),
        "mean_confidence": round(statistics.mean(c for _, _, c, _ in rows), 3),
        "seconds_per_line": round(statistics.mean(s for _, _, _, s in rows), 3),
    }
    if any(hangul_only(t) for t, _, _, _ in rows):
        summary["cer_hangul"] = round(statistics.mean(cer(hangul_only(t), hangul_only(h)) for t, h, _, _ in rows), 4)
    if kind == "formula":
        summary["cer_flat"] = round(statistics.mean(cer(t.replace("^", ""), h) for t, h, _, _ in rows), 4)
    worst = sorted(zip(errors, rows, strict=True), key=lambda pair: -pair[0])[:3]
    summary["worst"] = [{"cer": round(e, 3), "truth": r[0], "read": r[1]} for e, r in worst]
    return summary


def confidence_vs_cer(
    engine: OcrEngine, samples: list[tuple[Image.Image, str]], kind: str, jobs: int, bad: float = 0.10
) -> dict:
    """For each threshold: share of lines below it (needs_review), bad lines (CER > ``bad``) caught, CER of the rest."""

    def one(sample: tuple[Image.Image, str]) -> tuple[float, float]:
        image, truth = sample
        result = engine.read(image, kind=kind, layout="line")  # type: ignore[arg-type]
        return result.confidence, cer(truth, result.text)

    with ThreadPoolExecutor(jobs) as pool:
        rows = list(pool.map(one, samples))
    table = {}
    for threshold in (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95):
        flagged = [e for c, e in rows if c < threshold]
        passed = [e for c, e in rows if c >= threshold]
        table[str(threshold)] = {
            "flagged_share": round(len(flagged) / len(rows), 3),
            "bad_lines_caught": f"{sum(e > bad for e in flagged)}/{sum(e > bad for _, e in rows)}",
            "cer_of_passed": round(statistics.mean(passed), 4) if passed else None,
        }
    return table


ENGLISH = [
    "Solve the equation 3x + {a} = {n} for x.",
    "Find the area of a rectangle that is {a} cm by {b} cm.",
    "Maria has {n} apples and gives away {a}. How many are left?",
    "What is {a}/{b} + {c}/{d}? Write your answer in simplest form.",
    "A train travels {n} miles in {a} hours. What is its average speed?",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    missing = [str(path) for path in FONTS.values() if not path.is_file()]
    if missing:
        sys.exit(f"fonts missing: {missing} (apt-get install fonts-nanum)")

    rng = random.Random(args.seed)
    texts = korean_lines(50, rng)
    fonts = list(FONTS.values())
    clean = [(render_line(t, fonts[i % 2], rng.randint(24, 40)), t) for i, t in enumerate(texts)]
    noisy = [(scan_noise(image, rng), t) for image, t in clean]
    small = [(render_line(t, fonts[i % 2], rng.randint(12, 18), pad=2), t) for i, t in enumerate(texts)]
    small_noisy = [(scan_noise(image, rng), t) for image, t in small]
    english = []
    for i in range(20):
        values = {k: rng.randint(2, 9) for k in "abcd"} | {"n": rng.randint(10, 90)}
        text = ENGLISH[i % len(ENGLISH)].format(**values)
        english.append((render_line(text, fonts[i % 2], rng.randint(24, 40)), text))
    pairs = formulas(30, rng)
    mathtext_lines = [(render_mathtext(tex, rng.randint(22, 34)), truth) for tex, truth in pairs]
    mathtext_noisy = [(scan_noise(image, rng), truth) for image, truth in mathtext_lines]
    plain_formulas = [(render_line(truth, fonts[0], rng.randint(24, 36)), truth) for _, truth in pairs]

    default = TesseractEngine()
    default.check()
    results: dict = {"tesseract": default.version, "seed": args.seed, "jobs": args.jobs}
    hybrid = KoreanMathEngine(TesseractEngine(), RapidOcrEngine("bundled"))
    kor_eng = TesseractEngine("kor+eng", fallback_languages=None)
    kor_alone = TesseractEngine("kor", fallback_languages=None)
    results["korean_24_40px"] = {
        "tesseract default (kor, eng when confidence < 0.75; oem 1, min_height 32, border 10), psm 7": {
            "clean": evaluate(default, clean, "text", "line", args.jobs),
            "noisy": evaluate(default, noisy, "text", "line", args.jobs),
        },
        "tesseract+rapidocr (the default: runs of words without Hangul re-read by RapidOCR's recogniser), psm 7": {
            "clean": evaluate(hybrid, clean, "text", "line", args.jobs),
            "noisy": evaluate(hybrid, noisy, "text", "line", args.jobs),
        },
        "same, psm 6 (block)": {
            "clean": evaluate(default, clean, "text", "block", args.jobs),
            "noisy": evaluate(default, noisy, "text", "block", args.jobs),
        },
        "kor+eng": {
            "clean": evaluate(kor_eng, clean, "text", "line", args.jobs),
            "noisy": evaluate(kor_eng, noisy, "text", "line", args.jobs),
        },
        "no border, no upscaling": {
            "clean": evaluate(TesseractEngine(border=0, min_height=0), clean, "text", "line", args.jobs),
            "noisy": evaluate(TesseractEngine(border=0, min_height=0), noisy, "text", "line", args.jobs),
        },
        "oem 3": {"clean": evaluate(TesseractEngine(oem=3), clean, "text", "line", args.jobs)},
    }
    results["english_24_40px (why the eng fallback)"] = {
        "default (kor, eng fallback)": evaluate(default, english, "text", "line", args.jobs),
        "kor alone": evaluate(kor_alone, english, "text", "line", args.jobs),
        "kor+eng": evaluate(kor_eng, english, "text", "line", args.jobs),
    }
    results["korean_12_18px (upscaling)"] = {
        f"min_height {height}": {
            "clean": evaluate(TesseractEngine(min_height=height), small, "text", "line", args.jobs),
            "noisy": evaluate(TesseractEngine(min_height=height), small_noisy, "text", "line", args.jobs),
        }
        for height in (0, 32, 40, 48)
    }
    korean_all = clean + noisy + small + small_noisy
    results["tesseract confidence vs CER (korean, all four sets)"] = {
        f"bad = CER > {bad}": confidence_vs_cer(default, korean_all, "text", args.jobs, bad) for bad in (0.10, 0.20)
    }

    formula_engines: dict[str, OcrEngine] = {
        "tesseract kor+eng": TesseractEngine(formula_languages="kor+eng"),
        "tesseract eng (its default for formulas)": default,
        "tesseract kor+eng, whitelist": TesseractEngine(
            formula_languages="kor+eng", formula_whitelist=FORMULA_WHITELIST
        ),
        "tesseract eng, whitelist": TesseractEngine(formula_whitelist=FORMULA_WHITELIST),
    }
    bundled = RapidOcrEngine("bundled")
    try:
        bundled.check()
        formula_engines[f"rapidocr bundled ({bundled.version})"] = bundled
        with_cls = RapidOcrEngine("bundled", use_cls=True)
        formula_engines["rapidocr bundled, use_cls"] = with_cls
    except OcrUnavailable as exc:
        results["rapidocr_bundled"] = f"unavailable: {exc}"
    for label, samples in (
        ("formulas_mathtext", mathtext_lines),
        ("formulas_mathtext_noisy", mathtext_noisy),
        ("formulas_plain_text", plain_formulas),
    ):
        results[label] = {
            name: evaluate(engine, samples, "formula", "line", args.jobs) for name, engine in formula_engines.items()
        }
    if bundled.version:
        results["rapidocr bundled on other lines (its dictionary has no Hangul)"] = {
            "korean clean": evaluate(bundled, clean, "text", "line", args.jobs),
            "english clean": evaluate(bundled, english, "text", "line", args.jobs),
        }
        formulas_all = mathtext_lines + mathtext_noisy + plain_formulas
        results["rapidocr confidence vs CER (formulas, all three sets)"] = {
            f"bad = CER > {bad}": confidence_vs_cer(bundled, formulas_all, "formula", args.jobs, bad)
            for bad in (0.10, 0.20)
        }

    timing = {}
    for threads in (1, 0):
        engine = TesseractEngine(threads=threads)
        start = time.perf_counter()
        for image, _ in clean[:20]:
            engine.read(image, kind="text", layout="line")
        timing[f"threads={threads} (OMP_THREAD_LIMIT={threads or 'unset'})"] = round(
            (time.perf_counter() - start) / 20, 3
        )
    results["tesseract seconds per line, one at a time"] = timing
    print(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
