"""Benchmark: the review API on an embedded label store holding 100,000 label documents (issue 15).

Starts, on a scratch var dir and free ports, FalkorDB (seeded with kr-2022: ``correct`` checks codes against it and
every document view reads the candidates' context from it), the embedded label store and an Airflow home
(``airflow db migrate``); no MLflow. It then fills the label store with ``--docs`` label documents and builds
Airflow's own API server app in this process (``airflow.api_fastapi.app.create_app``, the plugin mounted at
``/mathlabel``), logged in with a bearer token from ``POST /auth/token`` (SimpleAuthManager, a ``user``-role
reviewer), and times requests through FastAPI's ``TestClient``:

- queue pages (``GET /mathlabel/api/v1/queue?limit=50``): both orders, no filter / a run / a reason, the first page
  and a later one (by cursor). Each page also counts the total and the documents per reason (the API always does);
- a document view, and review writes on distinct documents (``accept`` and ``correct``, with ``If-Match``);
- the baseline ``GET /mathlabel/api/v1/me`` (login check and the app, no label store), in the same rounds.

Every kind of request is sent once per round, so a busy machine slows them alike. ``review_queue`` is also timed on
its own, without HTTP: the page alone, and with its counts (``--explain`` prints the plans of its SQL). Last,
``build_snapshot`` (what ``nightly_retraining`` runs) is timed on the store, and the reviewed problems are looked up
in its records. Exits 1 when a queue or write p95 is 100 ms or more, or a reviewed problem is not in the snapshot.

The documents: the kr-2022 sample (``labeling/samples/kr2022_sample.jsonl``) ranked by the cold-start retriever
gives real candidates; each document takes one of them with its numbers and its scores varied, the record's labels
kept for half, and goes through ``accept_or_review`` and ``build_label_doc`` as a labeling run's would. 10 runs,
files of 2,000 problems; ``--verified`` of them are verified first (``ReviewWorkspace.bulk_accept``).

    .venv/bin/python benchmarks/review_api.py [--docs 100000] [--reads 100] [--writes 200] [--explain] [--no-check]
        [--out benchmarks/results/review_api.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
API = "/mathlabel/api/v1"
TARGET_MS = 100.0
CURRICULUM = "kr-2022"
SAMPLE = ROOT / "labeling/samples/kr2022_sample.jsonl"
RUNS = 10
FILE_SIZE = 2000
CHUNK = 1000  # documents per upsert_labels call
PASSWORD = "bench-pw"


# ------------------------------------------------------------------------------------------------ the data


def _templates(index: Any, top_k: int) -> list[tuple[Any, list[Any]]]:
    """The sample's problems with their ranked candidates (the cold-start retriever's)."""
    from labeling.schemas import Problem

    problems = [Problem.model_validate(json.loads(line)) for line in SAMPLE.read_text().splitlines() if line.strip()]
    return list(zip(problems, index.retriever.rank(problems, top_k), strict=True))


def generate(labels: Any, index: Any, n: int, *, seed: int, top_k: int, auto_accept: float) -> dict[str, Any]:
    """Write ``n`` label documents shaped as a labeling run writes them; return what was written."""
    from labeling.acceptance import accept_or_review
    from labeling.pipeline import build_label_doc

    rng = random.Random(seed)
    templates = _templates(index, top_k)
    runs = [f"batch_labeling__2026-11-{10 + r:02d}" for r in range(RUNS)]
    texts: set[str] = set()
    docs: list[dict[str, Any]] = []
    status: dict[str, int] = {}
    for i in range(n):
        problem, ranked = templates[i % len(templates)]
        text = re.sub(r"\d+", lambda m: str(rng.randint(2, 99)), problem.text or "")
        if text in texts:  # one text per problem, so the snapshot drops none as a copy of a hold-out problem
            text = f"{text} ({i})"
        texts.add(text)
        pid = f"q{i:06d}"
        varied = problem.model_copy(update={"id": pid, "text": text,
                                            "labels": problem.labels if rng.random() < 0.5 else []})  # fmt: skip
        factor = rng.uniform(0.6, 1.4)
        candidates = [replace(c, score=round(min(1.0, c.score * factor), 4)) for c in ranked]
        decision = accept_or_review(varied, candidates, auto_accept_score=auto_accept, standards=index.by_code)
        run = runs[i * RUNS // n]
        batch = f"set-{i // FILE_SIZE:03d}.jsonl"
        doc = build_label_doc(
            varied, candidates, curriculum=CURRICULUM, model_version="lexical-bm25-v2", graph_version=index.version,
            run_id=run, batch_id=batch, source_uri=f"file:///var/objects/incoming/{batch}", record=i % FILE_SIZE,
            decision=decision, context=index.context([c.code for c in candidates]), source=batch,
        )  # fmt: skip
        status[doc["decision"]["status"]] = status.get(doc["decision"]["status"], 0) + 1
        docs.append(doc)
        if len(docs) == CHUNK:
            labels.upsert_labels(docs)
            docs = []
    if docs:
        labels.upsert_labels(docs)
    # A run's documents are written when it runs: one day apart (the store stamps created_at itself on insert).
    start = datetime(2026, 11, 10, 2, tzinfo=UTC)
    with labels._transaction():
        for day, run in enumerate(runs):
            at = (start + timedelta(days=day)).isoformat()
            labels.conn.execute("UPDATE labels SET created_at = ? WHERE json_extract(doc, '$.run_id') = ?", [at, run])
    return {"runs": runs, "status": status}


def pre_verify(workspace: Any, labels: Any, count: int, seed: int) -> int:
    """Verify ``count`` documents needing review before the benchmark (reviews of earlier days), in bulk."""
    from review.vocabulary import BulkItem

    if count <= 0:
        return 0
    rows = labels.conn.execute(
        "SELECT _id, json_extract(doc, '$.version') FROM labels WHERE json_extract(doc, '$.decision.status') = ?",
        ["needs_review"],
    ).fetchall()
    chosen = random.Random(seed).sample(rows, min(count, len(rows)))
    done = 0
    for start in range(0, len(chosen), 500):
        items = [BulkItem(doc_id, version) for doc_id, version in chosen[start : start + 500]]
        done += len(workspace.bulk_accept(items, reviewer="earlier-reviewer")["accepted"])
    return done


# ------------------------------------------------------------------------------------------------ timing


def summary(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1), "p95_ms": round(q[94], 1),
            "max_ms": round(ms[-1], 1)}  # fmt: skip


def _cursor_of_page(client: Any, headers: dict, params: dict, page: int) -> str | None:
    """The cursor that opens page ``page`` (1-based) of a queue listing, walking the pages before it."""
    cursor = None
    for _ in range(page - 1):
        body = _get(client, f"{API}/queue", headers, {**params, **({"cursor": cursor} if cursor else {})}).json()
        cursor = body["next_cursor"]
        if cursor is None:
            return None
    return cursor


def _get(client: Any, url: str, headers: dict, params: dict | None = None) -> Any:
    response = client.get(url, headers=headers, params=params)
    if response.status_code != 200:
        raise SystemExit(f"GET {url} {params}: {response.status_code} {response.text[:500]}")
    return response


def queue_variants(client: Any, headers: dict, run_id: str, reason: str, later: int) -> dict[str, dict]:
    """name → query parameters of each timed queue request."""
    variants = {}
    for order in ("uncertainty", "age"):
        for label, extra in (("all", {}), ("run", {"run_id": run_id}), ("reason", {"reason": reason})):
            params = {"order": order, "limit": 50, **extra}
            variants[f"queue {order}, {label}, page 1"] = params
            cursor = _cursor_of_page(client, headers, params, later)
            if cursor is None:
                raise SystemExit(f"the queue {params} has fewer than {later} pages")
            variants[f"queue {order}, {label}, page {later}"] = {**params, "cursor": cursor}
    return variants


def time_reads(client: Any, headers: dict, variants: dict[str, dict], view_ids: list[str], rounds: int) -> dict:
    """Each variant (and the baseline and a document view) once per round, after one untimed warm-up round."""
    samples: dict[str, list[float]] = {"baseline GET /me": [], **{name: [] for name in variants}, "GET a document": []}
    for r in range(rounds + 1):
        for name in samples:
            if name == "baseline GET /me":
                url, params = f"{API}/me", None
            elif name == "GET a document":
                url, params = f"{API}/labels/{quote(view_ids[r % len(view_ids)], safe='')}", None
            else:
                url, params = f"{API}/queue", variants[name]
            started = time.perf_counter()
            _get(client, url, headers, params)
            if r:
                samples[name].append(time.perf_counter() - started)
    return {name: summary(values) for name, values in samples.items()}


def time_writes(client: Any, headers: dict, docs: list[dict], n: int) -> tuple[dict, list[str]]:
    """``n`` accepts and ``n`` corrections (the second candidate chosen), alternating, each on its own document,
    with the baseline between them; returns the timings and the reviewed documents' problem keys."""
    samples: dict[str, list[float]] = {"baseline GET /me": [], "POST accept": [], "POST correct": []}
    reviewed = []
    for i, doc in enumerate(docs[: 2 * n]):
        started = time.perf_counter()
        _get(client, f"{API}/me", headers)
        samples["baseline GET /me"].append(time.perf_counter() - started)
        action = "accept" if i % 2 == 0 else "correct"
        body = {} if action == "accept" else {"codes": [doc["candidates"][1]["code"]], "note": "benchmark"}
        url = f"{API}/labels/{quote(doc['_id'], safe='')}/{action}"
        started = time.perf_counter()
        response = client.post(url, json=body, headers=headers | {"If-Match": f'"{doc["version"]}"'})
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"POST {url}: {response.status_code} {response.text[:500]}")
        samples[f"POST {action}"].append(elapsed)
        reviewed.append(doc["problem_key"])
    return {name: summary(values) for name, values in samples.items()}, reviewed


