"""The cost of metrics on labeling 20,000 problems (issue 18's target: under 2% of the 20k-problem DAG).

    .venv/bin/python benchmarks/metrics_overhead.py  # writes benchmarks/results/metrics_overhead.json

Needs the graph seeded (the standards come from it). The DAG's work, in-process: ``run_batch`` prepares, labels and
files a fresh 20,000-problem file (``benchmarks/dag_20k.py``'s problems, new ids each run) into a scratch object
store and label store, alternately without a metrics listener and with ``plugins.mathlabel_metrics`` registered and
Airflow's metrics client backed by OpenTelemetry with an in-process reader (every event turned into metrics and
aggregated, as a task runner does before exporting). Runs alternate so that a machine's drift hits both sides alike.
In-process the run has none of the DAG's Airflow overhead (task processes, scheduling): the same absolute cost is a
smaller share of the DAG's wall time, which the output also gives against the DAG's measured time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DAG_20K_SECONDS = 92.2  # benchmarks/RESULTS.md, "Drop folder to label store": 20,000 new problems through the DAG


def one_run(problems: list[dict], with_metrics: bool) -> float:
    from labeling import events
    from labeling.batch import run_batch
    from labeling.index import CurriculumIndex
    from labeling.intake import claim_files
    from mathlabel.clients import graph_store
    from mathlabel.config import get_settings
    from mathlabel.runs import batch_config
    from plugins.mathlabel_metrics import LISTENER
    from stores.labels import EmbeddedLabelStore
    from stores.objects import LocalObjectStore

    settings = get_settings()
    with tempfile.TemporaryDirectory() as folder:
        objects = LocalObjectStore(Path(folder) / "objects")
        labels = EmbeddedLabelStore(str(Path(folder) / "labels.db"))
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in problems)
        objects.write_bytes("incoming/bench.jsonl", body.encode())
        cfg = batch_config(settings, f"bench-{uuid.uuid4().hex[:8]}")
        index = CurriculumIndex(graph_store(settings), cfg.curriculum)
        index.retriever.rank([], 1)
        keys = claim_files(objects, cfg.run_id)
        if with_metrics:
            events.add_listener(LISTENER)
        try:
            started = time.perf_counter()
            run_batch(keys, objects=objects, labels=labels, index=index, cfg=cfg)
            return time.perf_counter() - started
        finally:
            events.remove_listener(LISTENER)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=20_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "metrics_overhead.json")
    args = parser.parse_args()

    from airflow.sdk._shared.observability.metrics import stats as client
    from airflow.sdk._shared.observability.metrics.otel_logger import SafeOtelLogger
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from benchmarks.dag_20k import problems

    reader = InMemoryMetricReader()
    client.initialize(factory=lambda: SafeOtelLogger(MeterProvider(metric_readers=[reader])), export_legacy_names=False)
    one_run(problems(500, "warm"), True)  # imports, models and the index's first build: outside the timings
    without, with_ = [], []
    for pair in range(args.pairs):
        for flag, out in ((False, without), (True, with_)) if pair % 2 == 0 else ((True, with_), (False, without)):
            out.append(one_run(problems(args.problems, uuid.uuid4().hex[:8]), flag))
    data = reader.get_metrics_data()
    names = sorted({m.name for r in data.resource_metrics for s in r.scope_metrics for m in s.metrics}) if data else []
    a, b = statistics.median(without), statistics.median(with_)
    result = json.dumps({
        "problems": args.problems, "pairs": args.pairs,
        "seconds_without_metrics": [round(x, 2) for x in without], "seconds_with_metrics": [round(x, 2) for x in with_],
        "median_without": round(a, 2), "median_with": round(b, 2),
        "overhead_in_process": round((b - a) / a, 4),
        "overhead_of_the_dag_20k": round((b - a) / DAG_20K_SECONDS, 4),
        "metric_names_recorded": names,
    }, indent=2)  # fmt: skip
    args.out.write_text(result + "\n")  # a file: Airflow's logging writes to stdout
    print(result, file=sys.stderr)


if __name__ == "__main__":
    main()
