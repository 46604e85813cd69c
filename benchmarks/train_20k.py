"""Training time of the text labeler at 20,000 problems (issue 17: under 2 minutes on 2 cores), beside the plain
TF-IDF + linear SVM baseline on the same problems.

    .venv/bin/python benchmarks/train_20k.py > benchmarks/results/train_20k.json

Needs the stack up and the graph seeded (standards come from the graph, as in training runs). The project holds no
20,000 real labeled problems, so they are made, with a fixed seed, from real text: each Korean problem joins two
curriculum texts of one kr-2022 standard (its 성취수준 and 해설 / 고려 사항 paragraphs,
benchmarks/data/kr2022_*.jsonl), drops 15% of the words, swaps two and may add a number; each English problem is a
MathCAMPS training problem perturbed the same way. Accuracy on them means nothing (the same texts recur): this
measures time, at the size and vocabulary of a real training set.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DATA = ROOT / "benchmarks" / "data"


def perturb(words: list[str], rng: random.Random) -> str:
    kept = [w for w in words if rng.random() > 0.15] or words
    if len(kept) > 3 and rng.random() < 0.5:
        i = rng.randrange(len(kept) - 1)
        kept[i], kept[i + 1] = kept[i + 1], kept[i]
    return " ".join(kept) + (f" {rng.randint(2, 999)}" if rng.random() < 0.5 else "")


def korean(n: int, rng: random.Random) -> list[dict]:
    rows = [json.loads(line) for name in ("kr2022_levels", "kr2022_explanations")
            for line in (DATA / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]  # fmt: skip
    by_code: dict[str, list[dict]] = {}
    for row in rows:
        by_code.setdefault(row["labels"][0], []).append(row)
    codes = sorted(by_code)
    out = []
    for i in range(n):
        code = codes[i % len(codes)]
        a, b = rng.choice(by_code[code]), rng.choice(by_code[code])
        text = perturb(f"{a['text']} {b['text']}".split(), rng)
        out.append({"id": f"kr-{i}", "text": text, "labels": [code], "school": a["school"], "grade": a["grade"]})
    return out


def english(n: int, rng: random.Random) -> list[dict]:
    rows = [json.loads(line) for line in (DATA / "mathcamps_train.jsonl").read_text(encoding="utf-8").splitlines()]
    return [
        rows[i % len(rows)] | {"id": f"en-{i}", "text": perturb(rows[i % len(rows)]["text"].split(), rng)}
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from labeling.baselines import LinearSvc
    from labeling.index import CurriculumIndex
    from labeling.schemas import Problem
    from mathlabel.clients import graph_store
    from mathlabel.config import get_settings
    from training.text_labeler import train_text_labeler

    graph = graph_store(get_settings())
    results = {}
    for curriculum, make in (("kr-2022", korean), ("us-ccss", english)):
        problems = [Problem.model_validate(r) for r in make(args.problems, random.Random(args.seed))]
        index = CurriculumIndex(graph, curriculum)
        index.retriever.rank(problems[:1], 1)  # the retriever's index is built once per task, before training
        started = time.perf_counter()
        model = train_text_labeler(problems, index.standards, retriever=index.retriever)
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        LinearSvc(problems, index.standards, features="char+morph+meta")
        baseline = time.perf_counter() - started
        results[curriculum] = {
            "problems": len(problems),
            "standards": len({p.labels[0] for p in problems}),
            "train_seconds": round(seconds, 1),
            "baseline_linear_svc_char_morph_meta_seconds": round(baseline, 1),
            "selection": model.meta.get("selection"),
        }
    print(json.dumps(results, ensure_ascii=False, indent=2, default=str))


if __name__ == "__main__":
    main()
