"""OCR engines reading rendered lines: Tesseract (needs `make install`) and RapidOCR's ONNX models (the rapidocr
package); their configuration errors and the character error rate are tested in tests/unit/test_ocr.py."""

from __future__ import annotations

import importlib.util
import io
import shutil
from functools import lru_cache
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from labeling.ocr import KoreanMathEngine, OcrUnavailable, RapidOcrEngine, TesseractEngine, cer

pytestmark = pytest.mark.integration

GOTHIC = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf")
needs_font = pytest.mark.skipif(not GOTHIC.is_file(), reason="NanumGothic missing: apt-get install fonts-nanum")
HAS_RAPIDOCR = importlib.util.find_spec("rapidocr") is not None and importlib.util.find_spec("onnxruntime") is not None

KOREAN_LINES = [
    "다음 이차방정식의 두 근의 합을 구하시오.",
    "한 변의 길이가 6cm인 정사각형의 넓이를 구하시오.",
    "일차함수 y = 2x + 3의 그래프의 기울기를 구하시오.",
    "주사위를 두 번 던질 때, 나오는 눈의 수의 합이 7일 확률은?",
    "어떤 수에 4를 더한 후 3을 곱하면 27이 된다.",
]
ENGLISH_LINE = "Solve the equation 3x + 5 = 20 for x."


def render(text: str, size: int = 28, pad: int = 4) -> Image.Image:
    """Black text on white, cropped as a layout detector would crop a line."""
    face = ImageFont.truetype(str(GOTHIC), size)
    left, top, right, bottom = face.getbbox(text)
    image = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 255)
    ImageDraw.Draw(image).text((pad - left, pad - top), text, font=face, fill=0)
    return image


def render_mathtext(tex: str, size: int = 28) -> Image.Image:
    from matplotlib import mathtext
    from matplotlib.font_manager import FontProperties

    buffer = io.BytesIO()
    mathtext.math_to_image(tex, buffer, prop=FontProperties(size=size), dpi=72, format="png")
    buffer.seek(0)
    return Image.open(buffer).convert("RGBA")


@lru_cache(maxsize=1)
def tesseract() -> TesseractEngine:
    return TesseractEngine()


@lru_cache(maxsize=1)
def bundled() -> RapidOcrEngine:
    return RapidOcrEngine("bundled")


# --- Tesseract ---------------------------------------------------------------------------------------------------


def hangul(text: str) -> str:
    return "".join(ch for ch in text if "가" <= ch <= "힣")


@needs_font
def test_tesseract_reads_clean_korean_lines():
    errors = []
    for text in KOREAN_LINES:
        result = tesseract().read(render(text), layout="line")
        errors.append(cer(text, result.text))
        assert errors[-1] <= 0.15, (text, result.text)  # the misses are digits and Latin letters ("6cm" -> "600")
        assert cer(hangul(text), hangul(result.text)) <= 0.02, (text, result.text)  # kor+eng would miss ~6%
        assert result.confidence >= 0.8
    assert sum(errors) / len(errors) <= 0.10


@needs_font
def test_tesseract_word_boxes_are_in_the_callers_pixels():
    image = render("두 근의 합을 구하시오.", size=14, pad=2)  # lower than min_height: upscaled, then mapped back
    assert image.height < tesseract().min_height
    result = tesseract().read(image, layout="line")
    assert result.words
    for word in result.words:
        left, top, width, height = word["box"]
        assert 0 <= left <= left + width <= image.width and 0 <= top <= top + height <= image.height
        assert 0.0 <= word["conf"] <= 1.0
    assert min(w["box"][0] for w in result.words) <= 4
    assert max(w["box"][0] + w["box"][2] for w in result.words) >= image.width - 6


