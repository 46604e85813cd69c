"""Benchmark: how long each DAG file takes to parse, as the dag-processor parses it (budget: under 1 s each).

Every run is a fresh interpreter that imports ``airflow.sdk`` (Airflow's own cost, timed as the baseline) and then
runs the DAG file (its cost). Runs of all files and of a minimal one-task DAG alternate, so a busy machine slows
them alike; the ratio to the ``airflow.sdk`` import of the same interpreter stays readable when seconds do not.

    .venv/bin/python benchmarks/dag_parse.py [--repeat 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from mathlabel.config import PROJECT_ROOT, Settings
from mathlabel.services import airflow_env

BUDGET_S = 1.0
MINIMAL_DAG = """
from airflow.sdk import dag, task

@dag(schedule=None)
def minimal():
    @task
    def one():
        return 1

    one()

minimal()
"""
PROBE = """
import json, runpy, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
runpy.run_path(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"sdk_s": t1 - t0, "parse_s": t2 - t1}))
"""


def _run(path: Path, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(path)], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dag-parse-") as scratch:
        env = {**os.environ, **airflow_env(Settings(var_dir=Path(scratch) / "var"))}
        minimal = Path(scratch) / "minimal_dag.py"
        minimal.write_text(MINIMAL_DAG)
        files = {"(minimal DAG)": minimal, **{p.name: p for p in sorted((PROJECT_ROOT / "dags").glob("*.py"))}}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in files}
        for _ in range(args.repeat):
            for name, path in files.items():
                runs[name].append(_run(path, env))

    rows = {}
    for name, samples in runs.items():
        parse = statistics.median(s["parse_s"] for s in samples)
        rows[name] = {
            "median_parse_s": round(parse, 3),
            "median_sdk_import_s": round(statistics.median(s["sdk_s"] for s in samples), 3),
            "median_ratio_to_sdk_import": round(statistics.median(s["parse_s"] / s["sdk_s"] for s in samples), 3),
            "within_budget": parse < BUDGET_S,
        }
    if args.json:
        print(json.dumps({"repeat": args.repeat, "budget_s": BUDGET_S, "files": rows}, indent=2))
        return
    print(f"median of {args.repeat} fresh interpreters per file; budget {BUDGET_S:.1f} s per file")
    print(f"{'file':<26} {'parse s':>8} {'sdk import s':>13} {'parse/sdk':>10}  budget")
    for name, row in rows.items():
        verdict = "ok" if row["within_budget"] else "OVER"
        print(
            f"{name:<26} {row['median_parse_s']:>8.3f} {row['median_sdk_import_s']:>13.3f} "
            f"{row['median_ratio_to_sdk_import']:>10.3f}  {verdict}"
        )


if __name__ == "__main__":
    main()
