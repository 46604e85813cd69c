"""Benchmark: the labelers measured with `mathlabel bench` on the data the project ships.

Run with the embedded stack up and seeded (`make run`, or `mathlabel services up && mathlabel seed`):
    .venv/bin/python benchmarks/labeling.py > benchmarks/results/labeling.json

Scenarios:
- kr-2022 cold start on the 109-problem Korean sample (labeling/samples/kr2022_sample.jsonl);
- kr-2022 trained on a per-standard split of that sample (for each standard, its first problem by id is held out
  for testing, the rest train), evaluated on the held-out half; and cold start with the other half as verified
  examples;
- us-ccss cold start and trained on MathCAMPS (benchmarks/data, its own 80/20 split);
- us-ccss cold start with verified examples in its documents (`--examples`): 3 problems of each standard from the
  training split (the first by id: what a reviewer might verify in an afternoon), and the whole training split (of
  which the labeler keeps the latest 20 per standard);
- real classroom tasks the project did not write (benchmarks/data/SOURCES.md): MathFish's Fishtank Learning and
  Illustrative Mathematics problems (us-ccss), cold start;
- the Korean curriculum's own texts, which the labeler's authors did not write: 성취수준 descriptors and 해설 /
  적용 시 고려 사항 paragraphs, each tested with its field held out of the standards' documents, with and without
  school/grade; and a labeler trained on the 성취수준 set, tested on the 해설 set.
Every row carries the plain baselines measured on the same problems (``baselines``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "labeling" / "samples" / "kr2022_sample.jsonl"
MATHCAMPS = ROOT / "benchmarks" / "data"


def bench(*args: str) -> dict:
    command = [str(Path(sys.executable).with_name("mathlabel")), "bench", "--json", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def split_sample(folder: Path) -> tuple[Path, Path]:
    by_standard: dict[str, list[dict]] = defaultdict(list)
    for line in SAMPLE.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        by_standard[record["labels"][0]].append(record)
    train, test = [], []
    for records in by_standard.values():
        records.sort(key=lambda r: r["id"])
        test.append(records[0])
        train.extend(records[1:])
    paths = folder / "kr_train.jsonl", folder / "kr_test.jsonl"
    for path, records in zip(paths, (train, test), strict=True):
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return paths


def split(path: Path, name: str, folder: Path) -> Path:
    """The records of one split (``"split": "train"``/``"test"``) of a file: rules were tuned on MathFish's training
    split, so its test split is where they are checked."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if json.loads(line).get("split") == name]
    out = folder / f"{path.stem}_{name}.jsonl"
    out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return out


def first_per_standard(path: Path, n: int, folder: Path) -> Path:
    by_standard: dict[str, list[dict]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        by_standard[record["labels"][0]].append(record)
    kept = [r for records in by_standard.values() for r in sorted(records, key=lambda r: r["id"])[:n]]
    out = folder / f"{path.stem}_{n}_per_standard.jsonl"
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in kept), encoding="utf-8")
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        kr_train, kr_test = split_sample(Path(folder))
        mc_test, mc_train = MATHCAMPS / "mathcamps_test.jsonl", MATHCAMPS / "mathcamps_train.jsonl"
        mc_three = first_per_standard(mc_train, 3, Path(folder))
        data = ROOT / "benchmarks" / "data"
        levels, explanations = data / "kr2022_levels.jsonl", data / "kr2022_explanations.jsonl"
        results = {
            "kr-2022 cold start, 성취수준 (achievement_levels held out)": bench(
                "--curriculum", "kr-2022", "--test", str(levels), "--hold-out", "achievement_levels"
            ),
            "kr-2022 cold start, 성취수준, no school/grade": bench(
                "--curriculum", "kr-2022", "--test", str(levels), "--hold-out", "achievement_levels", "--no-metadata"
            ),
            "kr-2022 cold start, 해설 and 고려 사항 (explanation held out)": bench(
                "--curriculum", "kr-2022", "--test", str(explanations), "--hold-out", "explanation"
            ),
            "kr-2022 cold start, 해설 and 고려 사항, no school/grade": bench(
                "--curriculum", "kr-2022", "--test", str(explanations), "--hold-out", "explanation", "--no-metadata"
            ),
            "kr-2022 trained on 성취수준, tested on 해설 and 고려 사항 (both held out)": bench(
                "--curriculum",
                "kr-2022",
                "--test",
                str(explanations),
                "--train",
                str(levels),
                "--hold-out",
                "explanation",
                "--hold-out",
                "achievement_levels",
            ),
            "kr-2022 cold start, sample, no school/grade/unit": bench(
                "--curriculum", "kr-2022", "--test", str(SAMPLE), "--no-metadata"
            ),
            "us-ccss cold start, MathFish Fishtank (real), all": bench(
                "--curriculum", "us-ccss", "--test", str(data / "mathfish_fishtank.jsonl")
            ),
            "us-ccss cold start, MathFish Fishtank (real), test split": bench(
                "--curriculum", "us-ccss", "--test", str(split(data / "mathfish_fishtank.jsonl", "test", Path(folder)))
            ),
            "us-ccss cold start, MathFish Illustrative Mathematics (real), all": bench(
                "--curriculum", "us-ccss", "--test", str(data / "mathfish_im.jsonl")
            ),
            "us-ccss cold start, MathFish Illustrative Mathematics (real), test split": bench(
                "--curriculum", "us-ccss", "--test", str(split(data / "mathfish_im.jsonl", "test", Path(folder)))
            ),
            "kr-2022 cold start, sample (109)": bench("--curriculum", "kr-2022", "--test", str(SAMPLE)),
            "kr-2022 cold start, held-out half (51)": bench("--curriculum", "kr-2022", "--test", str(kr_test)),
            "kr-2022 trained on the other half (58)": bench(
                "--curriculum", "kr-2022", "--test", str(kr_test), "--train", str(kr_train)
            ),
            "kr-2022 cold start, the other half as verified examples (58)": bench(
                "--curriculum", "kr-2022", "--test", str(kr_test), "--examples", str(kr_train)
            ),
            "kr (kr-2022 + kr-2015) cold start, sample": bench("--curriculum", "kr", "--test", str(SAMPLE)),
            "us-ccss cold start, MathCAMPS test": bench("--curriculum", "us-ccss", "--test", str(mc_test)),
            "us-ccss trained, MathCAMPS": bench(
                "--curriculum", "us-ccss", "--test", str(mc_test), "--train", str(mc_train)
            ),
            "us-ccss cold start, 3 verified examples per standard": bench(
                "--curriculum", "us-ccss", "--test", str(mc_test), "--examples", str(mc_three)
            ),
            "us-ccss cold start, training split as verified examples": bench(
                "--curriculum", "us-ccss", "--test", str(mc_test), "--examples", str(mc_train)
            ),
        }
    print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
