"""The drop-folder batch: claim files, label each file's problems, quarantine what is bad, report.

Used by the ``batch_labeling`` DAG and the CLI alike. Every step is safe to retry: claims are moves into the
run's own folder, label writes are upserts, and a file leaves ``processing/`` only after its labels are stored.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import PurePosixPath
from typing import Any

from graph_seed import cypher
from labeling.errors import IngestError, LabelingError
from labeling.evaluate import Labeler
from labeling.ingest import ParsedFile, RejectedRecord
from labeling.llm import LLMJudge
from labeling.pipeline import build_label_doc
from labeling.retrieval import LexicalRetriever
from labeling.review import review
from labeling.schemas import Problem, label_doc_id
from labeling.validation import ProblemSuite, read_file
from stores.errors import StoreError
from stores.graph import GraphStore
from stores.labels import LabelStore
from stores.objects import ObjectStore, join

log = logging.getLogger(__name__)
INCOMING = "incoming"
UPSERT_CHUNK = 200


@dataclass
class BatchConfig:
    run_id: str
    run_date: str  # YYYY-MM-DD, names the processed/ and quarantine/ folders
    curriculum: str
    model_version: str
    top_k: int
    auto_accept_score: float
    max_text_chars: int
    force: bool = False


@dataclass
class FileResult:
    name: str
    status: str  # processed | quarantined
    destination: str
    read: int = 0
    labeled: int = 0
    skipped: int = 0
    quarantined: int = 0
    with_provided_labels: int = 0
    top1_agreements: int = 0
    needs_review: int = 0
    error: str | None = None
    error_key: str | None = None
    model_version: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def expand_curricula(spec: str | list[str]) -> list[str]:
    """``kr`` means kr-2022 and kr-2015 together; a comma-separated string or a list names several."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[str] = []
    for name in (n.strip() for n in names if n.strip()):
        for cid in ("kr-2022", "kr-2015") if name == "kr" else (name,):
            if cid not in out:
                out.append(cid)
    return out


