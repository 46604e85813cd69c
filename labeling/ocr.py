"""OCR behind one small interface: Tesseract (a system program) or RapidOCR (PaddleOCR models on ONNX Runtime).

Engines are chosen by configuration (``settings.ocr``: by default Tesseract for text, RapidOCR for formulas, as
measured by benchmarks/ocr_lines.py) and never download anything: Tesseract needs its Debian packages
(``make install``); RapidOCR needs the rapidocr and onnxruntime packages and its model files in a folder named in the
settings, or the models the rapidocr wheel ships (``rapidocr_model_dir: bundled``; no Hangul in them).

Both engines check what they need once, on first use or when ``check()`` is called, and raise ``OcrUnavailable``
saying what is missing and how to get it; constructing an engine does no I/O. ``cer`` scores a reading.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from labeling.errors import LabelingError

if TYPE_CHECKING:
    from PIL import Image

    from mathlabel.config import Settings

Kind = Literal["text", "formula"]
Layout = Literal["line", "block"]

# Characters of linear formulas; with the whitelist Tesseract cannot answer with Hangul or stray symbols.
FORMULA_WHITELIST = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+-=*/^()[]{}<>.,:;|!'√×÷±≤≥°π·"


class OcrError(LabelingError):
    """An OCR engine failed on an image."""


class OcrUnavailable(OcrError):
    """An OCR engine cannot run here: a program, language data or model file is missing."""


@dataclass
class OcrResult:
    """What an engine read.

    ``confidence`` is the mean word confidence, 0 to 1 (0 when nothing was read). Each of ``words`` is
    ``{"text", "conf" (0..1), "box": [left, top, width, height]}`` in the pixels of the image given to ``read``.
    """

    text: str
    confidence: float
    words: list[dict[str, Any]] = field(default_factory=list)


class OcrEngine(Protocol):
    """Reads the text of one image: a text line, a block of lines, or a formula.

    ``version`` names the program and models for label documents once ``check()`` has passed.
    """

    name: str
    version: str

    def check(self) -> None: ...

    def read(self, image: Image.Image, *, kind: Kind = "text", layout: Layout = "block") -> OcrResult: ...


def _flatten(image: Image.Image) -> Image.Image:
    """Grayscale on white: transparent pixels become background, not black."""
    from PIL import Image

    if image.mode in {"RGBA", "LA", "PA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    return image.convert("L")


class TesseractEngine:
    """The ``tesseract`` command-line program (Debian ``tesseract-ocr`` + ``tesseract-ocr-kor``), run per image.

    Defaults are measured by benchmarks/ocr_lines.py: Korean text is read with ``kor`` alone (its Hangul error rate
    is far lower than with ``kor+eng``, and it reads the Latin letters and digits of Korean math text too); a read
    whose confidence is below ``fallback_below`` is read again with ``fallback_languages`` and the more confident
    result is kept, which recovers English text (``kor`` alone cannot read it). Crops lower than ``min_height`` are
    upscaled and every image gets a white ``border``. Formulas are read with ``formula_languages``.

    Args:
        languages: Tesseract languages for text, ``+``-joined.
        tessdata_dir: folder of ``*.traineddata``; None = Tesseract's own.
        timeout: seconds one image may take.
        fallback_languages: languages of the second read; None = no second read.
        fallback_below: mean word confidence under which the second read is tried.
        oem: Tesseract engine mode (1 = LSTM only).
        min_height: crops lower than this many pixels are upscaled to it.
        border: white pixels added on every side.
        formula_languages: languages for ``kind="formula"``; None = ``languages``.
        formula_whitelist: characters allowed in formulas; None = any (a whitelist barely changes the error rate
            and makes the confidence meaningless, so it is off by default).
        threads: OpenMP threads per run (OMP_THREAD_LIMIT); 1 is faster on line crops, 0 = Tesseract's choice.
    """

    name = "tesseract"

    def __init__(
        self,
        languages: str = "kor",
        tessdata_dir: str | None = None,
        timeout: float = 30,
        *,
        fallback_languages: str | None = "eng",
        fallback_below: float = 0.75,
        oem: int = 1,
        min_height: int = 32,
        border: int = 10,
        formula_languages: str | None = "eng",
        formula_whitelist: str | None = None,
        threads: int = 1,
    ) -> None:
        self.languages = languages
        self.tessdata_dir = tessdata_dir or None
        self.timeout = timeout
        self.fallback_languages = fallback_languages or None
        self.fallback_below = fallback_below
        self.oem = oem
        self.min_height = min_height
        self.border = border
        self.formula_languages = formula_languages or languages
        self.formula_whitelist = formula_whitelist
        self.threads = threads
        self._checked = False
        self.version = ""

    def _base_command(self) -> list[str]:
        command = ["tesseract"]
        if self.tessdata_dir:
            command += ["--tessdata-dir", self.tessdata_dir]
        return command

    def check(self) -> None:
        """Raise ``OcrUnavailable`` unless the program and every configured language are installed (checked once)."""
        if self._checked:
            return
        if shutil.which("tesseract") is None:
            raise OcrUnavailable(
                "tesseract is not installed (not on PATH): apt-get install tesseract-ocr tesseract-ocr-kor "
                "(make install does it)"
            )
        try:
            listed = subprocess.run(
                [*self._base_command(), "--list-langs"], capture_output=True, text=True, timeout=self.timeout
            )
            version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, timeout=self.timeout)
        except (OSError, subprocess.SubprocessError) as exc:
            raise OcrUnavailable(f"tesseract does not run: {exc}") from exc
        lines = (listed.stdout + listed.stderr).splitlines()
        header = next((line for line in lines if line.startswith("List of available languages")), "")
        folder = re.search(r'"(.*?)"', header)
        where = folder.group(1) if folder else (self.tessdata_dir or "Tesseract's tessdata folder")
        installed = {line.strip() for line in lines if line.strip() and " " not in line.strip()}
        wanted = {*self.languages.split("+"), *self.formula_languages.split("+")}
        wanted |= set(self.fallback_languages.split("+")) if self.fallback_languages else set()
        missing = sorted(lang for lang in wanted if lang and lang not in installed)
        if missing:
            packages = " ".join(f"tesseract-ocr-{lang.lower().replace('_', '-')}" for lang in missing)
            raise OcrUnavailable(
                f"Tesseract language data missing for {', '.join(missing)} in {where} "
                f"(installed: {', '.join(sorted(installed)) or 'none'}): apt-get install {packages} "
                f"(make install installs kor and eng), or put {', '.join(f'{m}.traineddata' for m in missing)} there"
            )
        program = (version.stdout or version.stderr).splitlines()[0].strip() if version.returncode == 0 else "tesseract"
        fallback = f", {self.fallback_languages} below {self.fallback_below:g}" if self.fallback_languages else ""
        self.version = f"{program} ({self.languages}{fallback}; formulas {self.formula_languages})"
        self._checked = True

    def prepare(self, image: Image.Image) -> tuple[Image.Image, float]:
        """The image as Tesseract gets it (grayscale, upscaled, bordered) and the scale applied."""
        from PIL import Image, ImageOps

        gray = _flatten(image)
        scale = 1.0
        if 0 < gray.height < self.min_height:
            scale = self.min_height / gray.height
            gray = gray.resize((max(1, round(gray.width * scale)), self.min_height), Image.Resampling.LANCZOS)
        if self.border:
            gray = ImageOps.expand(gray, border=self.border, fill=255)
        return gray, scale

    def read(self, image: Image.Image, *, kind: Kind = "text", layout: Layout = "block") -> OcrResult:
        self.check()
        prepared, scale = self.prepare(image)
        png = io.BytesIO()
        prepared.save(png, format="PNG")
        if kind == "formula":
            return self._run(png.getvalue(), scale, image.size, self.formula_languages, layout, self.formula_whitelist)
        result = self._run(png.getvalue(), scale, image.size, self.languages, layout, None)
        if self.fallback_languages and result.confidence < self.fallback_below:
            second = self._run(png.getvalue(), scale, image.size, self.fallback_languages, layout, None)
            if second.confidence > result.confidence:
                return second
        return result

    def _run(
        self, png: bytes, scale: float, size: tuple[int, int], languages: str, layout: Layout, whitelist: str | None
    ) -> OcrResult:
        command = [*self._base_command(), "stdin", "out", "-l", languages, "--oem", str(self.oem)]
        command += ["--psm", "7" if layout == "line" else "6"]
        if whitelist:
            command += ["-c", f"tessedit_char_whitelist={whitelist}"]
        # One run writes both: out.txt keeps Tesseract's own spacing, out.tsv has the words and confidences.
        command += ["-c", "page_separator=", "txt", "tsv"]
        env = {**os.environ, "OMP_THREAD_LIMIT": str(self.threads)} if self.threads else None
        with tempfile.TemporaryDirectory(prefix="mathlabel-ocr-") as folder:
            try:
                done = subprocess.run(
                    command, input=png, capture_output=True, timeout=self.timeout, cwd=folder, env=env
                )
            except subprocess.TimeoutExpired as exc:
                raise OcrError(f"tesseract took longer than {self.timeout:g} s on one image") from exc
            if done.returncode != 0:
                raise OcrError(f"tesseract failed: {done.stderr.decode(errors='replace').strip()[:500]}")
            text = (Path(folder) / "out.txt").read_text(encoding="utf-8")
            tsv = (Path(folder) / "out.tsv").read_text(encoding="utf-8")
        words = _tsv_words(tsv, scale, self.border, size)
        lines = [line.strip() for line in text.replace("\f", "").splitlines()]
        confidence = sum(w["conf"] for w in words) / len(words) if words else 0.0
        return OcrResult(text="\n".join(line for line in lines if line), confidence=confidence, words=words)


def _tsv_words(tsv: str, scale: float, border: int, size: tuple[int, int]) -> list[dict[str, Any]]:
    """Words of Tesseract's TSV (level 5), boxes mapped back to the caller's pixels and clipped to its image."""
    words = []
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5" or not cells[11].strip():
            continue
        conf = float(cells[10])
        if conf < 0:
            continue
        left, top, width, height = (int(c) for c in cells[6:10])
        x0, y0 = (max(0, min(size[i], round((v - border) / scale))) for i, v in enumerate((left, top)))
        x1, y1 = (max(0, min(size[i], round((v - border) / scale))) for i, v in enumerate((left + width, top + height)))
        words.append({"text": cells[11].strip(), "conf": conf / 100.0, "box": [x0, y0, x1 - x0, y1 - y0]})
    return words


# RapidOCR model folder: these names, whatever PP-OCR model each file holds (rename the downloaded files).
RAPIDOCR_DET = "det.onnx"
RAPIDOCR_REC = "rec.onnx"
RAPIDOCR_CLS = "cls.onnx"  # optional, used only with use_cls=True: 0/180 degree line orientation
RAPIDOCR_DICT = "rec_dict.txt"  # needed unless rec.onnx carries its character list in its metadata ("character")


class RapidOcrEngine:
    """PaddleOCR models run by the ``rapidocr`` package on ONNX Runtime, from files on disk only.

    ``model_dir`` holds ``det.onnx`` (a PP-OCR DB text detector), ``rec.onnx`` (a PP-OCR CTC recogniser, e.g.
    ``korean_PP-OCRv5_rec_mobile.onnx`` for Korean), optionally ``cls.onnx`` (line orientation) and
    ``rec_dict.txt`` (the recogniser's dictionary, one character per line, e.g. ``korean_dict.txt``; needed only
    when ``rec.onnx`` does not embed its ``character`` metadata, as the ONNX files converted by RapidOCR do).
    ``model_dir="bundled"`` uses the models inside the installed ``rapidocr`` wheel (3.x: PP-OCRv6 small det/rec,
    Chinese + English + math symbols such as √ × ÷, no Hangul).

    Args:
        model_dir: the folder above, or "bundled".
        use_cls: turn 180-degree lines upright with the orientation model (it flipped some formulas when measured,
            so it is off unless pages come upside down).
        text_score: boxes recognised with a lower score are dropped.
        det_side_len: images are scaled so that their longer side is at most this many pixels for detection
            (RapidOCR's own default scales the *shorter* side up to 736, which blows a line crop up to 736 px high).
    """

    name = "rapidocr"

    def __init__(self, model_dir: str, *, use_cls: bool = False, text_score: float = 0.5, det_side_len: int = 960):
        self.model_dir = model_dir
        self.use_cls = use_cls
        self.text_score = text_score
        self.det_side_len = det_side_len
        self._ocr: Any = None
        self._lock = threading.Lock()
        self.version = ""

    def model_files(self) -> dict[str, Path | None]:
        """The det/rec/cls/dict paths this engine would use (None: not used); raises ``OcrUnavailable``."""
        if self.model_dir == "bundled":
            return self._bundled_files()
        if not self.model_dir:
            raise OcrUnavailable(
                f"RapidOCR model folder not configured: set ocr.rapidocr_model_dir to a folder with "
                f"{RAPIDOCR_DET}, {RAPIDOCR_REC} (and {RAPIDOCR_DICT} unless the model embeds it), or to 'bundled'"
            )
        folder = Path(self.model_dir).expanduser()
        wanted = [RAPIDOCR_DET, RAPIDOCR_REC] + ([RAPIDOCR_CLS] if self.use_cls else [])
        missing = [name for name in wanted if not (folder / name).is_file()]
        if missing:
            raise OcrUnavailable(
                f"RapidOCR model files missing in {folder}: {', '.join(missing)} (expected {', '.join(wanted)}, "
                f"and {RAPIDOCR_DICT} unless {RAPIDOCR_REC} embeds its characters; see labeling/ocr.py)"
            )
        files: dict[str, Path | None] = {
            "det": folder / RAPIDOCR_DET,
            "rec": folder / RAPIDOCR_REC,
            "cls": folder / RAPIDOCR_CLS if self.use_cls else None,
            "dict": folder / RAPIDOCR_DICT if (folder / RAPIDOCR_DICT).is_file() else None,
        }
        if files["dict"] is None and not _embeds_characters(folder / RAPIDOCR_REC):
            # Without a dictionary rapidocr would download one: refuse instead.
            raise OcrUnavailable(
                f"RapidOCR model files missing in {folder}: {RAPIDOCR_DICT} ({RAPIDOCR_REC} has no embedded "
                f"character list; put the recogniser's dictionary there, e.g. korean_dict.txt renamed)"
            )
        return files

    def _bundled_files(self) -> dict[str, Path | None]:
        spec = importlib.util.find_spec("rapidocr")
        if spec is None or spec.origin is None:
            raise OcrUnavailable("the rapidocr package is not installed: pip install rapidocr onnxruntime")
        folder = Path(spec.origin).parent / "models"
        found = {kind: sorted(folder.glob(f"*{kind}*.onnx")) for kind in ("det", "rec", "cls")}
        wanted = ["det", "rec"] + (["cls"] if self.use_cls else [])
        missing = [kind for kind in wanted if len(found[kind]) != 1]
        if missing:
            raise OcrUnavailable(
                f"the installed rapidocr wheel ships no single {'/'.join(missing)} model in {folder} "
                f"(found {sorted(p.name for p in folder.glob('*.onnx'))}); use a model folder instead"
            )
        if not _embeds_characters(found["rec"][0]):
            raise OcrUnavailable(f"{found['rec'][0]} has no embedded character list; use a model folder instead")
        return {
            "det": found["det"][0],
            "rec": found["rec"][0],
            "cls": found["cls"][0] if self.use_cls else None,
            "dict": None,
        }

    def check(self) -> None:
        """Raise ``OcrUnavailable`` unless the packages and every model file are present; builds the engine once."""
        if self._ocr is not None:
            return
        files = self.model_files()
        if importlib.util.find_spec("rapidocr") is None or importlib.util.find_spec("onnxruntime") is None:
            raise OcrUnavailable("rapidocr or onnxruntime is not installed: pip install rapidocr onnxruntime")
        from importlib.metadata import version

        from rapidocr import RapidOCR

        det, rec = Path(str(files["det"])), Path(str(files["rec"]))
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.text_score": self.text_score,
            "Global.use_cls": files["cls"] is not None,
            # Where rapidocr would fetch missing models to; with every path explicit (and the dictionary present or
            # embedded, as model_files() made sure) it fetches nothing.
            "Global.model_root_dir": str(rec.parent),
            "Det.model_path": str(det),
            "Det.limit_type": "max",
            "Det.limit_side_len": self.det_side_len,
            "Rec.model_path": str(rec),
        }
        if files["cls"] is not None:
            params["Cls.model_path"] = str(files["cls"])
        if files["dict"] is not None:
            params["Rec.rec_keys_path"] = str(files["dict"])
        self._ocr = RapidOCR(params=params)
        self.version = f"rapidocr {version('rapidocr')} {rec.name}"

    def read(self, image: Image.Image, *, kind: Kind = "text", layout: Layout = "block") -> OcrResult:
        """Detect text boxes and recognise each; ``kind`` changes nothing (the models read formulas as text)."""
        self.check()
        rgb = _flatten(image).convert("RGB")
        with self._lock:  # RapidOCR keeps per-call switches on the instance
            output = self._ocr(rgb, use_det=True, use_cls=self.use_cls)
        boxes = getattr(output, "boxes", None)
        texts = getattr(output, "txts", None)
        scores = getattr(output, "scores", None)
        if boxes is None or not texts or scores is None:
            return OcrResult(text="", confidence=0.0, words=[])
        words = []
        for quad, text, score in zip(boxes, texts, scores, strict=True):
            xs, ys = [float(p[0]) for p in quad], [float(p[1]) for p in quad]
            box = [round(min(xs)), round(min(ys)), round(max(xs) - min(xs)), round(max(ys) - min(ys))]
            words.append({"text": text.strip(), "conf": float(score), "box": box})
        if layout == "line":
            text = " ".join(w["text"] for w in sorted(words, key=lambda w: w["box"][0]))
        else:
            text = _join_lines(words)
        return OcrResult(text=text, confidence=sum(w["conf"] for w in words) / len(words), words=words)

    def recognize(self, image: Image.Image) -> tuple[str, float]:
        """Recognition alone (no detection) of a crop holding one word: its text and score ("" and 0 when nothing)."""
        self.check()
        with self._lock:
            output = self._ocr(_flatten(image).convert("RGB"), use_det=False, use_cls=False, use_rec=True)
        texts, scores = getattr(output, "txts", None), getattr(output, "scores", None)
        if not texts or scores is None:
            return "", 0.0
        return str(texts[0]).strip(), float(scores[0])


# What the bundled (Chinese + English) recogniser writes for the math symbols it mistakes for CJK characters.
_CJK_SYMBOLS = str.maketrans({"十": "+", "二": "=", "三": "=", "一": "-", "，": ",", "．": ".", "：": ":", "（": "(",
                              "）": ")", "；": ";", "□": "", "口": ""})  # fmt: skip
_SYLLABLE = re.compile(r"[\uac00-\ud7a3]")
_LEADING_NUMBER = re.compile(r"[(\[]?\d{1,3}[.)\]]?")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


class KoreanMathEngine:
    """Tesseract for Korean text; every run of words it read without a Hangul syllable (``x + y = 48,``, ``∠B``,
    ``f(x)``) is read again, as one crop spanning the gap between the Hangul words around it, by a recogniser that
    knows Latin letters, digits and symbols (RapidOCR's). The span also covers what Tesseract dropped between those
    words. Measured by benchmarks/ocr_lines.py: Korean line CER 0.096 (Tesseract alone) -> 0.020 clean, 0.097 ->
    0.021 noisy. Formulas go to the symbol engine whole.

    Args:
        text: the Tesseract engine (its word boxes place the re-reads).
        symbols: an engine with ``recognize(image) -> (text, score)`` (``RapidOcrEngine``).
        min_score: a re-read below this score keeps Tesseract's words.
    """

    name = "tesseract+rapidocr"

    def __init__(self, text: TesseractEngine, symbols: RapidOcrEngine, *, min_score: float = 0.5) -> None:
        self.text = text
        self.symbols = symbols
        self.min_score = min_score
        self.version = ""

    def check(self) -> None:
        self.text.check()
        self.symbols.check()
        self.version = f"{self.text.version}; words without Hangul and formulas {self.symbols.version}"

    def read(self, image: Image.Image, *, kind: Kind = "text", layout: Layout = "block") -> OcrResult:
        self.check()
        if kind == "formula":
            return self.symbols.read(image, kind=kind, layout=layout)
        result = self.text.read(image, kind=kind, layout=layout)
        words = result.words  # in reading order, as Tesseract wrote them into its text
        if not words:
            return result
        spans = _word_spans(result.text, words)
        pieces, kept, done = [], [], 0  # done: how much of Tesseract's text is already in pieces
        cursor = 0  # next word not yet in kept
        for first, last in _symbol_runs(words):
            box = _run_box(words, first, last, image.size)
            if box is None:
                continue
            new, score = self.symbols.recognize(image.crop(box))
            new = new.translate(_CJK_SYMBOLS).strip()
            if not new or score < self.min_score or _CJK.search(new):  # a CJK character: Hangul Tesseract missed
                continue
            pieces.append(result.text[done : spans[first][0]] + new)
            done = spans[last][1]
            kept += words[cursor:first]
            kept.append({"text": new, "conf": score, "box": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
            cursor = last + 1
        pieces.append(result.text[done:])
        kept += words[cursor:]
        confidence = sum(w["conf"] for w in kept) / len(kept)
        return OcrResult(text="".join(pieces), confidence=confidence, words=kept)


def _word_spans(text: str, words: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Where each word is in the text the words were read into (in order; a word not found takes an empty span)."""
    spans, cursor = [], 0
    for word in words:
        found = text.find(word["text"], cursor)
        start = found if found >= 0 else cursor
        end = start + len(word["text"]) if found >= 0 else cursor
        spans.append((start, end))
        cursor = end
    return spans


def _same_line(a: dict[str, Any], b: dict[str, Any]) -> bool:
    centre_a, centre_b = a["box"][1] + a["box"][3] / 2, b["box"][1] + b["box"][3] / 2
    return abs(centre_a - centre_b) <= max(a["box"][3], b["box"][3]) / 2


def _symbol_runs(words: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """(first, last) indexes of each run of consecutive words on one line with no Hangul syllable (a lone jamo such
    as ``ㅠ`` is Tesseract's misreading of a symbol, not Korean). A problem number (``19``, ``7.``) is a run of its
    own: read together with a formula after it, it would lose the space that marks it as a problem number."""
    runs, i = [], 0
    while i < len(words):
        if _SYLLABLE.search(words[i]["text"]):
            i += 1
            continue
        j = i
        if not _problem_number(words, i):
            while (
                j + 1 < len(words) and not _SYLLABLE.search(words[j + 1]["text"]) and _same_line(words[j], words[j + 1])
            ):
                j += 1
        runs.append((i, j))
        i = j + 1
    return runs


def _problem_number(words: list[dict[str, Any]], i: int) -> bool:
    """Whether word ``i`` looks like a printed problem number: a number opening its line, set apart from what follows
    by a gap of at least a third of its height (Tesseract also splits ``√58`` into ``7`` and ``58``, with no gap)."""
    word = words[i]
    if not _LEADING_NUMBER.fullmatch(word["text"]) or (i > 0 and _same_line(words[i - 1], word)):
        return False
    after = words[i + 1] if i + 1 < len(words) and _same_line(word, words[i + 1]) else None
    return after is None or after["box"][0] - (word["box"][0] + word["box"][2]) >= word["box"][3] / 3


def _run_box(
    words: list[dict[str, Any]], first: int, last: int, size: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """The crop to re-read a run: from the Hangul word before it to the one after it on the same line (a line's
    ends: one line height beyond the run), the height of the run and those neighbours, a little padded; None when
    that leaves no room. The neighbours' edges win over the run's own box: Tesseract's box of a number before a
    particle (``54의``) often reaches over the particle."""
    run = words[first : last + 1]
    x0, x1 = min(w["box"][0] for w in run), max(w["box"][0] + w["box"][2] for w in run)
    y0, y1 = min(w["box"][1] for w in run), max(w["box"][1] + w["box"][3] for w in run)
    before = words[first - 1] if first > 0 and _same_line(words[first - 1], run[0]) else None
    after = words[last + 1] if last + 1 < len(words) and _same_line(run[-1], words[last + 1]) else None
    neighbours = [w for w in (before, after) if w is not None]
    top = min([y0] + [w["box"][1] for w in neighbours])
    bottom = max([y1] + [w["box"][1] + w["box"][3] for w in neighbours])
    left = before["box"][0] + before["box"][2] + 1 if before else x0 - (y1 - y0)
    right = after["box"][0] - 1 if after else x1 + (y1 - y0)
    pad = max(2, (bottom - top) // 8)
    width, height = size
    box = max(0, left), max(0, top - pad), min(width, right), min(height, bottom + pad)
    return box if box[2] - box[0] >= 4 and box[3] - box[1] >= 4 else None


def _join_lines(words: list[dict[str, Any]]) -> str:
    """Boxes grouped into lines (vertical centres within half a box height), each line read left to right."""
    lines: list[list[dict[str, Any]]] = []
    for word in sorted(words, key=lambda w: w["box"][1] + w["box"][3] / 2):
        centre = word["box"][1] + word["box"][3] / 2
        last = lines[-1][-1] if lines else None
        if last and abs(centre - (last["box"][1] + last["box"][3] / 2)) <= max(last["box"][3], word["box"][3]) / 2:
            lines[-1].append(word)
        else:
            lines.append([word])
    return "\n".join(" ".join(w["text"] for w in sorted(line, key=lambda w: w["box"][0])) for line in lines)


def _embeds_characters(rec_model: Path) -> bool:
    """Whether an ONNX recogniser carries its dictionary in its metadata (RapidOCR's converted models do)."""
    try:
        import onnxruntime
    except ImportError:
        return False
    try:
        session = onnxruntime.InferenceSession(str(rec_model), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own error types for unreadable files
        raise OcrUnavailable(f"{rec_model} is not a readable ONNX model: {str(exc).splitlines()[0][:200]}") from exc
    return "character" in session.get_modelmeta().custom_metadata_map


def engine(name: str, settings: Settings) -> OcrEngine:
    """The OCR engine ``name`` ("tesseract" or "rapidocr") configured from ``settings.ocr``; nothing is checked yet.

    Raises:
        ValueError: ``name`` is not a known engine.
    """
    ocr = settings.ocr
    if name == "tesseract":
        return TesseractEngine(
            ocr.tesseract_languages,
            tessdata_dir=ocr.tessdata_dir or None,
            fallback_languages=ocr.tesseract_fallback_languages or None,
        )
    if name == "rapidocr":
        return RapidOcrEngine(ocr.rapidocr_model_dir)
    if name == "tesseract+rapidocr":
        return KoreanMathEngine(engine("tesseract", settings), RapidOcrEngine(ocr.rapidocr_model_dir))  # type: ignore[arg-type]
    raise ValueError(f"unknown OCR engine {name!r}: use tesseract, rapidocr or tesseract+rapidocr")


_DASHES = str.maketrans({"\u2212": "-", "\u2013": "-", "\u2014": "-", "\u2010": "-", "\u2011": "-"})


def normalize_for_cer(text: str, *, spaces: bool = False) -> str:
    """NFKC (so ``x²`` is ``x2`` and full-width forms are plain), dashes as ``-``; whitespace removed, or collapsed
    to single spaces when ``spaces``."""
    text = unicodedata.normalize("NFKC", text).translate(_DASHES)
    return re.sub(r"\s+", " ", text).strip() if spaces else re.sub(r"\s+", "", text)


def cer(reference: str, hypothesis: str, *, spaces: bool = False) -> float:
    """Character error rate: Levenshtein distance over the reference length, after ``normalize_for_cer``.

    Spaces do not count by default: Korean spacing (띄어쓰기) varies between writers and OCR engines and does not
    change what a problem asks, and formulas are spaced freely. An empty reference gives 0.0 for an empty
    hypothesis and 1.0 otherwise. The result can exceed 1 when the hypothesis is much longer than the reference.
    """
    ref, hyp = normalize_for_cer(reference, spaces=spaces), normalize_for_cer(hypothesis, spaces=spaces)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, start=1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1] / len(ref)
