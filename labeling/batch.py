"""The drop-folder batch: claim files, prepare them into chunks, label each chunk, then finish and report.

Used by the ``batch_labeling`` DAG and the CLI alike (``mathlabel.runs`` builds a run's collaborators for both).
Every step is safe to retry and to crash in:
- claim (``labeling.intake``) moves files into the run's own ``processing/<run_id>/`` folder (a retry returns what
  it already moved);
- prepare validates a file, quarantines bad records with reasons, and writes its good records as chunk files;
- label_chunk upserts one label document per (problem key, model version), skipping problems already labeled by
  that version with the same content, so a re-run duplicates nothing (a problem's key is its id within its input
  file, ``schemas.problem_key``: two files that reuse an id keep their labels apart);
- finish moves an input to ``processed/`` only once every one of its chunks is stored, and writes the report.
Pages and image records (reading them, their crops and sidecars) are ``labeling.page_input``'s.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from labeling import events, page_input
from labeling.acceptance import accept_or_review
from labeling.documents import HUMAN_DECISIONS, find_by_keys
from labeling.errors import IngestError
from labeling.evaluate import VersionedLabeler
from labeling.index import CurriculumIndex
from labeling.ingest import jsonl_lines
from labeling.intake import INCOMING, Filing, claim_outcome, release
from labeling.llm import Judge
from labeling.pipeline import build_label_doc
from labeling.quality import baseline_for, record_run
from labeling.report import LISTED_PER_CHUNK, render_html, summarize
from labeling.schemas import Problem, label_doc_id, problem_key, safe_run_id, stored_problem_key
from labeling.steps import BatchConfig, ChunkResult, Item, Prepared, quarantine, write_chunks
from labeling.validation import ProblemSuite, read_file
from labeling.vision import is_page_file
from stores.errors import StoreError
from stores.labels import LabelStore
from stores.objects import ObjectStore, join

if TYPE_CHECKING:
    from labeling.vision import PageReader

log = logging.getLogger(__name__)
UPSERT_CHUNK = 200
REVIEW_CANDIDATES = 3  # candidates the report shows for a problem that needs review


# -------------------------------------------------------------------------------------------------- prepare


def prepare_file(key: str, *, objects: ObjectStore, suite: ProblemSuite, cfg: BatchConfig) -> Prepared:
    """Validate one claimed file; quarantine what is bad; write its good records (or pages) as chunk files.

    Any error of the file's own (a page the renderer chokes on, a bug a strange input finds) quarantines the file with
    its reason, so one poison file never stops the files beside it; a store error is raised, for the task's retry.
    """
    name = PurePosixPath(key).relative_to(cfg.processing).as_posix()
    try:
        prepared = _prepare(key, name, objects, suite, cfg)
    except StoreError:
        raise
    except Exception as exc:  # whatever one input raises, the others go on
        log.exception("%s: cannot be prepared", name)
        reason = f"{name}: cannot be prepared ({type(exc).__name__}: {exc})"
        prepared = quarantine(cfg.filing(objects), key, name, reason)
    if prepared.status == "quarantined":  # a whole input; its records' own reasons are announced by _prepare
        reason = prepared.error or ""
        events.emit(events.RecordQuarantined(cfg.run_id, name, None, events.quarantine_kind(reason), reason,
                                             records=max(prepared.read, 1)))  # fmt: skip
    elif prepared.quarantined and is_page_file(name):  # its refused pages (a record file's: one by one in _prepare)
        events.emit(events.RecordQuarantined(cfg.run_id, name, None, "image", "pages refused",
                                             records=prepared.quarantined))  # fmt: skip
    return prepared


def _prepare(key: str, name: str, objects: ObjectStore, suite: ProblemSuite, cfg: BatchConfig) -> Prepared:
    """``prepare_file``'s work, by kind of file: a page file's sidecar, a page file, or a record file."""
    started = time.monotonic()
    if name.endswith(page_input.META_SUFFIX):
        return page_input.prepare_sidecar(key, name, objects, cfg)
    if is_page_file(name):
        return page_input.prepare_page_file(key, name, objects, cfg, suite)
    filing = cfg.filing(objects)
    try:
        parsed = read_file(name, objects.read_bytes(key), suite)
    except IngestError as exc:
        return quarantine(filing, key, name, str(exc))
    images = page_input.image_rows(parsed, key, objects)
    if not parsed.problems:
        reasons = "; ".join(f"record {r.record}: {r.reason}" for r in parsed.rejected[:5])
        result = quarantine(filing, key, name, f"no valid records ({reasons})")
        result.read = result.quarantined = parsed.read
        return result
    prepared = Prepared(name=name, key=key, status="prepared", read=parsed.read, quarantined=len(parsed.rejected))
    if parsed.rejected:
        prepared.error_key = filing.quarantine_records(name, parsed)
        for rejected in parsed.rejected:
            events.emit(events.RecordQuarantined(cfg.run_id, name, rejected.record,
                                                 events.quarantine_kind(rejected.reason), rejected.reason))  # fmt: skip
    rows = [
        {"record": record, "problem": problem.model_dump(exclude_none=True), **images.get(record, {})}
        for record, problem in parsed.problems
    ]
    prepared.chunks = write_chunks(objects, cfg.chunk_prefix(name), rows, cfg.chunk_size)
    prepared.pages = len(images)
    prepared.seconds = round(time.monotonic() - started, 3)
    log.info("%s: read %d, %d chunk(s), quarantined %d", name, parsed.read, len(prepared.chunks), prepared.quarantined)
    return prepared


# ------------------------------------------------------------------------------------------------------ label


def label_chunk(
    chunk: str,
    *,
    objects: ObjectStore,
    labels: LabelStore,
    index: CurriculumIndex,
    cfg: BatchConfig,
    labeler: VersionedLabeler | None = None,
    judge: Judge | None = None,
    reader: Callable[[], PageReader] | None = None,
) -> ChunkResult:
    """Label the problems of one chunk and upsert their label documents.

    ``labeler``'s version is the documents' model version; without one, the graph's retriever labels as
    ``cfg.model_version`` (the configured cold-start version). With a ``judge`` (an LLM), each problem's candidates
    also go to it, and the reviewing rules weigh its answer.
    ``reader`` builds the page reader (layout + OCR) when the chunk holds pages or image records; it is called once.
    A page or image nothing can be read from is quarantined with its reason (``quarantine/<date>/<file>...``).
    Announces ``events.ChunkLabeled`` (counts, scores, stage timings) and each LLM error.
    """
    started = time.monotonic()
    stages = dict.fromkeys(events.STAGES, 0.0)
    labeler = labeler or VersionedLabeler(index.retriever, cfg.model_version)
    version = labeler.version
    name = PurePosixPath(chunk).parent.relative_to(join(cfg.processing, "chunks")).as_posix()
    result = ChunkResult(chunk=chunk, file=name, model_version=version, curriculum=cfg.curriculum)
    rows = [json.loads(line) for line in jsonl_lines(objects.read_bytes(chunk).decode()) if line.strip()]
    source_uri = objects.uri(join(INCOMING, name))
    text_rows = [row for row in rows if "page" not in row]
    problems = [(row, Problem.model_validate(row["problem"]).with_defaults(cfg.defaults)) for row in text_rows]
    page_rows = [row for row in rows if "page" in row]
    first_ids = [label_doc_id(page_input.page_problem_id(name, row["record"], 1), version) for row in page_rows]
    doc_ids = [label_doc_id(problem_key(name, p.id), version) for _, p in problems]
    # Documents stored before problems were keyed by their file have the bare id: an upgrade relabels none of them.
    legacy_ids = [label_doc_id(p.id, version) for _, p in problems]
    stored = labels.get_labels(doc_ids + legacy_ids + first_ids)
    items: list[Item] = []
    statuses: list[str | None] = []  # each counted document's decision status
    to_read: list[tuple[dict[str, Any], Problem | None]] = []
    for (row, problem), doc_id, legacy_id in zip(problems, doc_ids, legacy_ids, strict=True):
        existing = stored.get(doc_id) or _legacy(stored.get(legacy_id), problem_key(name, problem.id))
        content_hash = problem.content_hash(cfg.curriculum, row.get("image_sha"))
        if existing and existing.get("content_hash") == content_hash and not cfg.force:
            result.skipped += 1
            statuses.append(_count(result, problem, existing))
        elif row.get("image_key"):
            to_read.append((row, problem))
        else:
            items.append(Item(row["record"], problem, content_hash))
    for row, first in zip(page_rows, first_ids, strict=True):
        metadata = page_input.page_metadata_for(row, cfg)
        page = (row["page"]["sha"], name, row["record"], version, cfg.curriculum, metadata)
        done = None if cfg.force else page_input.stored_page(stored.get(first), labels, *page)
        if done is not None:
            for doc in done:
                result.skipped += 1
                statuses.append(_count(result, Problem(id=doc["problem_id"], text=doc["input"]["text"]), doc))
        else:
            to_read.append((row, None))
    mark = time.monotonic()
    stages["ingest"] = mark - started  # the chunk read, its problems validated, their stored documents looked up
    if to_read:
        items += page_input.read_images(to_read, name, objects, reader, cfg, result)
        mark = _lap(stages, "ocr", mark)
    ranked = labeler.rank([item.problem for item in items], cfg.top_k) if items else []
    mark = _lap(stages, "ranking", mark)  # the labeler's own retrieval and ranking
    docs: list[dict[str, Any]] = []
    for item, candidates in zip(items, ranked, strict=True):
        problem = item.problem
        context = index.context([c.code for c in candidates])
        llm = None
        if judge:
            pool = candidates + index.expand(candidates)
            context_of_pool = index.context([c.code for c in pool])
            mark = _lap(stages, "retrieval", mark)  # the graph's context and neighbours of the candidates
            llm = judge.choose(problem, pool, context_of_pool)
            mark = _lap(stages, "llm", mark)
            if llm.get("error"):
                events.emit(events.LLMError(problem.id, judge.version, str(llm["error"])))
        else:
            mark = _lap(stages, "retrieval", mark)
        ocr_confidence = item.vision["ocr"]["confidence"] if item.vision else None
        decision = accept_or_review(
            problem, candidates, auto_accept_score=cfg.auto_accept_score, standards=index.by_code, llm=llm,
            ocr_confidence=ocr_confidence, min_ocr_confidence=cfg.min_ocr_confidence, calibrated=labeler.calibrated,
        )  # fmt: skip
        doc = build_label_doc(
            problem,
            candidates,
            curriculum=cfg.curriculum,
            model_version=version,
            graph_version=index.version,
            run_id=cfg.run_id,
            batch_id=name,
            source_uri=source_uri,
            record=item.record,
            decision=decision,
            llm=llm,
            llm_version=judge.version if judge else None,
            vision=item.vision,
            content_hash=item.content_hash,
            context=context,
            source=name,
        )
        docs.append(doc)
        statuses.append(_count(result, problem, doc))
        mark = time.monotonic()  # the reviewing rules and the document built: part of no stage
    kept = _keep_reviews(labels, docs, chunk)
    result.skipped += len(docs) - len(kept)
    docs = behind_reviews(labels, kept)
    for start in range(0, len(docs), UPSERT_CHUNK):
        labels.upsert_labels(docs[start : start + UPSERT_CHUNK])
    _lap(stages, "write", mark)
    result.labeled = len(docs)
    result.ocr_confidences = [round(float(i.vision["ocr"]["confidence"]), 4) for i in items if i.vision]
    result.seconds = round(time.monotonic() - started, 3)
    log.info("%s: labeled %d, skipped %d (already labeled)", chunk, result.labeled, result.skipped)
    events.emit(events.ChunkLabeled(
        run_id=cfg.run_id, curriculum=cfg.curriculum, model_version=version, file=name,
        problems=result.labeled + result.skipped + result.quarantined, labeled=result.labeled, skipped=result.skipped,
        quarantined=result.quarantined, needs_review=result.needs_review,
        auto_accepted=statuses.count("auto_accepted"), top_scores=tuple(result.top_scores),
        ocr_confidences=tuple(result.ocr_confidences),
        stage_seconds={k: round(v, 4) for k, v in stages.items() if v}, seconds=result.seconds,
    ))  # fmt: skip
    return result


def _lap(stages: dict[str, float], stage: str, since: float) -> float:
    """Add the time since ``since`` to ``stage``; returns now, the next lap's start."""
    now = time.monotonic()
    stages[stage] += now - since
    return now


