"""OCR without running an engine: the character error rate, the errors that name what is missing, and engines
built from the settings (the engines reading lines are in tests/integration/test_ocr_engines.py)."""

from __future__ import annotations

import random
from functools import cache
from typing import get_args

import pytest
from PIL import Image
from pydantic import ValidationError

from labeling.ocr import ENGINES, KoreanMathEngine, OcrUnavailable, RapidOcrEngine, TesseractEngine, cer, engine
from mathlabel.config import OcrSettings, Settings

# --- cer ---------------------------------------------------------------------------------------------------------


def _levenshtein(a: str, b: str) -> int:
    @cache
    def d(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("abc", "abc", 0.0),
        ("abcd", "abed", 0.25),
        ("가나다", "가나", 1 / 3),
        ("이차 방정식", "이차방정식", 0.0),  # spaces do not count
        ("x²−1", "x2-1", 0.0),  # NFKC superscripts, the minus sign as a hyphen
        ("ｘ＋１", "x+1", 0.0),  # full-width forms
        ("", "", 0.0),
        ("", "a", 1.0),
        ("a", "abc", 2.0),  # insertions can take it past 1
    ],
)
def test_cer(reference, hypothesis, expected):
    assert cer(reference, hypothesis) == pytest.approx(expected)


def test_cer_counts_spaces_when_asked():
    assert cer("이차 방정식", "이차방정식", spaces=True) == pytest.approx(1 / 6)
    assert cer("a  b", "a b", spaces=True) == 0.0  # runs of whitespace are one space


def test_cer_matches_a_plain_levenshtein_on_random_strings():
    rng = random.Random(3)
    for _ in range(200):
        a = "".join(rng.choice("ab가나") for _ in range(rng.randint(1, 8)))
        b = "".join(rng.choice("ab가나") for _ in range(rng.randint(0, 8)))
        assert cer(a, b) == pytest.approx(_levenshtein(a, b) / len(a))


# --- Tesseract ---------------------------------------------------------------------------------------------------


def test_missing_tesseract_program_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OcrUnavailable, match=r"apt-get install tesseract-ocr tesseract-ocr-kor"):
        TesseractEngine().read(Image.new("L", (10, 10), 255))


# --- RapidOCR ----------------------------------------------------------------------------------------------------


def test_rapidocr_without_a_model_folder_says_how_to_configure_one():
    with pytest.raises(OcrUnavailable, match=r"rapidocr_model_dir"):
        RapidOcrEngine("").check()


@pytest.mark.parametrize("make", [False, True])
def test_rapidocr_lists_missing_model_files(tmp_path, make):
    folder = tmp_path / "models"
    if make:
        folder.mkdir()
    with pytest.raises(OcrUnavailable, match=r"missing in .*models: det\.onnx, rec\.onnx"):
        RapidOcrEngine(str(folder)).check()


def test_rapidocr_orientation_model_is_required_only_when_used(tmp_path):
    (tmp_path / "det.onnx").write_bytes(b"")
    (tmp_path / "rec.onnx").write_bytes(b"")
    with pytest.raises(OcrUnavailable, match=r"missing in .*: cls\.onnx"):
        RapidOcrEngine(str(tmp_path), use_cls=True).check()


# --- configuration -----------------------------------------------------------------------------------------------


def test_engines_are_built_from_the_settings(monkeypatch):
    monkeypatch.setenv("MATHLABEL_OCR__TESSERACT_LANGUAGES", "kor+eng")
    monkeypatch.setenv("MATHLABEL_OCR__RAPIDOCR_MODEL_DIR", "/models/korean")
    settings = Settings()
    text = engine(settings.ocr.text_engine, settings.ocr)
    assert isinstance(text, KoreanMathEngine) and isinstance(text.symbols, RapidOcrEngine)
    assert (text.text.languages, text.text.fallback_languages) == ("kor+eng", "eng")
    assert text.symbols.model_dir == "/models/korean"
    formula = engine(settings.ocr.formula_engine, settings.ocr)
    assert isinstance(formula, RapidOcrEngine) and formula.model_dir == "/models/korean"
    with pytest.raises(ValueError, match="unknown OCR engine"):
        engine("easyocr", settings.ocr)


def test_every_engine_name_the_settings_accept_has_a_factory():
    for field in ("text_engine", "formula_engine"):
        assert set(get_args(OcrSettings.model_fields[field].annotation)) <= set(ENGINES), field


@pytest.mark.parametrize(
    ("text_engine", "formula_engine"), [("tesseract+rapidocr", "rapidocr"), ("tesseract", "tesseract")]
)
def test_the_page_reader_builds_each_engine_once(monkeypatch, text_engine, formula_engine):
    """The page reader's formula engine is the text engine's own RapidOCR, not a second set of models in memory."""
    from mathlabel.clients import page_reader

    monkeypatch.setenv("MATHLABEL_OCR__TEXT_ENGINE", text_engine)
    monkeypatch.setenv("MATHLABEL_OCR__FORMULA_ENGINE", formula_engine)
    monkeypatch.setenv("MATHLABEL_OCR__LAYOUT_MODEL", "")  # no detector: nothing to load
    reader = page_reader(Settings())
    assert reader.formula_engine is getattr(reader.text_engine, "symbols", reader.text_engine)


def test_an_unknown_engine_name_in_the_settings_is_rejected(monkeypatch):
    monkeypatch.setenv("MATHLABEL_OCR__TEXT_ENGINE", "easyocr")
    with pytest.raises(ValidationError):
        Settings()
