"""The OCR engines by name: the one place that knows the names ``settings.ocr`` may use, and builds each engine."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from labeling.ocr.base import OcrEngine
from labeling.ocr.korean_math import KoreanMathEngine
from labeling.ocr.rapid import RapidOcrEngine
from labeling.ocr.tesseract import TesseractEngine


class OcrConfig(Protocol):
    """What the engines are built from: the ``ocr`` section of the settings."""

    tesseract_languages: str
    tesseract_fallback_languages: str
    tessdata_dir: str
    rapidocr_model_dir: str


# A factory gets the OCR settings and ``get``, which returns another engine by name: an engine built from others asks
# for them, so engines built together share their parts (one set of RapidOCR models in memory, not two).
EngineFactory = Callable[[OcrConfig, Callable[[str], OcrEngine]], OcrEngine]


def _tesseract(ocr: OcrConfig, get: Callable[[str], OcrEngine]) -> OcrEngine:
    return TesseractEngine(
        ocr.tesseract_languages,
        tessdata_dir=ocr.tessdata_dir or None,
        fallback_languages=ocr.tesseract_fallback_languages or None,
    )


def _rapidocr(ocr: OcrConfig, get: Callable[[str], OcrEngine]) -> OcrEngine:
    return RapidOcrEngine(ocr.rapidocr_model_dir)


def _korean_math(ocr: OcrConfig, get: Callable[[str], OcrEngine]) -> OcrEngine:
    return KoreanMathEngine(get("tesseract"), get("rapidocr"))  # type: ignore[arg-type]


ENGINES: dict[str, EngineFactory] = {
    "tesseract": _tesseract,
    "rapidocr": _rapidocr,
    "tesseract+rapidocr": _korean_math,
}


def engines(names: Iterable[str], ocr: OcrConfig) -> list[OcrEngine]:
    """The OCR engines ``names`` configured from ``ocr`` (``settings.ocr``), each built once; nothing is checked yet.

    A name given twice, or an engine another one is built from, is one instance: the page reader's text engine
    ``tesseract+rapidocr`` and formula engine ``rapidocr`` share one RapidOCR engine.

    Raises:
        ValueError: a name is not a known engine.
    """
    built: dict[str, OcrEngine] = {}

    def get(name: str) -> OcrEngine:
        if name not in built:
            if name not in ENGINES:
                *others, last = ENGINES
                raise ValueError(f"unknown OCR engine {name!r}: use {', '.join(others)} or {last}")
            built[name] = ENGINES[name](ocr, get)
        return built[name]

    return [get(name) for name in names]


def engine(name: str, ocr: OcrConfig) -> OcrEngine:
    """The OCR engine ``name`` (a key of ``ENGINES``) configured from ``ocr`` (``settings.ocr``); nothing is checked
    yet.

    Raises:
        ValueError: ``name`` is not a known engine.
    """
    return engines([name], ocr)[0]
