"""Page → problems → labels on generated worksheet pages the detector never saw; issue 6's page targets.

    .venv/bin/python benchmarks/pages.py --pages 60 > benchmarks/results/pages.json

Needs the stack up and the graph seeded (``make run`` or ``mathlabel services up && mathlabel seed``). For each page
(``training.pages.generate_page``, seeds of their own, about half with scan noise) the configured ``PageReader``
(``mathlabel.clients.page_reader``: layout, reading order, OCR) reads the problems, and:

- **problem-block recall**: a true problem is found when a read problem's box overlaps it with IoU >= 0.5;
- **CER** of each found problem's text against the generated text (spaces ignored; formulas in linear form);
- **seconds per page** on one core (Tesseract runs one thread; RapidOCR is limited to one by OMP/ORT settings
  below), overall and for one-problem pages;
- **labeling from the image vs from the text**: the cold-start labeler (kr-2022) ranks each found problem's OCR text
  and its source text. Top-1 accuracy of each against ``GOLD`` (the kr-2022 standards we assigned to each problem
  family of the generator; families without one clear standard — word problems of four kinds, <보기> statements on
  mixed topics, reading a table — are left out of it), how often the image's top-1 equals the text's, and how often
  the text's top-1 is among the image's top-3. Also the image's top-1 when the run gives the workbook's school
  (the ``school`` Param of ``batch_labeling``; ``school_of`` below), as a content team would for a scanned workbook.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_THREAD_LIMIT", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labeling.ocr import cer
from labeling.schemas import Problem
from training.pages import generate_page, page_seed

# Standards a problem of each generator family (training.pages) asks for; more than one when either fits.
GOLD = {
    "gcd": {"9수01-02"}, "fraction": {"6수01-08"}, "quadratic": {"9수02-20"}, "linear_eq": {"9수02-04"},
    "exponent": {"9수02-08"}, "root": {"9수01-10"}, "parabola": {"9수02-21", "9수02-22"},
    "line": {"9수02-15", "9수02-16"}, "function_table": {"9수02-15", "9수02-16"}, "right_triangle": {"9수03-15"},
    "triangle_angle": {"4수03-25"}, "circle": {"6수03-16"}, "frequency_table": {"9수04-02"},
    "histogram": {"9수04-02"}, "probability": {"9수04-06"}, "inequality": {"9수02-12"},
}  # fmt: skip


def school_of(codes: set[str]) -> str:
    """The school a workbook of these standards is for (kr-2022 codes: 2/4/6수 elementary, 9수 middle school), as a
    content team knows it of a scanned workbook and gives it with the ``school`` Param."""
    first = min(codes)
    return "초등학교" if first[0] in "246" else "중학교" if first[0] == "9" else "고등학교"


def iou(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0, w) * max(0, h)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--curriculum", default="kr-2022")
    args = parser.parse_args()

    from labeling.index import CurriculumIndex
    from mathlabel.clients import graph_store, page_reader
    from mathlabel.config import get_settings

    settings = get_settings()
    reader = page_reader(settings)
    index = CurriculumIndex(graph_store(settings), args.curriculum)
    rows, seconds, one_problem_seconds, pairs = [], [], [], []
    truth_total = found_total = 0
    for i in range(args.pages):
        page = generate_page(page_seed(args.seed, "bench", i))
        started = time.perf_counter()
        reading = reader.read(page.image)
        elapsed = time.perf_counter() - started
        seconds.append(elapsed)
        if len(page.problems) == 1:
            one_problem_seconds.append(elapsed)
        # The generator's boxes are in page pixels; the reader's are in the levelled page (same size, turned by a
        # degree at most): compare directly.
        for truth in page.problems:
            truth_total += 1
            best = max(reading.problems, key=lambda p: iou(p.box, truth["box"]), default=None)
            if best is None or iou(best.box, truth["box"]) < 0.5:
                rows.append({"page": i, "number": truth["number"], "found": False, "noisy": page.noisy})
                continue
            found_total += 1
            rows.append({
                "page": i, "number": truth["number"], "found": True, "noisy": page.noisy,
                "cer": round(cer(truth["text"], best.text), 4), "confidence": round(best.confidence, 3),
            })  # fmt: skip
            pairs.append((truth["text"], best.text, truth["family"]))
    texts = [Problem(id=f"t{i}", text=t) for i, (t, _, _) in enumerate(pairs)]
    images = [Problem(id=f"i{i}", text=o or "-") for i, (_, o, _) in enumerate(pairs)]
    started = time.perf_counter()
    ranked_text = index.retriever.rank(texts, 3)
    ranked_image = index.retriever.rank(images, 3)
    label_seconds = time.perf_counter() - started
    top1 = sum(bool(t) and bool(m) and t[0].code == m[0].code for t, m in zip(ranked_text, ranked_image, strict=True))
    top3 = sum(bool(t) and t[0].code in {c.code for c in m} for t, m in zip(ranked_text, ranked_image, strict=True))
    found = [r for r in rows if r["found"]]
    gold = [(GOLD[f], t, m) for (_, _, f), t, m in zip(pairs, ranked_text, ranked_image, strict=True) if f in GOLD]
    text_hits = sum(bool(t) and t[0].code in codes for codes, t, _ in gold)
    image_hits = sum(bool(m) and m[0].code in codes for codes, _, m in gold)
    schooled = [Problem(id=f"s{i}", text=o or "-", school=school_of(GOLD[f])) for i, (_, o, f) in enumerate(pairs)
                if f in GOLD]  # fmt: skip
    ranked_schooled = index.retriever.rank(schooled, 3)
    school_hits = sum(bool(m) and m[0].code in codes for (codes, _, _), m in zip(gold, ranked_schooled, strict=True))

    def cer_of(selected):
        return round(statistics.mean(r["cer"] for r in selected), 4) if selected else None

    report = {
        "pages": args.pages,
        "noisy_pages": sum(1 for i in range(args.pages) if generate_page(page_seed(args.seed, "bench", i)).noisy),
        "layout": reader.layout_version,
        "ocr": reader.ocr_version,
        "problems": truth_total,
        "problem_recall_iou50": round(found_total / truth_total, 4) if truth_total else None,
        "cer_mean": cer_of(found),
        "cer_median": round(statistics.median(r["cer"] for r in found), 4) if found else None,
        "cer_clean": cer_of([r for r in found if not r["noisy"]]),
        "cer_noisy": cer_of([r for r in found if r["noisy"]]),
        "seconds_per_page": round(statistics.mean(seconds), 3),
        "seconds_per_one_problem_page": round(statistics.mean(one_problem_seconds), 3) if one_problem_seconds else None,
        "one_problem_pages": len(one_problem_seconds),
        "gold_problems": len(gold),
        "top1_from_text": round(text_hits / len(gold), 4) if gold else None,
        "top1_from_image": round(image_hits / len(gold), 4) if gold else None,
        "top1_from_image_with_school": round(school_hits / len(gold), 4) if gold else None,
        "label_top1_image_equals_text": round(top1 / len(pairs), 4) if pairs else None,
        "label_text_top1_in_image_top3": round(top3 / len(pairs), 4) if pairs else None,
        "label_seconds": round(label_seconds, 3),
        "rows": rows,
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