def time_queries(labels: Any, variants: dict[str, dict], rounds: int, explain: bool) -> dict:
    """The queue's label-store part on its own (``review_queue``, no HTTP): the page alone, and with the counts; and
    the query plans of the latter."""
    from labeling.documents import review_queue

    out: dict[str, dict] = {}
    plans: dict[str, list[str]] = {}
    for name, params in variants.items():
        if "page 1" not in name:
            continue
        filters = {k: v for k, v in params.items() if k in ("run_id", "reason")}
        order = "oldest" if params["order"] == "age" else params["order"]
        row = {}
        for part, counts in (("page", False), ("page + counts", True)):
            review_queue(labels, order=order, counts=counts, **filters)
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                review_queue(labels, order=order, counts=counts, **filters)
                times.append(time.perf_counter() - started)
            row[part] = summary(times)
        if explain:
            statements: list[str] = []
            labels.conn.set_trace_callback(statements.append)
            review_queue(labels, order=order, **filters)
            labels.conn.set_trace_callback(None)
            plans[name] = [line for sql in statements for line in (sql, *(
                f"  {p[-1]}" for p in labels.conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()))]  # fmt: skip
        out[name.removeprefix("queue ").removesuffix(", page 1")] = row
    return {"timings": out, "plans": plans}


def time_snapshot(objects: Any, labels: Any, reviewed: list[str], share: float, repeat: int) -> dict:
    """``build_snapshot`` as nightly_retraining runs it (through the read-only reader), ``repeat`` times (each a
    new date, so each writes its files), and where the reviewed problems are in the first one."""
    from training.snapshot import build_snapshot, read_jsonl, record_key

    reader = labels.reader()
    times, snaps = [], []
    for i in range(repeat):
        started = time.perf_counter()
        snaps.append(build_snapshot(objects, reader, CURRICULUM, date=f"2026-12-0{i + 1}", holdout_share=share))
        times.append(time.perf_counter() - started)
    snap = snaps[0]
    train = {record_key(r) for r in read_jsonl(objects, snap.train_key)}
    held = {record_key(r) for r in read_jsonl(objects, snap.holdout_key)}
    return {
        "seconds": [round(t, 2) for t in times],
        "median_s": round(statistics.median(times), 2),
        "verified": snap.manifest["verified"],
        "train": len(train),
        "holdout": len(held),
        "reviewed": len(reviewed),
        "reviewed_in_train": sum(k in train for k in reviewed),
        "reviewed_in_holdout": sum(k in held for k in reviewed),
    }