def _legacy(doc: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    """A document stored under a problem's bare id, if it is the problem ``key``'s (labeled from the same file)."""
    return doc if doc is not None and stored_problem_key(doc) == key else None


def _keep_reviews(labels: LabelStore, docs: list[dict[str, Any]], chunk: str) -> list[dict[str, Any]]:
    """``docs`` less those whose stored document a reviewer decided (verified or rejected): a machine label never
    overwrites a review, whether the run is forced or the problem's content changed (the review stays, with its
    audit trail; a changed problem is reviewed again from the review page)."""
    stored = labels.get_labels([doc["_id"] for doc in docs]) if docs else {}
    decided = {i for i, d in stored.items() if (d.get("decision") or {}).get("status") in HUMAN_DECISIONS}
    if decided:
        log.warning("%s: %d problems keep their reviewed label (not relabeled): %s", chunk, len(decided),
                    ", ".join(sorted(decided)[:10]))  # fmt: skip
    return [doc for doc in docs if doc["_id"] not in decided]


def behind_reviews(labels: LabelStore, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``docs``, those of problems a reviewer has decided (under another model version) marked not current: a new
    champion's label of a reviewed problem is stored beside the review, which stays the problem's answer, and stays
    out of the review queue."""
    if not docs:
        return docs
    query = {"decision.status": {"$in": list(HUMAN_DECISIONS)}, "current": {"$ne": False}}
    reviewed = {stored_problem_key(d): d["_id"] for d in find_by_keys(labels, [d["problem_key"] for d in docs], query)}
    for doc in docs:
        review = reviewed.get(doc["problem_key"])
        if review is not None and review != doc["_id"]:
            doc.update(current=False, superseded_by=review)
    return docs


def _count(result: ChunkResult, problem: Problem, doc: dict[str, Any]) -> str | None:
    """Count a stored label document into the chunk's result, and list it when it needs review or disagrees with
    the record's own labels (up to ``LISTED_PER_CHUNK`` of each); returns its decision status."""
    chosen = doc.get("labels") or []
    candidates = doc.get("candidates") or []
    top_score = round(float(candidates[0]["score"]), 4) if candidates else 0.0
    problem_ref = {"problem_id": problem.id, "doc_id": doc["_id"]}
    if problem.labels:
        result.with_provided_labels += 1
        agrees = bool(chosen) and chosen[0] in problem.labels
        result.top1_agreements += int(agrees)
        if not agrees and len(result.disagreements) < LISTED_PER_CHUNK:
            chosen_code = chosen[0] if chosen else None
            result.disagreements.append({**problem_ref, "provided": list(problem.labels), "chosen": chosen_code,
                                         "score": top_score})  # fmt: skip
    decision = doc.get("decision") or {}
    result.auto_accepted += decision.get("status") == "auto_accepted"
    if decision.get("status") == "needs_review":
        result.needs_review += 1
        if len(result.review) < LISTED_PER_CHUNK:
            top = [{"code": c["code"], "score": round(float(c["score"]), 4)} for c in candidates[:REVIEW_CANDIDATES]]
            result.review.append({**problem_ref, "reasons": list(decision.get("reasons") or []), "candidates": top})
    result.top_scores.append(top_score)
    return decision.get("status")


# ----------------------------------------------------------------------------------------------------- finish


LISTS = {
    "files",
    "review",
    "disagreements",
    "quarantine",
    "stuck",
    "archives_filed",
}  # the report's lists, left out of finish_run's return


def report_key(run_id: str, suffix: str = "json") -> str:
    return join("reports", f"{safe_run_id(run_id)}.{suffix}")


def finish_run(
    objects: ObjectStore,
    run_id: str,
    prepared: list[dict[str, Any]],
    results: list[dict[str, Any]],
    *,
    run_date: str | None = None,
    stage_seconds: dict[str, float] | None = None,
    review_url: str = "",
    baseline_window: int = 10,
    baseline_min_runs: int = 3,
) -> dict[str, Any]:
    """Move each input whose chunks are all stored to ``processed/``, then write the report (JSON and HTML).

    A file with a missing chunk result (its task failed) stays in ``processing/<run_id>/`` for the retry and is
    listed as unfinished: kept, never lost. The report lists the problems that need review and the disagreements
    the chunk results carry, and what was quarantined (read from the ``.error.json`` files they name); the summary
    returned (an XCom under Airflow) leaves those lists out. The report carries the run's trailing baseline
    (``baseline_window`` and ``baseline_min_runs``: the quality gate's settings, so that the gate judges the run by
    the same baseline the report shows), and the run's measures join the history (``labeling.quality``).
    """
    filing = Filing(objects, run_id, run_date or datetime.now(UTC).strftime("%Y-%m-%d"))
    done = {r["chunk"] for r in results}
    files = []
    finished = {
        item["key"] for item in prepared if item["status"] == "prepared" and all(c in done for c in item["chunks"])
    }
    quarantined = {item["key"]: item for item in prepared if item["status"] == "quarantined"}
    for item in prepared:
        entry = dict(item)
        if item["status"] == "asset":  # filed with the record file that names it, once that file is done
            if item.get("owner") in finished and objects.exists(item["key"]):
                entry["destination"] = filing.file(item["key"], item["name"])
                entry["status"] = "processed"
            elif item.get("owner") in quarantined and objects.exists(item["key"]):
                owner = quarantined[item["owner"]]
                reason = f"named by {owner['name']}, which was quarantined: {owner['error']}"
                entry.update(quarantine(filing, item["key"], item["name"], reason).to_dict())
            elif item.get("owner") not in finished:
                entry["status"] = "unfinished"
        elif item["status"] == "prepared":
            if all(chunk in done for chunk in item["chunks"]):
                if objects.exists(item["key"]):
                    entry["destination"] = filing.file(item["key"], item["name"])
                for chunk in item["chunks"]:
                    objects.delete(chunk)
                entry["status"] = "processed"
            else:
                entry["status"] = "unfinished"
        files.append(entry)
    claim = claim_outcome(objects, safe_run_id(run_id))  # read before release() drops the run's marker
    archives = release(Filing(objects, safe_run_id(run_id), filing.run_date))
    refused = _refused_at_claim(objects, run_id, files, results, filing.run_date)  # zips, links: no Prepared item
    files += [entry for entry in refused if entry["status"] == "quarantined"]
    summary = summarize(safe_run_id(run_id), files, results, stage_seconds or {},
                        quarantine=_quarantined(objects, files, results, refused))  # fmt: skip
    summary["archives_filed"] = archives
    summary["left_for_next_run"] = claim.get("left_for_next_run", 0)
    summary["stuck"] = claim.get("stuck", [])  # inputs waiting in the folder of a run still alive
    summary["stuck_files"] = len(summary["stuck"])
    summary["report"] = report_key(run_id)
    if review_url:  # the run's queue on the review page
        summary["review_url"] = f"{review_url}?{urlencode({'run_id': safe_run_id(run_id), 'status': 'any'})}"
    summary["report_html"] = report_key(run_id, "html")
    # The runs before this one of its curricula and model, pooled (None until there are enough): the report
    # compares with it, and so does the quality gate.
    summary["baseline"] = baseline_for(objects, summary, window=baseline_window, min_runs=baseline_min_runs)
    objects.write_bytes(summary["report"], json.dumps(summary, ensure_ascii=False, indent=2, default=str).encode())
    objects.write_bytes(summary["report_html"], render_html(summary).encode())
    record_run(objects, summary)  # into the history the next runs' baselines and the Health page read
    small = {k: v for k, v in summary.items() if k not in LISTS}  # the lists stay in the report: XCom stays small
    log.info("run %s: %s", run_id, {k: v for k, v in small.items() if k != "histogram"})
    return small


def _refused_at_claim(
    objects: ObjectStore, run_id: str, files: list[dict[str, Any]], results: list[dict[str, Any]], run_date: str
) -> list[dict[str, Any]]:
    """What the run's claim quarantined, which no prepared file names: zip archives it could not unpack, members of
    an archive it refused (an unsafe path), entries of ``incoming/`` that are no plain file (a link). Found by the
    run id in the ``.error.json`` records of the run's quarantine folders (its date, and the day before for a run
    that crossed midnight). Each is a file entry: ``quarantined`` for an input refused whole, ``refused_members``
    for an archive that was unpacked and filed while some of its members were refused."""
    known = {f.get("error_key") for f in files} | {r.get("error_key") for r in results}
    day = datetime.strptime(run_date, "%Y-%m-%d").replace(tzinfo=UTC)
    dates = {run_date, (day - timedelta(days=1)).strftime("%Y-%m-%d")}
    dates |= {k.split("/")[1] for k in known if k and k.startswith("quarantine/")}
    ours = {run_id, safe_run_id(run_id)}
    out = []
    for key in sorted(k for date in dates for k in objects.list(join("quarantine", date))):
        if not key.endswith(".error.json") or key in known:
            continue
        try:
            written = json.loads(objects.read_bytes(key))
        except (StoreError, ValueError):
            continue  # not a record this run can have written
        if not isinstance(written, dict) or written.get("run_id") not in ours:
            continue
        base = key.removesuffix(".error.json")
        whole = not written.get("records")  # no member listed: the input itself was refused
        out.append(Prepared(name=str(written.get("file") or base), key=base, error=written.get("reason"),
                            status="quarantined" if whole else "refused_members", error_key=key,
                            destination=base if objects.exists(base) else "").to_dict())  # fmt: skip
    return out


def _quarantined(
    objects: ObjectStore,
    files: list[dict[str, Any]],
    results: list[dict[str, Any]],
    refused: list[dict[str, Any]] | None = None,
) -> list[dict]:
    """What the run quarantined, why and where, read from the ``.error.json`` its files and chunks name, and those
    of what its claim ``refused`` (at most ``LISTED_PER_CHUNK`` records of each; ``records_total`` counts them all).
    ``file_key`` is the input as it lies in quarantine: a whole input, or a copy of an archive some members of which
    were refused."""
    found = [(f["name"], f["error_key"], f.get("destination") if f["status"] == "quarantined" else None, f.get("error"))
             for f in files if f.get("error_key")]  # fmt: skip
    found += [(r["file"], r["error_key"], None, None) for r in results if r.get("error_key")]
    # (inputs refused whole are among the files)
    found += [(f["name"], f["error_key"], f["destination"] or None, f["error"]) for f in refused or []
              if f["status"] != "quarantined"]  # fmt: skip
    out = []
    for name, error_key, moved_to, error in found:
        try:
            written = json.loads(objects.read_bytes(error_key))
        except (StoreError, ValueError) as exc:
            written = {"reason": error or f"cannot read {error_key}: {exc}"}
        records = written.get("records") or []
        rejected = f"{error_key.removesuffix('.error.json')}.rejected{PurePosixPath(name).suffix}"
        out.append({
            "file": name,
            "reason": written.get("reason") or error,
            "file_key": moved_to,  # the whole input, when it was quarantined
            "error_key": error_key,
            "rejected_key": rejected if objects.exists(rejected) else None,  # the rejected records, as written
            "records": [{k: r.get(k) for k in ("record", "id", "reason")} for r in records[:LISTED_PER_CHUNK]],
            "records_total": len(records),
        })  # fmt: skip
    return out


def run_batch(
    keys: list[str],
    *,
    objects: ObjectStore,
    labels: LabelStore,
    index: CurriculumIndex,
    cfg: BatchConfig,
    labeler: VersionedLabeler | None = None,
    judge: Judge | None = None,
    reader: Callable[[], PageReader] | None = None,
) -> dict[str, Any]:
    """Prepare, label and finish claimed files in-process (the CLI's path; the DAG maps the same steps)."""
    suite = index.suite(cfg.max_text_chars)
    started = time.monotonic()
    prepared = [prepare_file(key, objects=objects, suite=suite, cfg=cfg) for key in keys]
    results = [
        label_chunk(
            chunk, objects=objects, labels=labels, index=index, cfg=cfg, labeler=labeler, judge=judge, reader=reader
        ).to_dict()
        for item in prepared
        for chunk in item.chunks
    ]
    return finish_run(
        objects,
        cfg.run_id,
        [item.to_dict() for item in prepared],
        results,
        run_date=cfg.run_date,
        stage_seconds={"total": round(time.monotonic() - started, 3)},
    )