@needs_font
def test_tesseract_block_keeps_lines_in_reading_order():
    first, second = render(KOREAN_LINES[0]), render(KOREAN_LINES[3])
    page = Image.new("L", (max(first.width, second.width), first.height + second.height + 20), 255)
    page.paste(first, (0, 0))
    page.paste(second, (0, first.height + 20))
    lines = tesseract().read(page, layout="block").text.splitlines()
    assert len(lines) == 2
    assert cer(KOREAN_LINES[0], lines[0]) <= 0.10 and cer(KOREAN_LINES[3], lines[1]) <= 0.10


@needs_font
def test_english_text_is_read_through_the_fallback_languages():
    image = render(ENGLISH_LINE)
    assert cer(ENGLISH_LINE, tesseract().read(image, layout="line").text) <= 0.05
    # kor alone turns English into Hangul-like noise: the fallback is what makes the default read it.
    assert cer(ENGLISH_LINE, TesseractEngine("kor", fallback_languages=None).read(image, layout="line").text) > 0.5


@needs_font
def test_tesseract_on_formulas_plain_and_typeset():
    # Measured (benchmarks/ocr_lines.py): plain-text formulas ~0.19 CER, typeset fractions/exponents ~0.40; this
    # easy pair reads "x42-5x+6=0" (the caret as "4") and "x?-5x+6=0".
    plain = tesseract().read(render("x^2 - 5x + 6 = 0"), kind="formula", layout="line")
    assert cer("x^2-5x+6=0", plain.text) <= 0.2, plain.text
    typeset = tesseract().read(render_mathtext(r"$x^{2}-5x+6=0$"), kind="formula", layout="line")
    assert cer("x2-5x+6=0", typeset.text) <= 0.2, typeset.text  # a typeset superscript has no caret to read


def test_a_language_that_is_not_installed_is_named():
    with pytest.raises(OcrUnavailable, match=r"xyz.*tesseract-ocr-xyz"):
        TesseractEngine("kor+xyz").check()


def test_tesseract_languages_are_checked_once(monkeypatch, tmp_path):
    engine_ = TesseractEngine()
    engine_.check()
    monkeypatch.setenv("PATH", str(tmp_path))  # no second look at the system
    engine_.check()


# --- RapidOCR ----------------------------------------------------------------------------------------------------


def test_rapidocr_needs_a_dictionary_when_the_model_embeds_none(tmp_path):
    if HAS_RAPIDOCR:
        det = bundled().model_files()["det"]
        shutil.copy(det, tmp_path / "det.onnx")
        shutil.copy(det, tmp_path / "rec.onnx")  # a valid ONNX file without the "character" metadata
    elif importlib.util.find_spec("onnxruntime") is None:
        (tmp_path / "det.onnx").write_bytes(b"")
        (tmp_path / "rec.onnx").write_bytes(b"")
    else:
        pytest.skip("onnxruntime without rapidocr: no ONNX model at hand to copy")
    with pytest.raises(OcrUnavailable, match=r"rec_dict\.txt"):
        RapidOcrEngine(str(tmp_path)).check()


@needs_font
def test_rapidocr_bundled_reads_english_and_formulas():
    if not HAS_RAPIDOCR:
        with pytest.raises(OcrUnavailable, match=r"pip install rapidocr onnxruntime"):
            bundled().check()
        return
    result = bundled().read(render(ENGLISH_LINE), layout="line")
    assert cer(ENGLISH_LINE, result.text) <= 0.05, result.text
    assert result.confidence >= 0.9
    assert bundled().version.startswith("rapidocr ")
    plain = bundled().read(render("x^2 - 5x + 6 = 0"), kind="formula", layout="line")
    assert cer("x^2-5x+6=0", plain.text) <= 0.05, plain.text
    # Measured: ~0.13 CER on typeset formulas against a linear truth (Tesseract: ~0.40); this one reads
    # "x² − 5x + 6 = 0", which the CER's NFKC step makes "x2-5x+6=0".
    typeset = bundled().read(render_mathtext(r"$x^{2}-5x+6=0$"), kind="formula", layout="line")
    assert cer("x2-5x+6=0", typeset.text) <= 0.05, typeset.text


