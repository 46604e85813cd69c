"""On-demand labeling: a few problems labeled now by the curriculum's current labeler, stored as label documents the
way a batch stores them (same key, same decision rules), so they show in the queue and the history like any other.

It holds no state between requests: several API processes can serve it side by side, and a problem sent twice with
the same content by the same labeler is not labeled twice (its stored document is returned).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from labeling.acceptance import accept_or_review
from labeling.batch import behind_reviews
from labeling.documents import HUMAN_DECISIONS
from labeling.evaluate import is_calibrated
from labeling.index import CurriculumIndex
from labeling.pipeline import build_label_doc
from labeling.schemas import Problem, label_doc_id, problem_key
from review.errors import InvalidReview
from stores.labels import LabelStore

ON_DEMAND_RUN = "on-demand"
MAX_PROBLEMS = 20


def label_problems(
    records: Sequence[dict[str, Any]],
    *,
    index: CurriculumIndex,
    labeler: Any,
    labels: LabelStore,
    source: str,
    top_k: int = 5,
    auto_accept_score: float = 0.6,
    max_text_chars: int = 4000,
) -> list[dict[str, Any]]:
    """Label problem records (``id``, ``text`` and optional metadata) for ``index``'s curricula with ``labeler`` (a
    ``VersionedLabeler``) and upsert their documents under the problem set ``source``; return them in the order
    given.

    Raises:
        InvalidReview: more than ``MAX_PROBLEMS``, a duplicate id, or a record that is not a valid text problem
            (naming the record and the reason); nothing is stored then.
    """
    if not 1 <= len(records) <= MAX_PROBLEMS:
        raise InvalidReview(f"send 1 to {MAX_PROBLEMS} problems, not {len(records)}")
    problems: list[Problem] = []
    for n, record in enumerate(records, start=1):
        try:
            problem = Problem.model_validate(record)
        except ValidationError as exc:
            error = exc.errors()[0]
            raise InvalidReview(f"problem {n}: {'.'.join(map(str, error['loc']))}: {error['msg']}") from exc
        if not problem.text:
            raise InvalidReview(f"problem {n} ({problem.id}): no text to label")
        if len(problem.text) > max_text_chars:
            raise InvalidReview(f"problem {n} ({problem.id}): text longer than {max_text_chars} characters")
        problems.append(problem)
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise InvalidReview("two problems share an id")
    version = labeler.version
    keys = {p.id: problem_key(source, p.id) for p in problems}
    stored = labels.get_labels([label_doc_id(keys[p.id], version) for p in problems])
    todo = [p for p in problems if _needs_label(stored.get(label_doc_id(keys[p.id], version)), p, index.curriculum)]
    docs = []
    ranked = labeler.rank(todo, top_k) if todo else []
    for record, (problem, candidates) in enumerate(zip(todo, ranked, strict=True), start=1):
        decision = accept_or_review(
            problem, candidates, auto_accept_score=auto_accept_score, standards=index.by_code,
            calibrated=is_calibrated(labeler),
        )  # fmt: skip
        docs.append(build_label_doc(
            problem, candidates, curriculum=index.curriculum, model_version=version, graph_version=index.version,
            run_id=ON_DEMAND_RUN, batch_id=source, source_uri=f"api:{source}", record=record, decision=decision,
            context=index.context([c.code for c in candidates]),
        ))  # fmt: skip
    if docs:  # a problem a reviewer decided under another labeler keeps that answer; its new label is not current
        labels.upsert_labels(behind_reviews(labels, docs))
    found = labels.get_labels([label_doc_id(keys[p.id], version) for p in problems])
    return [found[label_doc_id(keys[p.id], version)] for p in problems]


def _needs_label(stored: dict[str, Any] | None, problem: Problem, curriculum: str) -> bool:
    """Not stored yet, or stored with other content; a reviewer's decision is never overwritten by a machine label."""
    if stored is None:
        return True
    if (stored.get("decision") or {}).get("status") in HUMAN_DECISIONS:
        return False
    return stored.get("content_hash") != problem.content_hash(curriculum)
