"""Verifying labels: a reviewer confirms a problem's codes, and the label store keeps who did, when, and what came
before.

A verification is a label document (``LabelDocument``) with ``decision.status == "verified"`` and
``_id = "<problem key>@verified-<digest>"`` (``labeling.schemas.problem_key``), the digest covering the problem's
content, its codes, who verified it and the document they looked at (when named): verifying the same thing again
finds its document and writes nothing. A different verification of the same problem (the same key) in the same
curriculum (other codes, other text, another reviewer) becomes the ``current`` one; the earlier document stays,
marked ``current: false`` with ``superseded_by`` and ``superseded_at`` (the audit trail). A verification based on a
label document (the one a reviewer looked at) supersedes that document the same way, so it leaves the review queue.
The file import (``training.verified``) writes through ``verify_many``. The review API does not: a review updates the
label document the reviewer looked at, conditionally on its version (``review.workspace``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graph_seed.codes import normalize_code
from labeling.documents import VERIFIED, find_by_keys
from labeling.errors import LabelingError
from labeling.schemas import LabelDocument, Problem, problem_key, stored_problem_key
from stores.labels import LabelStore


class VerificationError(LabelingError):
    """A verification that cannot be written: no codes, or based on a document that is not the problem's."""


class StaleLabelError(VerificationError):
    """The document a verification was based on has been superseded since; ``current`` names its successor."""

    def __init__(self, message: str, current: str | None) -> None:
        super().__init__(message)
        self.current = current


@dataclass
class VerifyResult:
    stored: int = 0  # new verifications
    unchanged: int = 0  # already stored, the same verification
    superseded: int = 0  # earlier verifications of the same problems that are no longer current
    ids: list[str] | None = None  # the verifications' document ids, in the order given


def verification_id(
    problem: Problem, content_hash: str, verified_by: str, based_on: str | None = None, key: str | None = None
) -> str:
    """``<key>@verified-<digest>``; ``key`` (the problem's key) defaults to its id."""
    payload = {"content": content_hash, "labels": sorted(problem.labels), "verified_by": verified_by}
    if based_on is not None:  # a reviewer who verifies again after a change has seen another document
        payload["based_on"] = based_on
    digest = hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()
    return f"{key or problem.id}@{VERIFIED}-{digest[:16]}"


def verification_doc(
    problem: Problem,
    *,
    curriculum: str,
    verified_by: str,
    at: datetime,
    source_uri: str | None = None,
    record: int | None = None,
    based_on: str | None = None,
    note: str | None = None,
    key: str | None = None,
    standards_of: str | None = None,
) -> dict[str, Any]:
    """The verification of ``problem``'s labels (its codes), validated (``LabelDocument``); ``key`` is the problem's
    key (``problem_key``), by default its bare id; ``standards_of`` the one curriculum of ``curriculum`` whose
    standards the codes are (kept as ``verification.curriculum``: a code may name a standard of several).

    Its metadata is both in ``metadata`` (as in a machine label) and in ``input`` (where verifications of older
    versions keep it, and training snapshots read it).

    Raises:
        VerificationError: the problem has no labels to verify.
    """
    if not problem.labels:
        raise VerificationError(f"{problem.id}: a verification needs labels (codes)")
    content_hash = problem.content_hash(curriculum)
    verification = {"by": verified_by, "source_uri": source_uri, "record": record, "at": at}
    verification |= {
        k: v for k, v in (("based_on", based_on), ("note", note), ("curriculum", standards_of)) if v is not None
    }
    key = key or problem.id
    doc = {
        "_id": verification_id(problem, content_hash, verified_by, based_on, key),
        "problem_id": problem.id,
        "problem_key": key,
        "curriculum": curriculum,
        "content_hash": content_hash,
        "input": {"text": problem.text, "image": problem.image, **problem.metadata},
        "metadata": problem.metadata,
        "labels": list(problem.labels),
        "decision": {"status": VERIFIED, "reasons": [f"verified by {verified_by}"]},
        "verification": verification,
        "current": True,
        "superseded_by": None,
        "superseded_at": None,
    }
    return LabelDocument.model_validate(doc).to_doc()


