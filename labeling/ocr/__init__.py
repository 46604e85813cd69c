"""OCR behind one small interface: Tesseract (a system program) or RapidOCR (PaddleOCR models on ONNX Runtime).

Engines are chosen by name in the settings (``settings.ocr``; ``ENGINES`` maps each name to the factory that builds
it): by default Tesseract with RapidOCR re-reading its runs of symbols (``tesseract+rapidocr``) for text and RapidOCR
for formulas, as measured by benchmarks/ocr_lines.py. No engine downloads anything: Tesseract needs its Debian
packages (``make install``); RapidOCR needs the rapidocr and onnxruntime packages and its model files in a folder
named in the settings, or the models the rapidocr wheel ships (``rapidocr_model_dir: bundled``; no Hangul in them).

Modules: ``base`` (the interface, results, errors, ``cer``), one module per engine (``tesseract``, ``rapid``,
``korean_math``) and ``registry`` (names to engines).

Every engine checks what it needs once, on first use or when ``check()`` is called, and raises ``OcrUnavailable``
saying what is missing and how to get it; constructing an engine does no I/O. ``cer`` scores a reading.
"""

from labeling.ocr.base import (
    Kind,
    Layout,
    OcrEngine,
    OcrError,
    OcrResult,
    OcrUnavailable,
    cer,
    normalize_for_cer,
)
from labeling.ocr.korean_math import KoreanMathEngine
from labeling.ocr.rapid import RAPIDOCR_CLS, RAPIDOCR_DET, RAPIDOCR_DICT, RAPIDOCR_REC, RapidOcrEngine
from labeling.ocr.registry import ENGINES, engine, engines
from labeling.ocr.tesseract import FORMULA_WHITELIST, TesseractEngine

__all__ = [
    "ENGINES",
    "FORMULA_WHITELIST",
    "RAPIDOCR_CLS",
    "RAPIDOCR_DET",
    "RAPIDOCR_DICT",
    "RAPIDOCR_REC",
    "Kind",
    "KoreanMathEngine",
    "Layout",
    "OcrEngine",
    "OcrError",
    "OcrResult",
    "OcrUnavailable",
    "RapidOcrEngine",
    "TesseractEngine",
    "cer",
    "engine",
    "engines",
    "normalize_for_cer",
]
