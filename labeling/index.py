"""The target curricula as read from the graph once per task: standards, terms, prerequisites, the retrievers; and
the problems reviewers verified for them, which the cold-start labeler indexes with their standards."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cached_property
from typing import Any

from graph_seed import cypher
from labeling.documents import VERIFIED
from labeling.errors import LabelingError
from labeling.retrieval import Candidate, LexicalRetriever, candidate
from labeling.schemas import stored_problem_key
from labeling.validation import ProblemSuite
from stores.graph import GraphStore
from stores.labels import LabelStore

EXPAND_FROM = 3  # the best candidates whose graph neighbours an LLM may also choose
EXPAND_MAX = 5  # neighbours added at most
EXAMPLES_PER_STANDARD = 20  # verified problems a standard's retrieval document takes at most (the latest)


def current_verified(reader: LabelStore, curriculum: str) -> list[dict[str, Any]]:
    """The current verification of every problem (``problem_key``) verified for ``curriculum``, by key."""
    docs = reader.find_labels({"decision.status": VERIFIED, "current": True, "curriculum": curriculum})
    latest: dict[str, dict[str, Any]] = {}
    for doc in docs:  # two current documents of one problem only after a crash mid-import: the later one wins
        key = stored_problem_key(doc)
        seen = latest.get(key)
        if seen is None or doc["verification"]["at"] > seen["verification"]["at"]:
            latest[key] = doc
    return [latest[key] for key in sorted(latest)]


def examples_by_code(verified: Iterable[tuple[list[str], str | None]]) -> dict[str, list[str]]:
    """code → the texts of the problems verified with it, in the order given ((codes, text) pairs; no text, no
    example)."""
    out: dict[str, list[str]] = {}
    for codes, text in verified:
        for code in codes if text else ():
            out.setdefault(code, []).append(text)
    return out


def neighbours(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """code → its neighbours from (code, neighbour) pairs, each once, in first-seen order.

    A pair comes twice when both directions of a related edge are stored, or when the curricula of a run (kr-2022
    and kr-2015) reuse a code string.
    """
    out: dict[str, dict[str, None]] = {}
    for code, other in pairs:
        out.setdefault(code, {})[other] = None
    return {code: list(others) for code, others in out.items()}


def _edition_order(cid: str) -> tuple[str, int, int, str]:
    """Curricula of one family together (``kr-…``), the newest edition first."""
    family, _, edition = cid.rpartition("-")
    year = int(edition) if edition.isdigit() else None
    return (family or cid, year is None, -(year or 0), cid)


def expand_curricula(spec: str | list[str]) -> list[str]:
    """The curriculum ids a spec names, each once and in one order whatever the spelling: ``kr`` means kr-2022 and
    kr-2015 together; a comma-separated string or a list names several (``kr``, ``kr-2022,kr-2015`` and
    `` kr-2015, kr-2022`` all give ``["kr-2022", "kr-2015"]``)."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    out: set[str] = set()
    for name in (n.strip() for n in names if n.strip()):
        out.update(("kr-2022", "kr-2015") if name == "kr" else (name,))
    return sorted(out, key=_edition_order)


def curriculum_id(spec: str | list[str]) -> str:
    """The one spelling of a curriculum spec that content hashes, label documents and queries use."""
    return ",".join(expand_curricula(spec))


class CurriculumIndex:
    """The target curricula as read from the graph once per task; the retrievers are built on first use.

    ``labels``: the label store whose current verified labels for these curricula become examples in the cold-start
    labeler's documents; ``examples`` (code → problem texts) gives them directly instead (``mathlabel bench``).
    ``without`` names fields of the export left out of every standard (``explanation``, ``achievement_levels``,
    ``terms``): ``mathlabel bench --hold-out`` tests on the curriculum's own texts that the index must not hold.
    """

    def __init__(
        self,
        graph: GraphStore,
        curriculum: str | list[str],
        *,
        labels: LabelStore | None = None,
        examples: dict[str, list[str]] | None = None,
        without: tuple[str, ...] = (),
    ) -> None:
        self.graph = graph
        self.without = without
        self.curricula = expand_curricula(curriculum)
        self.curriculum = curriculum_id(self.curricula)
        self.labels = labels
        self._examples = examples

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
        return [{k: v for k, v in row.items() if k not in self.without} for row in rows]

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
        pairs = (
            (row["code"], row["before"])
            for cid in self.curricula
            for row in self.graph.run(*cypher.export_prerequisites(cid))
        )
        return neighbours(pairs)

    @cached_property
    def successors(self) -> dict[str, list[str]]:
        """code → the codes that have it as a direct prerequisite."""
        return neighbours((before, code) for code, befores in self.prerequisites.items() for before in befores)

    @cached_property
    def related(self) -> dict[str, list[str]]:
        """code → the codes of the standards related to it (the relation has no direction)."""
        rows = (row for cid in self.curricula for row in self.graph.run(*cypher.export_related(cid)))
        return neighbours(pair for r in rows for pair in ((r["code"], r["other"]), (r["other"], r["code"])))

    def context(self, codes: list[str]) -> dict[str, dict[str, Any]]:
        """Graph context of each code for the LLM: its direct prerequisites and related standards."""
        return {
            code: {
                "prerequisites": sorted(self.prerequisites.get(code, [])),
                "related": sorted(self.related.get(code, [])),
            }
            for code in codes
        }

    def expand(self, candidates: list[Candidate], top: int = EXPAND_FROM, limit: int = EXPAND_MAX) -> list[Candidate]:
        """The graph neighbours of the ``top`` best candidates that are not candidates yet, at most ``limit``.

        They join the candidates an LLM may choose from (a problem that fits a prerequisite of the best match better
        can then be labeled with it) with score 0 and ``via`` saying how they were reached; the ranking is unchanged.
        """
        seen = {c.code for c in candidates}
        out: list[Candidate] = []
        for source in candidates[:top]:
            for relation, codes in (
                ("prerequisite of", self.prerequisites.get(source.code, [])),
                ("builds on", self.successors.get(source.code, [])),
                ("related to", self.related.get(source.code, [])),
            ):
                for code in sorted(codes):
                    if code in seen or code not in self.by_code:
                        continue
                    seen.add(code)
                    out.append(candidate(self.by_code[code], 0.0, via=f"{relation} {source.code}"))
                    if len(out) == limit:
                        return out
        return out

    @cached_property
    def retriever(self) -> LexicalRetriever:
        """Ranks by the graph's texts alone: what the trained labeler blends with, and the agent's search."""
        return LexicalRetriever(self.standards)

    @cached_property
    def examples(self) -> dict[str, list[str]]:
        """code → texts of problems verified with it, the latest first, at most ``EXAMPLES_PER_STANDARD``."""
        given = self._examples
        if given is None and self.labels is not None:
            docs = sorted(current_verified(self.labels, self.curriculum), key=lambda d: d["verification"]["at"])
            given = examples_by_code((doc["labels"], doc["input"].get("text")) for doc in reversed(docs))
        return {code: texts[:EXAMPLES_PER_STANDARD] for code, texts in (given or {}).items() if code in self.by_code}

    @cached_property
    def cold_start(self) -> LexicalRetriever:
        """The cold-start labeler: the retriever, with each standard's verified examples in its document."""
        examples = self.examples
        if not examples:
            return self.retriever
        return LexicalRetriever(self.standards, examples=examples)
