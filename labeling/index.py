"""The target curricula as read from the graph once per task: standards, terms, prerequisites, the retriever."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from graph_seed import cypher
from labeling.errors import LabelingError
from labeling.retrieval import LexicalRetriever
from labeling.validation import ProblemSuite
from stores.graph import GraphStore


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
