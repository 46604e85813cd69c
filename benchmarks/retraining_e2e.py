"""Issue 5's end-to-end check: cold-start labeling, then verified labels → nightly_retraining → champion, then
labeling again with the champion. Prints both runs' top-1 agreement and the training time as JSON.

Run with the embedded stack up and seeded, and no text-labeler champion for the curriculum yet
(``--reset-champion`` removes that curriculum's champion alias and the challenger alias first; versions stay):
    .venv/bin/python benchmarks/retraining_e2e.py [--curriculum us-ccss]
        [--train benchmarks/data/mathcamps_train.jsonl] [--test benchmarks/data/mathcamps_test.jsonl]
Each DAG runs through `airflow dags test`, as `mathlabel run` does; logs go to var/logs/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--curriculum", default="us-ccss")
    parser.add_argument("--train", type=Path, default=ROOT / "benchmarks/data/mathcamps_train.jsonl")
    parser.add_argument("--test", type=Path, default=ROOT / "benchmarks/data/mathcamps_test.jsonl")
    parser.add_argument("--reset-champion", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from labeling.batch import report_key, safe_run_id
    from labeling.index import expand_curricula
    from mathlabel.clients import model_registry, object_store
    from mathlabel.config import get_settings
    from mathlabel.services import airflow_env, dag_runs
    from training.promotion import champion_alias
    from training.registry import MODEL_NAME, champion_ref

    settings = get_settings()
    objects = object_store(settings)
    models = model_registry(settings)
    curricula = expand_curricula(args.curriculum)
    if champion_ref(models, curricula):
        if not args.reset_champion:
            sys.exit(f"a text-labeler champion of {args.curriculum} exists: pass --reset-champion to measure from a "
                     "cold start")  # fmt: skip
        for alias in (champion_alias(curricula), "challenger"):
            if models.by_alias(MODEL_NAME, alias):
                models.delete_alias(MODEL_NAME, alias)
    env = {**os.environ, **airflow_env(settings)}

    def dag_test(dag_id: str, conf: dict) -> tuple[str, str, float]:
        before = set(dag_runs(dag_id, env))
        log = ROOT / "var" / "logs" / f"{dag_id}-{int(time.time())}.log"
        started = time.perf_counter()
        with log.open("w") as handle:
            subprocess.run([sys.executable, "-m", "airflow", "dags", "test", dag_id, "-c", json.dumps(conf)],
                           env=env, stdout=handle, stderr=subprocess.STDOUT, check=False)  # fmt: skip
        seconds = time.perf_counter() - started
        (run_id,) = set(dag_runs(dag_id, env)) - before
        state = dag_runs(dag_id, env)[run_id]
        if state != "success":
            sys.exit(f"{dag_id} run {run_id} ended {state}; see {log}")
        return run_id, str(log), seconds

    def label_test_split(tag: str) -> dict:
        name = f"e2e-{tag}-{args.test.name}"
        objects.write_bytes(f"incoming/{name}", args.test.read_bytes())
        run_id, log, seconds = dag_test("batch_labeling", {"selector": name, "curriculum": args.curriculum,
                                                           "force": False, "settle_seconds": 0})  # fmt: skip
        report = json.loads(objects.read_bytes(report_key(run_id)))
        keys = ("read", "labeled", "skipped", "top1_agreement", "needs_review_rate", "model_versions")
        return {"run_id": run_id, "wall_seconds": round(seconds, 1), **{k: report[k] for k in keys}, "log": log}

    cold = label_test_split("cold")
    objects.write_bytes(f"incoming/verified/{args.train.name}", args.train.read_bytes())
    run_id, log, seconds = dag_test("nightly_retraining", {"curriculum": args.curriculum, "settle_seconds": 0})
    promotion = json.loads(objects.read_bytes(f"reports/retraining/{safe_run_id(run_id)}.promotion.json"))
    scores, trained = promotion["challenger"], promotion["training"]
    champion = champion_ref(models, curricula)
    after = label_test_split("champion")
    print(json.dumps({
        "curriculum": args.curriculum,
        "cold_start": cold,
        "retraining": {"run_id": run_id, "wall_seconds": round(seconds, 1), "log": log,
                       "decision": promotion["decision"], "holdout_top1": scores["top1"],
                       "holdout_n": scores["n"], "champion_version": champion.version if champion else None,
                       "train_seconds": trained["train_seconds"], "examples": trained["examples"]},
        "with_champion": after,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
