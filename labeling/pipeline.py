"""From a validated problem and its ranked candidates to one label document."""

from __future__ import annotations

from typing import Any

from labeling.acceptance import reason_kinds
from labeling.retrieval import Candidate
from labeling.schemas import LabelDocument, Problem, label_doc_id, problem_key, score_margin


def build_label_doc(
    problem: Problem,
    candidates: list[Candidate],
    *,
    curriculum: str,
    model_version: str,
    graph_version: str,
    run_id: str,
    batch_id: str,
    source_uri: str,
    record: int,
    decision: dict[str, Any],
    llm: dict[str, Any] | None = None,
    llm_version: str | None = None,
    vision: dict[str, Any] | None = None,
    content_hash: str | None = None,
    context: dict[str, dict[str, Any]] | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The label document of ARCHITECTURE.md, keyed by (problem key, model version), validated
    (``LabelDocument``). The problem key is ``problem``'s id within ``source``, its problem set (by default
    ``batch_id``, the input's name in the drop folder): ``schemas.problem_key``.

    ``vision`` (a problem read off an image): its OCR output, regions and page, and the layout detector's version;
    ``content_hash`` then covers the image's bytes. ``context`` (code → graph context, ``CurriculumIndex.context``)
    goes into each candidate for the reviewer: its prerequisites and related standards. The decision gains the
    kind of each reason, and the document the margin between its first two candidates (the review queue's).
    """
    context = context or {}
    vision = vision or {}
    key = problem_key(batch_id if source is None else source, problem.id)
    doc = {
        "_id": label_doc_id(key, model_version),
        "problem_id": problem.id,
        "problem_key": key,
        "model_version": model_version,
        "batch_id": batch_id,
        "run_id": run_id,
        "source_uri": source_uri,
        "record": record,
        "content_hash": content_hash or problem.content_hash(curriculum),
        "curriculum": curriculum,
        "input": {
            "text": problem.text,
            "image": problem.image,
            "ocr": vision.get("ocr"),
            "regions": vision.get("regions", []),
            "page": vision.get("page"),
        },
        "metadata": problem.metadata,
        "candidates": [c.to_doc() | {k: v for k, v in context.get(c.code, {}).items() if v} for c in candidates],
        "labels": [candidates[0].code] if candidates else [],
        "provided_labels": problem.labels,
        "decision": decision | {"reason_kinds": reason_kinds(decision.get("reasons") or [])},
        "margin": score_margin([c.score for c in candidates]),
        "llm": llm,
        "model_versions": {
            "labeler": model_version,
            "layout": vision.get("layout"),
            "ocr": (vision.get("ocr") or {}).get("engine"),
            "llm": llm_version,
        },
        "graph_version": graph_version,
    }
    return LabelDocument.model_validate(doc).to_doc()
