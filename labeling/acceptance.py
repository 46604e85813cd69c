"""The automatic acceptance rules: auto-accept a machine label only when nothing argues against it, and say why.

Human review (a reviewer verifying or correcting a label) is ``labeling.verification``; these rules only decide
which machine labels go to it. Each reason is a sentence for the reviewer; ``reason_kinds`` names its kind, so that
a review queue can filter and count by reason (``REASON_KINDS`` matches the sentences written below).
"""

from __future__ import annotations

import re
from typing import Any

from labeling.retrieval import Candidate, grade_fit
from labeling.schemas import Problem

# kind → the pattern its reasons start with, as accept_or_review writes them (first match wins)
REASON_KINDS: dict[str, re.Pattern[str]] = {
    kind: re.compile(pattern)
    for kind, pattern in (
        ("no_candidate", r"no candidate standard found"),
        ("low_ocr_confidence", r"OCR confidence \S+ is below"),
        ("ocr_confident", r"OCR confidence \S+ ≥"),
        ("low_score", r"top score \S+ is below"),
        ("uncalibrated", r"cold start: "),
        ("confident", r"top score \S+ ≥"),
        ("not_in_graph", r"\S+ is not a standard of the target curriculum"),
        ("metadata_conflict", r"\S+ belongs to .* which contradicts the problem's metadata"),
        ("record_labels_disagree", r"the record's labels say"),
        ("record_labels_agree", r"the record's labels agree"),
        ("llm_disagrees", r"LLM chose"),
        ("llm_agrees", r"LLM agrees"),
        ("llm_concern", r"LLM: "),  # the LLM step's error or a concern the agent named
    )
}
OTHER = "other"


def reason_kinds(reasons: list[str]) -> list[str]:
    """The kind of each reason (``REASON_KINDS``; ``other`` for none), each kind once, in first-seen order."""
    kinds = (next((k for k, p in REASON_KINDS.items() if p.match(reason)), OTHER) for reason in reasons)
    return list(dict.fromkeys(kinds))


def accept_or_review(
    problem: Problem,
    candidates: list[Candidate],
    *,
    auto_accept_score: float,
    standards: dict[str, dict[str, Any]] | None = None,
    llm: dict[str, Any] | None = None,
    ocr_confidence: float | None = None,
    min_ocr_confidence: float = 0.8,
    calibrated: bool = True,
) -> dict[str, Any]:
    """``auto_accepted`` or ``needs_review``, with every reason found.

    Args:
        problem: the problem as labeled (its metadata is checked against the chosen standard's grade band). Its
            ``labels``, when the record gives some, must include the chosen code, or the label goes to review;
            only codes of the target curricula (those in ``standards``) are compared.
        candidates: ranked candidates; the first is the chosen label.
        auto_accept_score: the calibrated score at or above which a label may be auto-accepted.
        standards: code → graph export row; a chosen code missing from it is flagged.
        llm: the LLM step's outcome (``{"code", "reason"}``, with the agent's ``concerns``, or ``{"error"}``),
            when an LLM is configured. Every concern the agent names is a reason for review.
        ocr_confidence: for a problem read off an image, the OCR's confidence; below ``min_ocr_confidence`` the
            text may be wrong, so the label goes to review whatever its score.
        calibrated: whether the labeler's scores are probabilities fitted on held-out verified labels (a trained
            model). The cold start's are not: on real classroom text the same score means 30% right on one set and
            85% on another (benchmarks/RESULTS.md), so without a trained model every label is reviewed.
    """
    ocr_concerns = []
    if ocr_confidence is not None and ocr_confidence < min_ocr_confidence:
        ocr_concerns.append(
            f"OCR confidence {ocr_confidence:.2f} is below {min_ocr_confidence:.2f}: check the text read off the image"
        )
    if not candidates:
        return {"status": "needs_review", "reasons": ["no candidate standard found", *ocr_concerns]}
    top = candidates[0]
    concerns: list[str] = list(ocr_concerns)
    if not calibrated:
        concerns.append(
            "cold start: no trained model yet, so scores are not calibrated and every label is reviewed "
            f"(top score {top.score:.2f})"
        )
    elif top.score < auto_accept_score:
        concerns.append(f"top score {top.score:.2f} is below the auto-accept threshold {auto_accept_score:.2f}")
    if standards is not None:
        standard = standards.get(top.code)
        if standard is None:
            concerns.append(f"{top.code} is not a standard of the target curriculum in the graph")
        elif grade_fit(problem, standard) is False:
            concerns.append(
                f"{top.code} belongs to {standard.get('grade_band')} ({standard.get('grade_group')}), which "
                f"contradicts the problem's metadata ({problem.school or ''} {problem.grade or ''} "
                f"{problem.course or ''})".replace("  ", " ")
            )
    provided = [code for code in problem.labels if standards is None or code in standards]
    if provided and top.code not in provided:
        concerns.append(f"the record's labels say {', '.join(provided)}; the model chose {top.code}")
    if llm is not None:
        if llm.get("error"):
            concerns.append(f"LLM: {llm['error']}")
        elif llm.get("code") != top.code:
            concerns.append(f"LLM chose {llm.get('code')} ({llm.get('reason', '')}), the model {top.code}")
        concerns.extend(f"LLM: {concern}" for concern in llm.get("concerns") or [])
    if concerns:
        return {"status": "needs_review", "reasons": concerns}
    reasons = [f"top score {top.score:.2f} ≥ {auto_accept_score:.2f}"]
    if ocr_confidence is not None:
        reasons.append(f"OCR confidence {ocr_confidence:.2f} ≥ {min_ocr_confidence:.2f}")
    if provided:
        reasons.append(f"the record's labels agree ({top.code})")
    if llm is not None:
        reasons.append("LLM agrees")
    return {"status": "auto_accepted", "reasons": reasons}
