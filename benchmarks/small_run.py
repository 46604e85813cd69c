"""Benchmark: small runs, where start-up dominates: `mathlabel --help`, `mathlabel label` on 5 problems (labeling
them, and again with nothing left to label), and a `mathlabel run` re-run with nothing left to label (what `make run`
does the second time).

Run with the embedded stack up and seeded (`mathlabel services up && mathlabel seed`; set MATHLABEL_VAR_DIR and the
MATHLABEL_GRAPH__PORT / MATHLABEL_MLFLOW__PORT to measure on a stack of its own):
    .venv/bin/python benchmarks/small_run.py [--runs 5] [--rerun] [--baseline OTHER_CHECKOUT]
        > benchmarks/results/small_run.json

Each command is a new process timed from outside (wall clock, interpreter start-up included), ``--runs`` times after
one warm-up run; the median is the figure, min and max show the spread. ``mathlabel label --force`` labels the 5
problems every time (the work of 5 new ones); plain ``mathlabel label`` then finds them labeled and skips them.
With ``--baseline`` (another checkout of the project, e.g. ``git worktree add /tmp/old <commit>``), the baseline's
code runs with this environment's Python (``PYTHONPATH=OTHER_CHECKOUT``), alternating with this tree's (A B A B
...), and the ratio this/baseline of each pair is reported too: on a shared, busy machine that ratio is the figure
to compare.

Whether Python finds compiled bytecode changes these figures a great deal: ``uv pip install`` compiles none, and
with PYTHONDONTWRITEBYTECODE=1 none is ever written, so every process compiles each module it imports. The output
records which case was measured; set PYTHONPYCACHEPREFIX to a folder to measure the other.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "labeling" / "samples" / "kr2022_sample.jsonl"


def timed(tree: Path, args: list[str]) -> float:
    """Seconds one ``python -m mathlabel.cli ARGS`` process of ``tree``'s code takes, start to exit."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mathlabel.cli", *args], env=env, cwd=tree, capture_output=True,
                          text=True, check=False)  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{tree}: mathlabel {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def measure(args: list[str], runs: int, baseline: Path | None) -> dict:
    """This tree's times (and the baseline's, in alternation, with the ratio of each pair)."""
    trees = [ROOT] if baseline is None else [ROOT, baseline]
    for tree in trees:  # warm-up: file caches, and bytecode where it can be written
        timed(tree, args)
    this, other = [], []
    for _ in range(runs):
        this.append(timed(ROOT, args))
        if baseline is not None:
            other.append(timed(baseline, args))
    shown = [Path(a).name if a.endswith(".jsonl") else a for a in args]
    out = {"command": "mathlabel " + " ".join(shown), "runs": runs, "seconds": spread(this)}
    if baseline is not None:
        out["baseline_seconds"] = spread(other)
        out["ratio"] = spread([a / b for a, b in zip(this, other, strict=True)])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rerun", action="store_true", help="also time `mathlabel run` with nothing to label")
    parser.add_argument("--baseline", type=Path, help="another checkout to compare with (run alternately)")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        five = Path(folder) / "five.jsonl"
        five.write_text("".join(SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)[:5]), encoding="utf-8")
        # label --force: the 5 problems labeled each time; label: found labeled already, each one skipped
        commands = [["--help"], ["label", "--force", str(five)], ["label", str(five)]]
        if options.rerun:  # the first run labels the sample; the timed ones find everything labeled
            commands.append(["run"])
        load = os.getloadavg()
        results = [measure(args, options.runs, options.baseline) for args in commands]
    print(json.dumps({
        "cores": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "bytecode": {
            "written": not sys.flags.dont_write_bytecode,
            "cache_prefix": sys.pycache_prefix,
        },
        "baseline": str(options.baseline) if options.baseline else None,
        "results": results,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
