"""What a reviewer does, as functions of the label store, the curriculum graph and the object store.

A review updates the label document the reviewer looked at, conditionally on the ``version`` they saw
(``LabelStore.update_label``): the decision becomes ``verified`` (accept, correct) or ``rejected``, with the chosen
labels, the reviewer taken from the login and the time, and the version goes up by one. Each write appends an
audit event (who, when, action, before, after) in the same step. The problem's other current documents (another
model version's label, an older verification) are marked ``current: false`` and ``superseded_by`` the reviewed one,
so they leave the queue and the training snapshot sees one verification per problem. ``nightly_retraining`` reads
the verified documents as they are (``labeling.index.current_verified``): no file step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlparse

from graph_seed.codes import normalize_code
from labeling import events
from labeling.documents import (
    HUMAN_DECISIONS,
    NEEDS_REVIEW,
    VERIFIED,
    find_by_keys,
    labels_query,
    review_queue,
    version_row,
)
from labeling.index import CurriculumIndex, expand_curricula
from labeling.schemas import stored_problem_key
from review.errors import DocumentNotFound, InvalidReview, StaleVersion
from review.vocabulary import MAX_BULK, REJECT_REASONS, REJECTED, BulkItem
from stores.errors import LabelNotFound, StoreError, VersionConflict
from stores.graph import GraphStore
from stores.labels import LabelStore
from stores.objects import ObjectStore

CROP_PAD = 8  # labeling.page_input.crop_of pads a problem's box by this much


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _version(doc: dict[str, Any]) -> int:
    return int(doc.get("version") or 1)


class ReviewWorkspace:
    """The review loop over injected stores; ``labeler_for`` (curriculum index → versioned labeler) serves
    on-demand labeling with the current champion, and ``index_ttl`` is how long a curriculum read from the graph is
    reused (a re-seeded graph shows within that time)."""

    def __init__(
        self,
        labels: LabelStore,
        graph: GraphStore,
        objects: ObjectStore,
        *,
        labeler_for: Callable[[CurriculumIndex], Any] | None = None,
        on_demand: dict[str, Any] | None = None,
        index_ttl: float = 300.0,
    ) -> None:
        self.labels = labels
        self.graph = graph
        self.objects = objects
        self.labeler_for = labeler_for
        self.on_demand = on_demand or {}
        self.index_ttl = index_ttl
        self._indexes: dict[str, tuple[float, CurriculumIndex]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------------ reading

    def index(self, curriculum: str) -> CurriculumIndex:
        """The curricula ``curriculum`` names, read from the graph at most once per ``index_ttl``.

        Raises:
            InvalidReview: the graph has no standards for it.
        """
        key = ",".join(expand_curricula(curriculum))
        with self._lock:
            found = self._indexes.get(key)
            if found and time.monotonic() - found[0] < self.index_ttl:
                return found[1]
        index = CurriculumIndex(self.graph, key)
        try:
            index.standards  # noqa: B018 - read now, so an unknown curriculum fails here
        except Exception as exc:
            raise InvalidReview(f"curriculum {curriculum!r}: {exc}") from exc
        with self._lock:
            self._indexes[key] = (time.monotonic(), index)
        return index

    def curricula(self) -> list[dict[str, Any]]:
        """The curricula seeded in the graph: id and name."""
        from graph_seed import cypher

        return [{"id": row["id"], "name": row["name"]} for row in self.graph.run(*cypher.curricula())]

    def get(self, doc_id: str) -> dict[str, Any]:
        doc = self.labels.get_label(doc_id)
        if doc is None:
            raise DocumentNotFound(f"no label document {doc_id!r}")
        return doc

    def _based_on(self, doc_id: str, version: int) -> dict[str, Any]:
        """The document, if it is still at the version the reviewer saw: a later change (another review) is told
        as such, not judged as if the reviewer had seen it (a rejected label would read "no label to accept")."""
        doc = self.get(doc_id)
        if _version(doc) != version:
            raise _stale(doc_id, version, doc)
        return doc

    def queue(self, *, order: str = "uncertainty", limit: int = 50, cursor: str | None = None, **filters: Any) -> dict:
        """A page of the review queue (``labeling.documents.review_queue``) as rows for a list, with the counts.
        The first page of the whole queue (no filter but the default status) also measures it
        (``events.QueueMeasured``): the review page reads it on every load."""
        page = review_queue(self.labels, order=order, limit=limit, cursor=cursor, **filters)
        whole = all(v is None for k, v in filters.items() if k != "status")
        if cursor is None and whole and filters.get("status", NEEDS_REVIEW) == NEEDS_REVIEW:
            self._measure_queue(page.total)
        return {
            "items": [queue_row(doc) for doc in page.docs],
            "next_cursor": page.cursor,
            "total": page.total,
            "reasons": page.reasons or {},
        }

    def _measure_queue(self, size: int | None) -> None:
        """Announce the queue's size and the age of its oldest document (one more read, of one document)."""
        oldest = review_queue(self.labels, order="oldest", limit=1, counts=False).docs
        created = oldest[0].get("created_at") if oldest else None
        if isinstance(created, datetime):
            created = created if created.tzinfo else created.replace(tzinfo=UTC)
        age = (datetime.now(UTC) - created).total_seconds() if isinstance(created, datetime) else None
        events.emit(events.QueueMeasured(size=int(size or 0), oldest_age_seconds=age))

    def view(self, doc: dict[str, Any] | str) -> dict[str, Any]:
        """One label document as a reviewer sees it: text or crop, candidates with the graph's context, history."""
        doc = self.get(doc) if isinstance(doc, str) else doc
        standards = self._standards_of(doc)
        versions = find_by_keys(self.labels, [stored_problem_key(doc)])
        events = self.labels.events_for(sorted({doc["_id"], *(d["_id"] for d in versions)}))
        return label_view(doc, standards=standards, events=events, versions=versions)

    def _standards_of(self, doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        curricula = {c.get("curriculum") for c in doc.get("candidates") or [] if c.get("curriculum")}
        curricula |= set(expand_curricula(doc.get("curriculum") or ""))
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for cid in sorted(curricula):
            try:
                index = self.index(cid)
            except InvalidReview:  # a curriculum no longer in the graph: the document's own copy is shown
                continue
            out.update(((row["curriculum"], row["code"]), row) for row in index.standards)
        return out

    def search_standards(self, curriculum: str, query: str, limit: int = 20) -> list[dict[str, Any]]:
        """Standards of ``curriculum`` whose code starts with ``query`` (brackets and spaces ignored); when none does,
        those whose words match it best (the graph-only retriever)."""
        from labeling.retrieval import breadcrumbs
        from labeling.schemas import Problem

        index = self.index(curriculum)
        query = query.strip()
        if not query:
            return []
        wanted = normalize_code(query, index.curricula[0]).lower()
        by_code = [row for row in index.standards if row["code"].lower().startswith(wanted)]
        found = {(row["curriculum"], row["code"]): row for row in sorted(by_code, key=lambda r: r["code"])[:limit]}
        if not found:  # not the start of a code: by words
            ranked = index.retriever.rank([Problem(id="search", text=query)], limit)[0]
            for cand in ranked:
                if cand.score > 0:
                    row = next((r for r in index.standards if r["code"] == cand.code and
                                r["curriculum"] == cand.curriculum), None)  # fmt: skip
                    if row is not None:
                        found.setdefault((row["curriculum"], row["code"]), row)
        return [
            {"code": r["code"], "curriculum": r["curriculum"], "text": r["text"], "breadcrumbs": breadcrumbs(r)}
            for r in list(found.values())[:limit]
        ]

    def crop(self, doc_id: str) -> bytes:
        """The PNG crop of a page problem, read from the object store (its store path is never handed out).

        Raises:
            DocumentNotFound: no such document, it is not a page problem, or its crop is gone.
        """
        page = (self.get(doc_id).get("input") or {}).get("page") or {}
        key = self._key_of(page.get("crop"))
        if key is None:
            raise DocumentNotFound(f"{doc_id!r} has no page crop")
        try:
            return self.objects.read_bytes(key)
        except StoreError as exc:  # both stores say a missing object so; an outage is told apart by exists()
            if not self.objects.exists(key):
                raise DocumentNotFound(f"the crop of {doc_id!r} is no longer in the object store") from exc
            raise

    def _key_of(self, uri: str | None) -> str | None:
        """The object key a stored crop URI names, when it names one under this store's ``processed/`` folder (or
        ``processing/``, for a run that has not finished)."""
        if not uri:
            return None
        root = self.objects.uri("processed")[: -len("processed")]  # the store's root, as its URIs spell it
        if not uri.startswith(root):
            return None
        key = uri[len(root) :].lstrip("/")
        parts = urlparse("x:///" + key).path.lstrip("/").split("/")
        if ".." in parts or not key.startswith(("processed/", "processing/")):
            return None
        return key

    def run_summary(self, run_id: str) -> dict[str, Any]:
        query = labels_query(run_id=run_id) | {"current": {"$ne": False}}  # Airflow's run id or the stored one
        by_status = self.labels.count_values("decision.status", query)
        return {"run_id": run_id, "total": sum(by_status.values()), "by_status": by_status}

    # ------------------------------------------------------------------------------------------------ writing

    def accept(self, doc_id: str, *, version: int, reviewer: str, note: str | None = None) -> dict[str, Any]:
        """Verify the document's chosen label as it is.

        Raises:
            InvalidReview: it has no label to accept (choose one instead).
        """
        doc = self._based_on(doc_id, version)
        if not doc.get("labels"):
            raise InvalidReview(f"{doc_id!r} has no label to accept: choose a standard")
        chosen = doc["labels"]
        curriculum = self._curriculum_of(doc, chosen)
        return self._decide(doc, version, reviewer, "accept", VERIFIED, chosen, curriculum, note)

    def correct(
        self,
        doc_id: str,
        *,
        version: int,
        reviewer: str,
        codes: Sequence[str],
        curriculum: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        """Verify other standards (one or several) as the problem's labels.

        Raises:
            InvalidReview: no codes, a curriculum the document was not labeled for, or a code not in the curriculum.
        """
        doc = self._based_on(doc_id, version)
        target = curriculum or self._curriculum_of(doc, codes)
        allowed = set(expand_curricula(doc.get("curriculum") or target))
        allowed |= {c.get("curriculum") for c in doc.get("candidates") or [] if c.get("curriculum")}
        if target not in allowed:
            raise InvalidReview(f"{doc_id!r} was labeled for {', '.join(sorted(allowed))}, not {target!r}")
        index = self.index(target)
        chosen = list(dict.fromkeys(normalize_code(c, target) for c in codes))
        if not chosen:
            raise InvalidReview("choose at least one standard")
        known = {row["code"] for row in index.standards}
        unknown = [c for c in chosen if c not in known]
        if unknown:
            raise InvalidReview(f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not in {target}")
        action = "accept" if chosen == list(doc.get("labels") or []) else "correct"
        return self._decide(doc, version, reviewer, action, VERIFIED, chosen, target, note)

    def reject(
        self, doc_id: str, *, version: int, reviewer: str, reason: str, note: str | None = None
    ) -> dict[str, Any]:
        """Reject the problem (not a math problem, an unreadable page, ...): it leaves the queue and is never
        trained on."""
        if reason not in REJECT_REASONS:
            raise InvalidReview(f"reason {reason!r} is not one of {', '.join(REJECT_REASONS)}")
        doc = self._based_on(doc_id, version)
        return self._decide(doc, version, reviewer, "reject", REJECTED, [], doc.get("curriculum"), note, reason)

    def edit_text(self, doc_id: str, *, version: int, reviewer: str, text: str) -> dict[str, Any]:
        """Correct the problem's text (an OCR misreading); the document stays in the queue with the text a later
        verification trains on. The text as read stays in ``input.ocr``."""
        doc = self._based_on(doc_id, version)
        text = text.strip()
        if not text:
            raise InvalidReview("the corrected text is empty")
        before = (doc.get("input") or {}).get("text")
        changes = {"input": {**(doc.get("input") or {}), "text": text, "text_corrected_by": reviewer}}
        event = _event(doc, reviewer, "edit_text", {"text": before}, {"text": text}, None)
        updated = self._update(doc, version, changes, event)
        return self.view(updated)

    def bulk_accept(self, items: Sequence[BulkItem], *, reviewer: str, note: str | None = None) -> dict[str, Any]:
        """Accept each listed (id, version) whose version is still current; the others are reported, not written."""
        if len(items) > MAX_BULK:
            raise InvalidReview(f"at most {MAX_BULK} documents per bulk accept, not {len(items)}")
        found = self.labels.get_labels([item.id for item in items])
        out: dict[str, list] = {"accepted": [], "conflicts": [], "missing": [], "refused": []}
        for item in items:
            doc = found.get(item.id)
            if doc is None:
                out["missing"].append(item.id)
                continue
            try:
                if _version(doc) != item.version:
                    raise _stale(item.id, item.version, doc)
                if not doc.get("labels"):
                    raise InvalidReview("no label to accept")
                chosen = doc["labels"]
                self._decide(doc, item.version, reviewer, "bulk_accept", VERIFIED, chosen,
                             self._curriculum_of(doc, chosen), note, view=False)  # fmt: skip
                out["accepted"].append(item.id)
            except StaleVersion as exc:
                out["conflicts"].append({"id": item.id, "version": _version(exc.current)})
            except InvalidReview as exc:
                out["refused"].append({"id": item.id, "reason": str(exc)})
        return out

    def _curriculum_of(self, doc: dict[str, Any], codes: Sequence[str]) -> str:
        """The one curriculum the chosen codes belong to: the candidates' when they name it, else the document's
        first curriculum that has the first code."""
        by_code = {c.get("code"): c.get("curriculum") for c in doc.get("candidates") or []}
        named = by_code.get(codes[0]) if codes else None
        if named:
            return named
        curricula = expand_curricula(doc.get("curriculum") or "")
        for cid in curricula:
            try:
                if codes and codes[0] in {row["code"] for row in self.index(cid).standards}:
                    return cid
            except InvalidReview:
                continue
        if not curricula:
            raise InvalidReview(f"{doc['_id']!r} names no curriculum: choose the standards with one")
        return curricula[0]

    def _decide(
        self,
        doc: dict[str, Any],
        version: int,
        reviewer: str,
        action: str,
        status: str,
        labels: list[str],
        curriculum: str | None,
        note: str | None,
        reason: str | None = None,
        *,
        view: bool = True,
    ) -> dict[str, Any]:
        at = _now()
        said = REJECT_REASONS[reason] if reason else ("corrected" if action == "correct" else "verified")
        decision = {"status": status, "reasons": [f"{said} by {reviewer}"], "reason_kinds": [], "by": reviewer,
                    "at": at}  # fmt: skip
        if reason:
            decision["reject_reason"] = reason
        verification = {"by": reviewer, "at": at, "action": action, "based_on": doc["_id"]}
        if note:
            verification["note"] = note
        changes = {"decision": decision, "labels": labels, "verification": verification, "current": True,
                   "superseded_by": None, "superseded_at": None, "reviewed_from": _snapshot(doc)}  # fmt: skip
        if curriculum and status == VERIFIED:
            changes["curriculum"] = curriculum
        before = {"status": (doc.get("decision") or {}).get("status"), "labels": doc.get("labels") or []}
        after = {"status": status, "labels": labels, "curriculum": changes.get("curriculum", doc.get("curriculum"))}
        updated = self._update(doc, version, changes, _event(doc, reviewer, action, before, after, note, at))
        self._supersede_others(updated, at)
        top1 = ((doc.get("candidates") or [{}])[0]).get("code")  # the model's own first choice
        kept = status == VERIFIED and bool(labels) and labels[0] == top1
        events.emit(events.ReviewDecided(
            doc_id=doc["_id"], decision=action, reviewer=reviewer, model_version=str(doc.get("model_version") or ""),
            curriculum=str(after["curriculum"] or ""), kept_top1=kept,
        ))  # fmt: skip
        return self.view(updated) if view else updated

    def _update(self, doc: dict[str, Any], version: int, changes: dict[str, Any], event: dict) -> dict[str, Any]:
        try:
            return self.labels.update_label(doc["_id"], changes, expected_version=version, event=event)
        except VersionConflict as exc:
            raise _stale(doc["_id"], version, exc.current) from exc
        except LabelNotFound as exc:
            raise DocumentNotFound(f"no label document {doc['_id']!r}") from exc

    def _supersede_others(self, reviewed: dict[str, Any], at: datetime) -> None:
        """The problem's other current documents leave the queue and the snapshots: the reviewed one replaces them.

        Left alone: a reviewer's decision for another curriculum (the same problem verified for kr-2015 and kr-2022),
        one made after this one (two reviewers on two documents of the problem: the later decision stands), and a
        document that changed since it was read (its version is checked).
        """
        others = find_by_keys(self.labels, [stored_problem_key(reviewed)], {"current": {"$ne": False}})
        for other in others:
            decided = (other.get("decision") or {}).get("status") in HUMAN_DECISIONS
            if other["_id"] == reviewed["_id"] or (
                decided
                and (
                    other.get("curriculum") != reviewed.get("curriculum")
                    or (other.get("verification") or {}).get("at", at) > at
                )
            ):
                continue
            changes = {"current": False, "superseded_by": reviewed["_id"], "superseded_at": at}
            try:
                self.labels.update_label(other["_id"], changes, expected_version=_version(other))
            except (LabelNotFound, VersionConflict):
                continue

    # ---------------------------------------------------------------------------------------------- labeling

    def label_now(self, problems: Sequence[dict[str, Any]], *, curriculum: str, source: str) -> list[dict[str, Any]]:
        """Label ``problems`` (problem records) now with the curriculum's current labeler, store the label documents
        as a batch would, and return their views. A problem already labeled by that labeler with the same content
        is not labeled again.

        Raises:
            InvalidReview: a record that is not a valid problem, or no labeler is configured.
        """
        from review.on_demand import label_problems

        if self.labeler_for is None:
            raise InvalidReview("on-demand labeling is not configured on this server")
        index = self.index(curriculum)
        docs = label_problems(problems, index=index, labeler=self.labeler_for(index), labels=self.labels,
                              source=source, **self.on_demand)  # fmt: skip
        return [self.view(doc) for doc in docs]


def _stale(doc_id: str, version: int, current: dict[str, Any]) -> StaleVersion:
    """The error of a review based on ``version`` of a document now at another: who changed it, as it tells."""
    if current.get("current") is False and current.get("superseded_by"):  # another document of it was reviewed
        why = f"superseded by {current['superseded_by']!r}"
    else:
        why = f"by {(current.get('verification') or {}).get('by') or 'the labeling run'}"
    return StaleVersion(f"{doc_id!r} changed since version {version} (now version {_version(current)}, {why})", current)


def _snapshot(doc: dict[str, Any]) -> dict[str, Any]:
    """What the machine had said, kept on the reviewed document (the event log keeps every step)."""
    decision = doc.get("decision") or {}
    return {"status": decision.get("status"), "labels": doc.get("labels") or [], "version": _version(doc),
            "reasons": decision.get("reasons") or []}  # fmt: skip


def _event(
    doc: dict[str, Any],
    reviewer: str,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any],
    note: str | None,
    at: datetime | None = None,
) -> dict[str, Any]:
    version = _version(doc)
    event = {"doc_id": doc["_id"], "problem_key": stored_problem_key(doc), "by": reviewer,
             "at": at or _now(), "action": action, "before": before | {"version": version},
             "after": after | {"version": version + 1}}  # fmt: skip
    if note:
        event["note"] = note
    return event


# ----------------------------------------------------------------------------------------------------- views


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def queue_row(doc: dict[str, Any]) -> dict[str, Any]:
    """One row of the queue list."""
    candidates = doc.get("candidates") or []
    labels = doc.get("labels") or []
    decision = doc.get("decision") or {}
    text = (doc.get("input") or {}).get("text") or ""
    return {
        "id": doc["_id"],
        "problem_id": doc.get("problem_id"),
        "run_id": doc.get("run_id"),
        "curriculum": doc.get("curriculum"),
        "status": decision.get("status"),
        "code": labels[0] if labels else None,
        "score": candidates[0].get("score") if candidates else None,
        "margin": doc.get("margin"),
        "reason_kinds": decision.get("reason_kinds") or [],
        "source": "page" if (doc.get("input") or {}).get("page") else "text",
        "preview": text[:140],
        "version": _version(doc),
        "created_at": _iso(doc.get("created_at")),
    }


def _crop_regions(page: dict[str, Any], regions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The OCR regions in the crop's pixels (the crop is the problem's box, padded by ``CROP_PAD``)."""
    box = page.get("box") or [0, 0, 0, 0]
    x0, y0 = max(0, box[0] - CROP_PAD), max(0, box[1] - CROP_PAD)
    if page.get("page") is None:  # a single-image record: the crop is the image itself
        x0 = y0 = 0
    out = []
    for region in regions:
        rx0, ry0, rx1, ry1 = region.get("box") or (0, 0, 0, 0)
        out.append({"box": [rx0 - x0, ry0 - y0, rx1 - x0, ry1 - y0], "label": region.get("cls"),
                    "text": region.get("text") or ""})  # fmt: skip
    return out


def label_view(
    doc: dict[str, Any],
    *,
    standards: dict[tuple[str, str], dict[str, Any]],
    events: list[dict[str, Any]],
    versions: list[dict[str, Any]],
) -> dict[str, Any]:
    """The label document as the review page and the API show it (no store path or bucket URL in it)."""
    input_ = doc.get("input") or {}
    decision = doc.get("decision") or {}
    page = input_.get("page")

    def ref(curriculum: str, code: str) -> dict[str, Any]:
        row = standards.get((curriculum, code)) or {}
        return {"code": code, "text": row.get("text")}

    candidates = []
    for rank, cand in enumerate(doc.get("candidates") or [], start=1):
        cid = cand.get("curriculum") or ""
        row = standards.get((cid, cand.get("code")), {})
        candidates.append({
            "rank": rank,
            "code": cand.get("code"),
            "curriculum": cid,
            "score": cand.get("score"),
            "text": cand.get("text") or row.get("text"),
            "explanation": row.get("explanation"),
            "breadcrumbs": cand.get("breadcrumbs") or [],
            "prerequisites": [ref(cid, c) for c in cand.get("prerequisites") or []],
            "related": [ref(cid, c) for c in cand.get("related") or []],
            "via": cand.get("via"),
        })  # fmt: skip
    view_page = None
    if page:
        ocr = input_.get("ocr") or {}
        view_page = {
            "crop_url": f"api/v1/labels/{quote(doc['_id'], safe='')}/crop" if page.get("crop") else None,
            "page": page.get("page"),
            "number": page.get("number"),
            "regions": _crop_regions(page, input_.get("regions") or []),
            "ocr_text": ocr.get("text"),
            "ocr_confidence": ocr.get("confidence"),
        }
    verification = doc.get("verification")
    return {
        "id": doc["_id"],
        "version": _version(doc),
        "problem_id": doc.get("problem_id"),
        "problem_key": stored_problem_key(doc),
        "run_id": doc.get("run_id"),
        "curriculum": doc.get("curriculum"),
        "model_version": doc.get("model_version"),
        "source": "page" if page else "text",
        "status": decision.get("status"),
        "labels": doc.get("labels") or [],
        "reasons": decision.get("reasons") or [],
        "reason_kinds": decision.get("reason_kinds") or [],
        "text": input_.get("text") or "",
        "metadata": doc.get("metadata") or {},
        "page": view_page,
        "candidates": candidates,
        "review": {k: _iso(verification.get(k)) for k in ("by", "at", "action", "note")} if verification else None,
        "history": [
            {k: _iso(e.get(k)) for k in ("doc_id", "at", "by", "action", "before", "after", "note")} for e in events
        ],
        "versions": [{k: _iso(v) for k, v in version_row(d).items()} for d in versions if d["_id"] != doc["_id"]],
        "created_at": _iso(doc.get("created_at")),
        "updated_at": _iso(doc.get("updated_at")),
    }


__all__ = ["NEEDS_REVIEW", "REJECTED", "REJECT_REASONS", "BulkItem", "ReviewWorkspace", "label_view", "queue_row"]
