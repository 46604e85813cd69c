"""The RapidOCR engine: PaddleOCR models on ONNX Runtime, read from files on disk only."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labeling.ocr.base import Kind, Layout, OcrResult, OcrUnavailable, _flatten

if TYPE_CHECKING:
    from PIL import Image


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
                f"and {RAPIDOCR_DICT} unless {RAPIDOCR_REC} embeds its characters; see labeling/ocr/rapid.py)"
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