# ------------------------------------------------------------------------------------------------ main


def _environment(scratch: Path) -> None:
    """A scratch var dir, free ports and Airflow's home under it, set before Airflow or the settings are read."""
    from mathlabel.services import free_port

    os.environ["MATHLABEL_VAR_DIR"] = str(scratch / "var")
    os.environ["MATHLABEL_GRAPH__PORT"] = str(free_port())
    os.environ["MATHLABEL_MLFLOW__PORT"] = str(free_port())  # never started: nothing here reaches a registry
    from mathlabel.config import Settings
    from mathlabel.services import airflow_env

    os.environ.update(airflow_env(Settings()))
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    (scratch / "passwords.json").write_text(json.dumps({"bench": PASSWORD}))
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = "bench:user"
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(scratch / "passwords.json")


def print_table(title: str, rows: dict[str, dict], target: bool) -> None:
    print(f"\n{title}")
    print(f"{'request':<40} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}" + ("  target" if target else ""))
    for name, row in rows.items():
        verdict = ""
        if target and not name.startswith(("baseline", "GET a document")):
            verdict = "  ok" if row["p95_ms"] < TARGET_MS else "  MISSED"
        print(f"{name:<40} {row['n']:>5} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} {row['max_ms']:>8.1f}{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000, help="label documents in the store")
    parser.add_argument("--verified", type=int, default=5000, help="of them verified before the benchmark")
    parser.add_argument("--reads", type=int, default=100, help="timed requests of each queue variant")
    parser.add_argument("--writes", type=int, default=200, help="timed accepts, and as many corrections")
    parser.add_argument("--later-page", type=int, default=20, help="the later page, opened by its cursor")
    parser.add_argument("--query-rounds", type=int, default=10, help="timed runs of each label-store query")
    parser.add_argument("--snapshots", type=int, default=3, help="timed build_snapshot runs")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--explain", action="store_true", help="print the queue queries' SQLite query plans")
    parser.add_argument("--no-check", action="store_true", help="only report; exit 0 even when a target is missed")
    parser.add_argument("--out", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (its path is printed)")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    scratch = Path(tempfile.mkdtemp(prefix="review-api-bench-"))
    _environment(scratch)
    from graph_seed.loaders import load_curriculum
    from graph_seed.seed import seed_curriculum
    from labeling.index import CurriculumIndex
    from mathlabel.clients import graph_store, label_store, object_store
    from mathlabel.config import get_settings
    from mathlabel.services import Stack

    get_settings.cache_clear()
    settings = get_settings()
    stack = Stack(settings)
    results: dict[str, Any] = {"docs": args.docs, "load_at_start": os.getloadavg()[0], "cpus": os.cpu_count()}
    try:
        started = time.perf_counter()
        failed = [s for s in stack.up(["objects", "labelstore", "falkordb", "airflow"]) if not s.ok]
        if failed:
            raise SystemExit("could not start: " + "; ".join(f"{s.name}: {s.detail}" for s in failed))
        graph = graph_store(settings)
        seed_curriculum(graph, load_curriculum(CURRICULUM))
        print(f"stack up and {CURRICULUM} seeded in {time.perf_counter() - started:.0f} s", flush=True)

        labels, objects = label_store(settings), object_store(settings)
        index = CurriculumIndex(graph, CURRICULUM)
        started = time.perf_counter()
        written = generate(labels, index, args.docs, seed=args.seed, top_k=settings.labeling.top_k,
                           auto_accept=settings.labeling.auto_accept_score)  # fmt: skip
        results["generate_s"] = round(time.perf_counter() - started, 1)
        results["status"] = written["status"]
        print(f"{args.docs} documents written in {results['generate_s']} s: {written['status']}", flush=True)

        from plugins.mathlabel_review.app import workspace

        started = time.perf_counter()
        results["pre_verified"] = pre_verify(workspace(), labels, args.verified, args.seed)
        print(f"{results['pre_verified']} verified in bulk in {time.perf_counter() - started:.0f} s", flush=True)
        results["store_mb"] = round(Path(labels.path).stat().st_size / 2**20)

        from airflow.api_fastapi.app import create_app
        from fastapi.testclient import TestClient

        client = TestClient(create_app())
        for name in ("httpx", "httpx2"):  # the test client's own line per request (the server's access log stays)
            logging.getLogger(name).setLevel(logging.WARNING)
        token = client.post("/auth/token", json={"username": "bench", "password": PASSWORD})
        if token.status_code != 201:
            raise SystemExit(f"login failed: {token.status_code} {token.text}")
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

        reasons = _get(client, f"{API}/queue", headers, {"limit": 1}).json()["reasons"]
        reason = "low_score" if "low_score" in reasons else next(iter(reasons))
        results["queue"] = {"total": _get(client, f"{API}/queue", headers, {"limit": 1}).json()["total"],
                            "reasons": reasons, "reason_filter": reason}  # fmt: skip
        print(f"queue: {results['queue']}", flush=True)
        variants = queue_variants(client, headers, written["runs"][3], reason, args.later_page)
        to_review = labels.find_labels({"decision.status": "needs_review"}, limit=2 * args.writes + 200)
        rng = random.Random(args.seed)
        rng.shuffle(to_review)
        view_ids = [d["_id"] for d in to_review[2 * args.writes :]]
        started = time.perf_counter()
        results["reads"] = time_reads(client, headers, variants, view_ids, args.reads)
        results["reads_s"] = round(time.perf_counter() - started)
        print_table(f"reads, {args.reads} rounds ({results['reads_s']} s)", results["reads"], target=True)

        results["queries"] = time_queries(labels, variants, args.query_rounds, args.explain)
        print(f"\nreview_queue on its own (no HTTP), p50 / p95 ms of {args.query_rounds}")
        for name, row in results["queries"]["timings"].items():
            parts = ", ".join(f"{part} {v['p50_ms']:.1f} / {v['p95_ms']:.1f}" for part, v in row.items())
            print(f"  {name:<24} {parts}")
        for name, lines in results["queries"]["plans"].items():
            print(f"\n{name}\n" + "\n".join(lines))

        started = time.perf_counter()
        results["writes"], reviewed = time_writes(client, headers, to_review, args.writes)
        results["writes_s"] = round(time.perf_counter() - started)
        print_table(f"writes, {args.writes} of each ({results['writes_s']} s)", results["writes"], target=True)

        results["snapshot"] = time_snapshot(objects, labels, reviewed, settings.training.holdout_share, args.snapshots)
        snap = results["snapshot"]
        print(f"\nbuild_snapshot on {args.docs} documents ({snap['verified']} verified): {snap['seconds']} s "
              f"(median {snap['median_s']} s); of the {snap['reviewed']} problems reviewed through the API, "
              f"{snap['reviewed_in_train']} in train and {snap['reviewed_in_holdout']} in the hold-out")  # fmt: skip
        results["load_at_end"] = os.getloadavg()[0]
    finally:
        stack.down()
        if args.keep:
            print(f"scratch folder kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    print(f"\nload average {results['load_at_start']:.1f} at the start, {results['load_at_end']:.1f} at the end, "
          f"{results['cpus']} CPUs; label store file {results['store_mb']} MB")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    timed = {**results["reads"], **results["writes"]}
    missed = [n for n, r in timed.items() if n.startswith(("queue", "POST")) and r["p95_ms"] >= TARGET_MS]
    snap_ok = snap["reviewed_in_train"] + snap["reviewed_in_holdout"] == snap["reviewed"]
    if not snap_ok:
        print("not every reviewed problem is in the snapshot")
    if missed:
        print(f"p95 of {len(missed)} request kinds at or over {TARGET_MS:.0f} ms: {', '.join(missed)}")
    if (missed or not snap_ok) and not args.no_check:
        sys.exit(1)


if __name__ == "__main__":
    main()
