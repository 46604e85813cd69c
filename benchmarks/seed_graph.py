"""Benchmark: seed every shipped curriculum into the embedded FalkorDB (target: all three in under 30 s).

Run with the embedded stack up (`mathlabel services up`):  .venv/bin/python benchmarks/seed_graph.py [--repeat 3]
Seeds into a scratch graph on the same server (the working graph is untouched) and prints JSON with, per repeat,
the time to load+validate, the time of a full write (force), and the time of a re-seed of unchanged data.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import uuid

from falkordb import FalkorDB

from graph_seed.loaders import LOADERS, load_curriculum
from graph_seed.seed import seed_curriculum
from mathlabel.config import get_settings
from stores.graph import FalkorGraphStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    settings = get_settings()
    client = FalkorDB(host=settings.graph.host, port=settings.graph.port)
    runs = []
    for _ in range(args.repeat):
        graph = client.select_graph(f"bench_{uuid.uuid4().hex[:8]}")
        store = FalkorGraphStore(graph)
        try:
            started = time.perf_counter()
            curricula = [load_curriculum(cid) for cid in LOADERS]
            loaded = time.perf_counter()
            first = [seed_curriculum(store, c) for c in curricula]
            written = time.perf_counter()
            again = [seed_curriculum(store, c) for c in curricula]
            done = time.perf_counter()
            assert all(r.changed for r in first) and not any(r.changed for r in again)
            runs.append(
                {
                    "load_validate_s": round(loaded - started, 3),
                    "first_seed_s": round(written - loaded, 3),
                    "reseed_unchanged_s": round(done - written, 3),
                    "total_s": round(done - started, 3),
                    "standards": {r.curriculum: r.standards for r in first},
                }
            )
        finally:
            graph.delete()
    summary = {
        key: statistics.median(r[key] for r in runs)
        for key in ("load_validate_s", "first_seed_s", "reseed_unchanged_s", "total_s")
    }
    print(json.dumps({"machine": platform.machine(), "median": summary, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
