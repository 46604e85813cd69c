"""Benchmark: processes and memory of the embedded stack's servers (FalkorDB, MLflow).

Starts them on a scratch var dir and free ports, waits ``--settle`` seconds for late children (MLflow's job runner
starts after the server), then prints, per service, every process of its process group with RSS and PSS in MB, and
stops them. PSS shares each page among the processes that map it, so PSS sums to what the stack really costs.

    .venv/bin/python benchmarks/stack_memory.py [--settle 20] [--json]
    .venv/bin/python benchmarks/stack_memory.py --running   # the stack of the configured var dir, left running
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from mathlabel.config import Settings, get_settings
from mathlabel.services import Stack, free_port, process_group

SERVERS = ["falkordb", "mlflow"]


def _memory_mb(pid: int) -> dict[str, float]:
    """RSS and PSS of one process in MB, from /proc/<pid>/smaps_rollup (kB there)."""
    values = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in {"Rss", "Pss"}:
                values[key.lower()] = round(int(rest.split()[0]) / 1024, 1)
    except OSError:
        pass  # exited, or not ours to read
    return {"rss": values.get("rss", 0.0), "pss": values.get("pss", 0.0)}


def _name(pid: int) -> str:
    """A short name for a process: the interesting part of its command line."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    words = [w.decode(errors="replace") for w in argv if w]
    for marker in ("huey_consumer", "_job_runner", "_periodic_tasks", "uvicorn", "gunicorn", "mlflow", "redis-server"):
        if any(marker in w for w in words):
            return marker.strip("_")
    return Path(words[0]).name if words else "?"


def measure(stack: Stack) -> dict[str, dict]:
    """Per server: its processes (pid, name, RSS, PSS) and their sums."""
    report = {}
    for name in SERVERS:
        leader = stack.processes[name].status().pid
        pids = process_group(leader) if leader else []
        procs = [{"pid": pid, "name": _name(pid), **_memory_mb(pid)} for pid in pids]
        report[name] = {
            "processes": len(procs),
            "rss_mb": round(sum(p["rss"] for p in procs), 1),
            "pss_mb": round(sum(p["pss"] for p in procs), 1),
            "detail": procs,
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settle", type=float, default=20.0, help="seconds to wait after the servers answer")
    parser.add_argument("--running", action="store_true", help="measure the configured stack, start nothing")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    scratch = None
    if args.running:
        stack = Stack(get_settings())
    else:
        scratch = Path(tempfile.mkdtemp(prefix="stack-memory-"))
        settings = Settings(var_dir=scratch / "var", graph={"port": free_port()}, mlflow={"port": free_port()},
                            services={"start_timeout": 600})  # fmt: skip
        stack = Stack(settings)
    try:
        if scratch:
            started = time.monotonic()
            failed = [s for s in stack.up(SERVERS) if not s.ok]
            if failed:
                raise SystemExit(f"could not start: {failed}")
            print(f"started in {time.monotonic() - started:.1f}s; settling {args.settle:.0f}s", flush=True)
            time.sleep(args.settle)
        report = measure(stack)
    finally:
        if scratch:
            stack.down(SERVERS)
            shutil.rmtree(scratch, ignore_errors=True)

    if args.json:
        print(json.dumps(report, indent=2))
        return
    for name, row in report.items():
        print(f"{name}: {row['processes']} processes, RSS {row['rss_mb']:.0f} MB, PSS {row['pss_mb']:.0f} MB")
        for proc in row["detail"]:
            print(f"  {proc['pid']:>7}  {proc['name']:<16} RSS {proc['rss']:>7.1f} MB  PSS {proc['pss']:>7.1f} MB")
    total = {key: sum(row[key] for row in report.values()) for key in ("processes", "rss_mb", "pss_mb")}
    print(f"total: {total['processes']} processes, RSS {total['rss_mb']:.0f} MB, PSS {total['pss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
