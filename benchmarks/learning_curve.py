"""Learning curve of the trained labeler beside the plain linear baselines, by verified examples per standard.

For each n in ``--sizes`` (default 1, 3, 10, 30, 80) the first n problems by id of each standard of the training
file (standards with fewer keep all; a problem counts under its first label) train the labeler
(``training.text_labeler``) and both ``labeling.baselines.LinearSvc`` (``char`` and ``char+morph+meta``); each is
measured on the whole test file: top-1, top-3 and training seconds, as JSON. The labeler's line also gives its
auto-accepted rate and precision at ``--auto-accept-score`` and the choices it made on held-out problems.

    .venv/bin/python benchmarks/learning_curve.py --curriculum us-ccss \\
        --train benchmarks/data/mathcamps_train.jsonl --test benchmarks/data/mathcamps_test.jsonl

Needs the seeded graph of the embedded stack (``mathlabel up``), as ``mathlabel bench`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labeling.schemas import Problem

ROOT = Path(__file__).resolve().parents[1]
if sys.path and Path(sys.path[0]).resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)  # run as a script: benchmarks/labeling.py would shadow the labeling package


def first_per_standard(problems: Sequence[Problem], n: int) -> list[Problem]:
    """The first ``n`` problems by id of each standard (by a problem's first label): deterministic subsets."""
    by_code: dict[str, list[Problem]] = defaultdict(list)
    for problem in sorted(problems, key=lambda p: p.id):
        if problem.labels:
            by_code[problem.labels[0]].append(problem)
    return [p for code in sorted(by_code) for p in by_code[code][:n]]


def main(argv: Sequence[str] | None = None) -> list[dict]:
    from labeling.baselines import LinearSvc
    from labeling.evaluate import evaluate
    from labeling.index import CurriculumIndex
    from mathlabel.cli.labeling import read_labeled
    from mathlabel.clients import graph_store
    from mathlabel.config import get_settings
    from training.text_labeler import TrainedLabeler, train_text_labeler

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--curriculum", default="", help="curriculum id(s), as mathlabel bench takes them")
    parser.add_argument("--sizes", default="1,3,10,30,80", help="examples per standard, comma-separated")
    parser.add_argument("--auto-accept-score", type=float, default=0.6)
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)

    settings = get_settings()
    index = CurriculumIndex(graph_store(settings), args.curriculum or settings.labeling.curriculum)
    train, _, _ = read_labeled(args.train, index, settings.labeling.max_text_chars)
    test, _, _ = read_labeled(args.test, index, settings.labeling.max_text_chars)
    retriever = index.retriever
    rows = []
    for n in (int(size) for size in args.sizes.split(",")):
        subset = first_per_standard(train, n)
        row: dict = {"per_standard": n, "train_problems": len(subset), "test_problems": len(test)}
        started = time.perf_counter()
        model = train_text_labeler(subset, index.standards, retriever=index.retriever)
        seconds = time.perf_counter() - started
        found = evaluate(TrainedLabeler(model, retriever), test, auto_accept_score=args.auto_accept_score)
        selection = {k: v for k, v in model.meta["selection"].items() if k != "trials"}
        row["labeler"] = {
            "top1": found["top1"], "top3": found["top3"], "train_seconds": round(seconds, 2),
            "auto_accepted_rate": found["auto_accepted_rate"], "auto_accepted_top1": found["auto_accepted_top1"],
            "selection": selection,
        }  # fmt: skip
        for features in ("char", "char+morph+meta"):
            started = time.perf_counter()
            baseline = LinearSvc(subset, index.standards, features=features)
            seconds = time.perf_counter() - started
            found = evaluate(baseline, test, auto_accept_score=2.0)  # raw softmax scores: only top-k counts
            row[f"linear-svc {features}"] = {
                "top1": found["top1"], "top3": found["top3"], "train_seconds": round(seconds, 2)
            }  # fmt: skip
        print(json.dumps(row, ensure_ascii=False), flush=True)
        rows.append(row)
    if args.out:
        args.out.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return rows


if __name__ == "__main__":
    main()