class CurriculumIndex:
    """The target curricula as read from the graph once per task; the retriever is built on first use."""

    def __init__(self, graph: GraphStore, curriculum: str | list[str]) -> None:
        self.graph = graph
        self.curricula = expand_curricula(curriculum)
        self.curriculum = ",".join(self.curricula)

    @cached_property
    def standards(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for cid in self.curricula:
            exported = self.graph.run(*cypher.export_standards(cid))
            if not exported:
                raise LabelingError(f"the graph has no standards for {cid!r}: run `mathlabel seed` first")
            terms: dict[str, list[str]] = {}
            for row in self.graph.run(*cypher.export_terms(cid)):
                terms.setdefault(row["code"], []).append(row["term"])
            rows.extend({**row, "terms": terms.get(row["code"], [])} for row in exported)
        return rows

    @cached_property
    def codes(self) -> set[str]:
        return {row["code"] for row in self.standards}

    @cached_property
    def version(self) -> str:
        versions = []
        for cid in self.curricula:
            rows = self.graph.run(*cypher.curriculum_hash(cid))
            versions.append(f"{cid}@{(rows[0]['source_hash'] or 'unknown')[:12]}" if rows else f"{cid}@unknown")
        return ",".join(versions)

    @cached_property
    def courses(self) -> set[str]:
        """Course names problems may give: the graph's courses and grade bands, and the common 수학."""
        return {row["grade_band"] for row in self.standards} | {"수학", "Mathematics"}

    def suite(self, max_text_chars: int) -> ProblemSuite:
        return ProblemSuite(max_text_chars=max_text_chars, known_codes=self.codes, known_courses=self.courses)

    @cached_property
    def by_code(self) -> dict[str, dict[str, Any]]:
        return {row["code"]: row for row in self.standards}

    @cached_property
    def prerequisites(self) -> dict[str, list[str]]:
        """code → the codes of its direct prerequisites (graph context for the LLM and reviewers)."""
        out: dict[str, list[str]] = {}
        for cid in self.curricula:
            for row in self.graph.run(*cypher.export_prerequisites(cid)):
                out.setdefault(row["code"], []).append(row["before"])
        return out

    def context(self, codes: list[str]) -> dict[str, dict[str, Any]]:
        return {code: {"prerequisites": sorted(self.prerequisites.get(code, []))} for code in codes}

    @cached_property
    def retriever(self) -> LexicalRetriever:
        return LexicalRetriever(self.standards)


def claim_files(objects: ObjectStore, run_id: str, selector: str = "") -> list[str]:
    """Move files from ``incoming/`` (or the part of it ``selector`` names) into ``processing/<run_id>/``.

    Returns every key in the run's processing folder, so a retried claim also returns what an earlier attempt
    of the same run moved. A file another run claimed first is left to that run.
    """
    claimed_prefix = join("processing", run_id)
    source = join(INCOMING, selector)
    for key in objects.list(source):
        relative = PurePosixPath(key).relative_to(INCOMING).as_posix()
        try:
            objects.move(key, join(claimed_prefix, relative))
            log.info("claimed %s", key)
        except StoreError as exc:
            log.warning("could not claim %s (another run may have it): %s", key, exc)
    return objects.list(claimed_prefix)


def _free_key(objects: ObjectStore, key: str, data: bytes | None = None) -> str:
    """``key``, or a suffixed variant when a different object already sits there: nothing is overwritten."""
    if not objects.exists(key) or (data is not None and objects.read_bytes(key) == data):
        return key
    path = PurePosixPath(key)
    for n in range(1, 10_000):
        candidate = str(path.with_name(f"{path.stem}.{n}{path.suffix}"))
        if not objects.exists(candidate) or (data is not None and objects.read_bytes(candidate) == data):
            return candidate
    raise LabelingError(f"too many files named {path.name} in {path.parent}")


def _quarantine_file(
    objects: ObjectStore, key: str, name: str, data: bytes, cfg: BatchConfig, reason: str
) -> FileResult:
    target = _free_key(objects, join("quarantine", cfg.run_date, name), data)
    error = {"file": name, "run_id": cfg.run_id, "source": objects.uri(key), "reason": reason, "records": []}
    error_key = f"{target}.error.json"
    objects.write_bytes(error_key, json.dumps(error, ensure_ascii=False, indent=2).encode())
    objects.move(key, target)
    log.error("quarantined file %s: %s", name, reason)
    return FileResult(name=name, status="quarantined", destination=target, error=reason, error_key=error_key)


def _quarantine_records(objects: ObjectStore, name: str, parsed: ParsedFile, cfg: BatchConfig, source_uri: str) -> str:
    """Write the rejected records and why, beside where the file's quarantine would go."""
    base = join("quarantine", cfg.run_date, name)
    lines = "".join(rejected.raw.rstrip("\n") + "\n" for rejected in parsed.rejected)
    objects.write_bytes(f"{base}.rejected{PurePosixPath(name).suffix}", lines.encode())
    error = {
        "file": name,
        "run_id": cfg.run_id,
        "source": source_uri,
        "reason": f"{len(parsed.rejected)} of {parsed.read} records failed validation",
        "records": [rejected.to_doc() for rejected in parsed.rejected],
    }
    error_key = f"{base}.error.json"
    objects.write_bytes(error_key, json.dumps(error, ensure_ascii=False, indent=2).encode())
    for rejected in parsed.rejected:
        log.warning("%s record %d (id=%s) quarantined: %s", name, rejected.record, rejected.id, rejected.reason)
    return error_key


def _count_agreement(result: FileResult, problem: Problem, chosen: list[str]) -> None:
    if problem.labels:
        result.with_provided_labels += 1
        result.top1_agreements += int(bool(chosen) and chosen[0] in problem.labels)


def process_file(
    key: str,
    *,
    objects: ObjectStore,
    labels: LabelStore,
    index: CurriculumIndex,
    cfg: BatchConfig,
    labeler: Labeler | None = None,
    judge: LLMJudge | None = None,
    suite: ProblemSuite | None = None,
) -> FileResult:
    """Label every good record of one claimed file, quarantine the bad ones, then move the file on.

    ``labeler`` defaults to the cold-start retriever; ``cfg.model_version`` must name the labeler used. With a
    ``judge`` (an LLM), each problem's candidates also go to it, and the reviewing rules weigh its answer.
    """
    started = time.monotonic()
    name = PurePosixPath(key).relative_to(join("processing", cfg.run_id)).as_posix()
    data = objects.read_bytes(key)
    source_uri = objects.uri(join(INCOMING, name))
    try:
        parsed = read_file(name, data, suite or index.suite(cfg.max_text_chars))
    except IngestError as exc:
        return _quarantine_file(objects, key, name, data, cfg, str(exc))
    if not parsed.problems:
        reasons = "; ".join(f"record {r.record}: {r.reason}" for r in parsed.rejected[:5])
        result = _quarantine_file(objects, key, name, data, cfg, f"no valid records ({reasons})")
        result.read = result.quarantined = parsed.read
        return result

    result = FileResult(
        name=name, status="processed", destination="", read=parsed.read, model_version=cfg.model_version
    )
    batch_id = f"{name}#{PurePosixPath(key).name}:{len(data)}"
    to_label: list[tuple[int, Problem]] = []
    for record, problem in parsed.problems:
        if problem.text is None:
            reason = "image-only problems need OCR, which this version does not have yet"
            parsed.rejected.append(
                RejectedRecord(record, problem.id, reason, problem.model_dump_json(exclude_none=True))
            )
            continue
        existing = labels.get_label(label_doc_id(problem.id, cfg.model_version))
        if existing and existing.get("content_hash") == problem.content_hash(cfg.curriculum) and not cfg.force:
            result.skipped += 1
            _count_agreement(result, problem, existing.get("labels", []))
            result.needs_review += existing.get("decision", {}).get("status") == "needs_review"
            continue
        to_label.append((record, problem))
    ranked = (labeler or index.retriever).rank([problem for _, problem in to_label], cfg.top_k) if to_label else []
    docs: list[dict[str, Any]] = []
    for (record, problem), candidates in zip(to_label, ranked, strict=True):
        llm = judge.choose(problem, candidates, index.context([c.code for c in candidates])) if judge else None
        decision = review(
            problem, candidates, auto_accept_score=cfg.auto_accept_score, standards=index.by_code, llm=llm
        )
        doc = build_label_doc(
            problem,
            candidates,
            curriculum=cfg.curriculum,
            model_version=cfg.model_version,
            graph_version=index.version,
            run_id=cfg.run_id,
            batch_id=batch_id,
            source_uri=source_uri,
            record=record,
            decision=decision,
            llm=llm,
            llm_version=judge.version if judge else None,
        )
        docs.append(doc)
        _count_agreement(result, problem, doc["labels"])
        result.needs_review += doc["decision"]["status"] == "needs_review"
    for start in range(0, len(docs), UPSERT_CHUNK):
        written = labels.upsert_labels(docs[start : start + UPSERT_CHUNK])
        log.info("%s: stored %d label documents (%d new)", name, written.written, written.inserted)
    result.labeled = len(docs)
    result.quarantined = len(parsed.rejected)
    if parsed.rejected:
        result.error_key = _quarantine_records(objects, name, parsed, cfg, source_uri)
    # Only now, with every label committed, does the input leave processing/.
    result.destination = _free_key(objects, join("processed", cfg.run_date, name), data)
    objects.move(key, result.destination)
    result.seconds = round(time.monotonic() - started, 3)
    log.info(
        "%s: read %d, labeled %d, skipped %d (already labeled), quarantined %d",
        name, result.read, result.labeled, result.skipped, result.quarantined,
    )  # fmt: skip
    return result


def safe_run_id(run_id: str) -> str:
    """A run id usable as one folder name in any object store (no ':' or '+')."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def batch_config(
    run_id: str, curriculum: str | None = None, force: bool = False, model_version: str | None = None
) -> BatchConfig:
    """The batch settings of one run, from the defaults file and the environment, read when the task runs."""
    from mathlabel.config import get_settings

    labeling = get_settings().labeling
    return BatchConfig(
        run_id=safe_run_id(run_id),
        run_date=datetime.now(UTC).strftime("%Y-%m-%d"),
        curriculum=curriculum or labeling.curriculum,
        model_version=model_version or labeling.model_version,
        top_k=labeling.top_k,
        auto_accept_score=labeling.auto_accept_score,
        max_text_chars=labeling.max_text_chars,
        force=force,
    )


def summarize(results: list[dict[str, Any]], *, run_id: str, started_at: float | None = None) -> dict[str, Any]:
    """Totals over the per-file results of a run."""
    totals = {k: sum(r[k] for r in results) for k in ("read", "labeled", "skipped", "quarantined", "needs_review")}
    provided = sum(r["with_provided_labels"] for r in results)
    hits = sum(r["top1_agreements"] for r in results)
    return {
        "run_id": run_id,
        "files": len(results),
        "files_quarantined": sum(r["status"] == "quarantined" for r in results),
        "model_versions": sorted({r["model_version"] for r in results if r.get("model_version")}),
        **totals,
        "with_provided_labels": provided,
        "top1_agreements": hits,
        "top1_agreement": round(hits / provided, 4) if provided else None,
        "seconds": round(time.time() - started_at, 2) if started_at else None,
        "results": results,
    }


def report_key(run_id: str) -> str:
    return join("reports", f"{safe_run_id(run_id)}.json")


def finish_run(objects: ObjectStore, run_id: str, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Write the run report (JSON, under ``reports/``) and return its totals without per-file detail.

    Files still in ``processing/<run_id>/`` (their task failed) are listed as unfinished: they are kept there
    for the retry, never lost.
    """
    summary = summarize(results, run_id=safe_run_id(run_id))
    summary["unfinished"] = objects.list(join("processing", safe_run_id(run_id)))
    summary["report"] = report_key(run_id)
    objects.write_bytes(summary["report"], json.dumps(summary, ensure_ascii=False, indent=2, default=str).encode())
    log.info("run %s: %s", run_id, {k: v for k, v in summary.items() if k != "results"})
    return {k: v for k, v in summary.items() if k != "results"}
