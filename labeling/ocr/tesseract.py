"""The Tesseract engine: the ``tesseract`` program run per image, its TSV read back into words."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labeling.ocr.base import Kind, Layout, OcrError, OcrResult, OcrUnavailable, _flatten

if TYPE_CHECKING:
    from PIL import Image


# Characters of linear formulas; with the whitelist Tesseract cannot answer with Hangul or stray symbols.
FORMULA_WHITELIST = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+-=*/^()[]{}<>.,:;|!'√×÷±≤≥°π·"


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
