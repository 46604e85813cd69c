"""Read queries of the curriculum graph, as functions of a graph store (used by the labeler and the review UI)."""

from __future__ import annotations

from typing import Any

from graph_seed import cypher
from graph_seed.seed import graph_counts
from stores.graph import GraphStore


def get_standard(store: GraphStore, curriculum: str, code: str) -> dict[str, Any] | None:
    """A standard with its breadcrumbs (curriculum > grade band/course > 영역 > 내용 요소) and terms."""
    rows = store.run(*cypher.get_standard(curriculum, code))
    if not rows:
        return None
    standard = rows[0]
    standard["breadcrumbs"] = [
        part for part in (curriculum, standard["grade_band"], standard["domain"], standard["content_element"]) if part
    ]
    standard["terms"] = [row["name"] for row in store.run(*cypher.standard_terms(curriculum, code))]
    return standard


def prerequisites(store: GraphStore, curriculum: str, code: str, depth: int = 1) -> list[dict[str, Any]]:
    """Standards that lead to ``code`` within ``depth`` PREREQUISITE_OF hops, nearest first."""
    return store.run(*cypher.neighbours(curriculum, code, "up", depth))


def dependents(store: GraphStore, curriculum: str, code: str, depth: int = 1) -> list[dict[str, Any]]:
    """Standards that build on ``code`` within ``depth`` hops, nearest first."""
    return store.run(*cypher.neighbours(curriculum, code, "down", depth))


def standards_of_group(store: GraphStore, curriculum: str, group: str) -> list[dict[str, Any]]:
    """The standards of a grade band (``중1-3``, ``Grade 4``) or a course (``공통수학1``)."""
    return store.run(*cypher.standards_of_group(curriculum, group))


def export_curriculum(store: GraphStore, curriculum: str) -> list[dict[str, Any]]:
    """Every standard of a curriculum with its breadcrumbs, for in-memory retrieval indexes."""
    return store.run(*cypher.export_standards(curriculum))


def stats(store: GraphStore) -> dict[str, dict[str, Any]]:
    """Per curriculum: standards, domains, grade bands/courses, content elements, terms, edges by type and source."""
    out: dict[str, dict[str, Any]] = {}
    for row in store.run(*cypher.curricula()):
        nodes, edges = graph_counts(store, row["id"])
        out[row["id"]] = {
            "name": row["name"],
            "version": f"{row['id']}@{(row['source_hash'] or 'unseeded')[:12]}",
            "standards": nodes.get("Standard", 0),
            "domains": nodes.get("Domain", 0),
            "grade_bands": nodes.get("GradeBand", 0),
            "courses": nodes.get("Course", 0),
            "content_elements": nodes.get("ContentElement", 0),
            "terms": nodes.get("Term", 0),
            "edges": edges,
        }
    return out
