"""Benchmark: a 20,000-problem file through the batch_labeling DAG, end to end (target: under 3 minutes).

Run with the embedded stack up and seeded:  .venv/bin/python benchmarks/dag_20k.py [--problems 20000]
Builds a file of distinct problems by varying the numbers of the Korean sample (ids unique, texts distinct, so
nothing is skipped as already labeled), drops it into incoming/ and runs `airflow dags test batch_labeling`
exactly as `mathlabel run` does; prints the wall time and the run report's counts as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "labeling" / "samples" / "kr2022_sample.jsonl"


def problems(n: int, tag: str) -> list[dict]:
    base = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]
    out = []
    for i in range(n):
        record = dict(base[i % len(base)])
        shift = i // len(base) + 1
        record["text"] = re.sub(r"\d+", lambda m, s=shift: str(int(m.group()) + s), record["text"])
        record["id"] = f"bench-{tag}-{i:06d}"  # new ids each run: nothing is skipped
        out.append(record)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--problems", type=int, default=20_000)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from labeling.batch import report_key
    from mathlabel.clients import object_store
    from mathlabel.config import get_settings
    from mathlabel.services import airflow_env, dag_runs

    settings = get_settings()
    objects = object_store(settings)
    tag = uuid.uuid4().hex[:8]
    name = f"bench-{tag}.jsonl"
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in problems(args.problems, tag))
    objects.write_bytes(f"incoming/{name}", body.encode())
    env = {**os.environ, **airflow_env(settings)}
    airflow = [sys.executable, "-m", "airflow"]

    before = set(dag_runs("batch_labeling", env))
    started = time.perf_counter()
    log = ROOT / "var" / "logs" / f"{name}.log"
    with log.open("w") as handle:
        subprocess.run([*airflow, "dags", "test", "batch_labeling", "-c",
                        json.dumps({"selector": name, "settle_seconds": 0})],
                       env=env, stdout=handle, stderr=subprocess.STDOUT, check=True)  # fmt: skip
    seconds = time.perf_counter() - started
    (run_id,) = set(dag_runs("batch_labeling", env)) - before
    report = json.loads(objects.read_bytes(report_key(run_id)))
    keys = ("read", "labeled", "skipped", "quarantined", "needs_review_rate", "top1_agreement", "stage_seconds")
    print(json.dumps({"problems": args.problems, "wall_seconds": round(seconds, 1), "run_id": run_id,
                      **{k: report[k] for k in keys}, "log": str(log)}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