@needs_font
@pytest.mark.skipif(not HAS_RAPIDOCR, reason="rapidocr and onnxruntime are not installed")
def test_rapidocr_model_folder_is_read_without_any_download(tmp_path, monkeypatch):
    from rapidocr.utils.download_file import DownloadFile

    def refuse(*args, **kwargs):
        raise AssertionError("RapidOCR tried to download a file")

    monkeypatch.setattr(DownloadFile, "run", refuse)
    files = bundled().model_files()
    for name, path in (("det.onnx", files["det"]), ("rec.onnx", files["rec"])):
        (tmp_path / name).symlink_to(path)
    result = RapidOcrEngine(str(tmp_path)).read(render(ENGLISH_LINE), layout="block")
    assert cer(ENGLISH_LINE, result.text) <= 0.05, result.text
    assert all(set(w) == {"text", "conf", "box"} for w in result.words)


@needs_font
@pytest.mark.skipif(not HAS_RAPIDOCR or shutil.which("tesseract") is None, reason="needs tesseract and rapidocr")
def test_korean_math_lines_read_better_with_the_symbols_re_read():
    """Tesseract's kor model misreads Latin letters and symbols inside Korean sentences, and drops some (the ``y`` of
    ``x + y``); the default engine re-reads the stretch between the Korean words with RapidOCR and keeps Tesseract's
    Hangul, including a particle right after a number (``54의``)."""
    lines = ["삼각형 ABC에서 ∠A = 47°, ∠B = 63°일 때, ∠C의 크기를 구하시오.",
             "함수 f(x) = 3x² + 8x의 x = 4에서의 미분계수를 구하시오.",
             "연립방정식 x + y = 48, x − y = 7의 해를 구하시오."]  # fmt: skip
    alone, hybrid = TesseractEngine(), KoreanMathEngine(TesseractEngine(), RapidOcrEngine("bundled"))
    for line in lines:
        image = render(line, size=30)
        before = alone.read(image, layout="line")
        after = hybrid.read(image, layout="line")
        assert cer(line, after.text) < cer(line, before.text), (before.text, after.text)
        assert cer(line, after.text) <= 0.05, after.text
        assert "구하시오" in after.text and any(w in after.text for w in ("크기를", "미분계수를", "해를"))
    assert "x+y=48" in hybrid.read(render(lines[2], size=30), layout="line").text.replace(" ", "")
    numbers = "23과 54의 최대공약수와 최소공배수를 차례로 구하시오."
    assert hybrid.read(render(numbers, size=30), layout="line").text == numbers
    assert "tesseract" in hybrid.version and "rapidocr" in hybrid.version
    formula = hybrid.read(render("x + y = 17"), kind="formula", layout="line")  # formulas: RapidOCR whole
    assert cer("x+y=17", formula.text) <= 0.2


@needs_font
@pytest.mark.skipif(not HAS_RAPIDOCR or shutil.which("tesseract") is None, reason="needs tesseract and rapidocr")
def test_a_problem_number_before_a_formula_stays_a_number():
    """A line opening with a problem number and a formula ("19  √32 − √8 을 ...") keeps the number apart, so the page
    reader starts a problem there; "√58의" (which Tesseract splits into "7" and "58") is not taken for a number."""
    from labeling.vision import LOOSE_NUMBER

    hybrid = KoreanMathEngine(TesseractEngine(), RapidOcrEngine("bundled"))
    for line, number in (("19  √32 − √8 을 간단히 하면?", "19"), ("12  3x − 5 = 7을 풀면?", "12")):
        text = hybrid.read(render(line, size=30), layout="line").text
        found = LOOSE_NUMBER.match(text)
        assert found and found.group(1) == number, text
    assert hybrid.read(render("√58의 정수 부분을 a라 할 때", size=30), layout="line").text.startswith("√58의")
