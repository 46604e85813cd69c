"""Labels read from pages against labels of the same problems' text: issue 17's OCR robustness rows.

    .venv/bin/python benchmarks/pages_labeling.py --pages 120 --train-pages 400 > benchmarks/results/pages_labeling.json

Needs the stack up and the graph seeded. The synthetic page generator (``training.pages``) gives each problem's true
text beside its page image. Test pages (their own seeds, about half with scan noise) are read by the configured
``PageReader`` (layout + OCR); each problem found (IoU >= 0.5 with a true problem) of a family with a standard in
``benchmarks/pages.py``'s ``GOLD`` becomes two records with the same labels and school: its true text
(``pages_text.jsonl``) and its OCR text (``pages_ocr.jsonl``). Training pages (other seeds, never read by OCR) give
the true text of their problems (``pages_train.jsonl``). Each scenario is one ``mathlabel bench --json`` run, so
every row carries the plain baselines; the trained rows train on the true text only, as nightly training does on
verified labels.

The generator's texts are templates the project wrote, which a trained labeler learns by heart. So the same is done
with real text the project did not write: the Korean curriculum's 해설 / 적용 시 고려 사항 paragraphs
(benchmarks/data/kr2022_explanations.jsonl) are typeset as scanned paragraphs (NanumGothic or NanumMyeongjo, 24-32 px,
lines of about 28 characters, half of them with scan noise: rotation within 1 degree, blur, JPEG quality 40) and read
line by line by the default OCR engine (Tesseract ``kor`` with RapidOCR re-reading runs without Hangul). The cold
start and a labeler trained on the 성취수준 texts (both fields held out of the index) label the paragraphs' text and
their OCR text.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pages import GOLD, iou, school_of  # noqa: E402
from training.pages import generate_page, page_seed  # noqa: E402


def record(rid: str, text: str, family: str) -> dict:
    codes = GOLD[family]
    return {"id": rid, "text": text or "-", "labels": sorted(codes), "school": school_of(codes)}


def write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def typeset_and_read(records: list[dict], seed: int) -> list[dict]:
    """Each record's text typeset as a paragraph, line by line, half of them with scan noise, read back by OCR."""
    import random
    import textwrap

    from benchmarks.ocr_lines import FONTS, render_line, scan_noise
    from labeling.ocr import KoreanMathEngine, RapidOcrEngine, TesseractEngine

    engine = KoreanMathEngine(TesseractEngine(), RapidOcrEngine("bundled"))
    rng, fonts, out = random.Random(seed), list(FONTS.values()), []
    for i, rec in enumerate(records):
        font, size, noisy = fonts[i % 2], rng.randint(24, 32), i % 2 == 1
        lines = []
        for line in textwrap.wrap(rec["text"], 28):
            image = render_line(line, font, size)
            lines.append(engine.read(scan_noise(image, rng) if noisy else image, kind="text", layout="line").text)
        out.append(rec | {"text": " ".join(t for t in lines if t) or "-"})
    return out


def mean_cer(truth: list[dict], read: list[dict]) -> float:
    from labeling.ocr import cer

    return round(sum(cer(t["text"], r["text"]) for t, r in zip(truth, read, strict=True)) / max(len(truth), 1), 4)


def bench(*args: str) -> dict:
    command = [str(Path(sys.executable).with_name("mathlabel")), "bench", "--json", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=120)
    parser.add_argument("--train-pages", type=int, default=400)
    parser.add_argument("--seed", type=int, default=20261202)
    parser.add_argument("--curriculum", default="kr-2022")
    args = parser.parse_args()

    from mathlabel.clients import page_reader
    from mathlabel.config import get_settings

    reader = page_reader(get_settings())
    texts, ocr = [], []
    for i in range(args.pages):
        page = generate_page(page_seed(args.seed, "labels-test", i))
        reading = reader.read(page.image)
        for truth in page.problems:
            if truth["family"] not in GOLD:
                continue
            best = max(reading.problems, key=lambda p: iou(p.box, truth["box"]), default=None)
            if best is None or iou(best.box, truth["box"]) < 0.5:
                continue
            rid = f"p{i}-{truth['number']}"
            texts.append(record(rid, truth["text"], truth["family"]))
            ocr.append(record(rid, best.text, truth["family"]))
    train = [
        record(f"t{i}-{truth['number']}", truth["text"], truth["family"])
        for i in range(args.train_pages)
        for truth in generate_page(page_seed(args.seed, "labels-train", i)).problems
        if truth["family"] in GOLD
    ]
    cur = ("--curriculum", args.curriculum)
    with tempfile.TemporaryDirectory() as folder:
        text_file = write(Path(folder) / "pages_text.jsonl", texts)
        ocr_file = write(Path(folder) / "pages_ocr.jsonl", ocr)
        train_file = write(Path(folder) / "pages_train.jsonl", train)
        data = ROOT / "benchmarks" / "data"
        real = [
            json.loads(line) for line in (data / "kr2022_explanations.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        read = typeset_and_read(real, args.seed)
        real_ocr = write(Path(folder) / "explanations_ocr.jsonl", read)
        real_text, levels = data / "kr2022_explanations.jsonl", data / "kr2022_levels.jsonl"
        held = ("--hold-out", "explanation", "--hold-out", "achievement_levels")
        results = {
            "real text: 해설 and 고려 사항 paragraphs": len(real),
            "real text: OCR character error rate (mean, spaces ignored)": mean_cer(real, read),
            "real text, cold start, true text": bench(*cur, "--test", str(real_text), *held),
            "real text, cold start, read from scans": bench(*cur, "--test", str(real_ocr), *held),
            "real text, trained on 성취수준, true text": bench(
                *cur, "--test", str(real_text), "--train", str(levels), *held
            ),
            "real text, trained on 성취수준, read from scans": bench(
                *cur, "--test", str(real_ocr), "--train", str(levels), *held
            ),
            "test problems (found on pages, with a gold standard)": len(texts),
            "pages: OCR character error rate (mean, spaces ignored)": mean_cer(texts, ocr),
            "training problems (true text of other pages)": len(train),
            "cold start, true text": bench(*cur, "--test", str(text_file)),
            "cold start, read from the pages": bench(*cur, "--test", str(ocr_file)),
            "trained, true text": bench(*cur, "--test", str(text_file), "--train", str(train_file)),
            "trained, read from the pages": bench(*cur, "--test", str(ocr_file), "--train", str(train_file)),
        }
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