def _superseded(old: dict[str, Any], successor: str, at: datetime) -> dict[str, Any]:
    key = stored_problem_key(old)  # a document from before keys were stored gains its key as it is written back
    return {**old, "problem_key": key, "current": False, "superseded_by": successor, "superseded_at": at}


def verify_many(store: LabelStore, docs: Sequence[dict[str, Any]], *, at: datetime) -> VerifyResult:
    """Store verification documents (``verification_doc``; at most one per problem key and curriculum): those not
    stored yet become current, superseding the problem's current verification and the document each was based on.
    Four reads and one write, however many documents."""
    result = VerifyResult(ids=[d["_id"] for d in docs])
    existing = store.get_labels(result.ids)
    new = [d for d in docs if d["_id"] not in existing]
    result.unchanged = len(docs) - len(new)
    if not new:
        return result
    keys = [stored_problem_key(d) for d in new]
    current = find_by_keys(store, keys, {"decision.status": VERIFIED, "current": True})
    replaced_by = {(key, d["curriculum"]): d["_id"] for key, d in zip(keys, new, strict=True)}
    superseded = []
    for old in current:
        successor = replaced_by.get((stored_problem_key(old), old.get("curriculum")))
        if successor and successor != old["_id"]:
            superseded.append(_superseded(old, successor, at))
    result.superseded = len(superseded)
    seen = {d["_id"] for d in superseded}
    based_on = {d["verification"]["based_on"]: d["_id"] for d in new if d["verification"].get("based_on")}
    reviewed = store.get_labels([doc_id for doc_id in based_on if doc_id not in seen]) if based_on else {}
    superseded += [_superseded(old, based_on[i], at) for i, old in reviewed.items() if old.get("current") is not False]
    store.upsert_labels(new + superseded)
    result.stored = len(new)
    return result


def verify(
    store: LabelStore,
    problem: Problem,
    codes: Sequence[str],
    *,
    reviewer: str,
    curriculum: str,
    based_on: str | None = None,
    note: str | None = None,
    source_uri: str | None = None,
    at: datetime | None = None,
    source: str | None = None,
) -> tuple[str, VerifyResult]:
    """Verify ``codes`` as ``problem``'s labels for ``curriculum``, by ``reviewer``; return the verification's id
    and what was written (nothing when the same verification is stored already).

    Args:
        problem: the problem as the reviewer saw it (its text and metadata; its own labels are replaced).
        codes: the standards' codes (normalised here); the caller checks them against the curriculum.
        based_on: the ``_id`` of the label document the reviewer looked at; it must be one of ``problem``'s and
            still current, and the verification supersedes it. The verification takes its problem key.
        source: the problem set ``problem`` comes from (``problem_key``); without it and ``based_on``, the problem
            is known by its bare id.

    Raises:
        VerificationError: no codes, or ``based_on`` is not a label document of ``problem``.
        StaleLabelError: ``based_on`` was superseded since the reviewer saw it.
    """
    at = at or datetime.now(UTC)
    key = problem_key(source, problem.id)
    if based_on is not None:
        seen = store.get_label(based_on)
        if (
            seen is None
            or seen.get("problem_id") != problem.id
            or (source is not None and stored_problem_key(seen) != key)
        ):
            raise VerificationError(f"{based_on!r} is not a label document of problem {key!r}")
        key = stored_problem_key(seen)
        if seen.get("current") is False:
            raise StaleLabelError(
                f"{based_on!r} was superseded by {seen.get('superseded_by')!r}", seen.get("superseded_by")
            )
    verified = problem.model_copy(update={"labels": list(dict.fromkeys(normalize_code(c) for c in codes))})
    doc = verification_doc(
        verified, curriculum=curriculum, verified_by=reviewer, at=at, source_uri=source_uri, based_on=based_on,
        note=note, key=key,
    )  # fmt: skip
    return doc["_id"], verify_many(store, [doc], at=at)
