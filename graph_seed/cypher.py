"""Cypher for the curriculum graph: pure functions returning (query, params), run on Neo4j and FalkorDB alike.

Every write is a MERGE on a natural key (``uid``, always prefixed by the curriculum id), batched with UNWIND, so
seeding twice changes nothing and one curriculum never touches another's nodes. Where the two dialects differ
(index creation), the difference lives in one small ``Dialect`` per backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Statement = tuple[str, dict[str, Any]]

# Node labels of a curriculum; each node carries ``uid`` and ``curriculum``.
NODE_LABELS = ("Curriculum", "GradeBand", "Course", "Domain", "ContentElement", "Standard", "Term")
GROUP_EDGE = {"GradeBand": "HAS_GRADE_BAND", "Course": "HAS_COURSE"}
STANDARD_EDGES = ("PREREQUISITE_OF", "RELATED_TO")
EDGE_TYPES = (*GROUP_EDGE.values(), "HAS_DOMAIN", "HAS_CONTENT_ELEMENT", "HAS_STANDARD", "HAS_TERM", "USES_TERM",
              *STANDARD_EDGES)  # fmt: skip
MAX_DEPTH = 10


@dataclass(frozen=True)
class Dialect:
    """What differs between Neo4j and FalkorDB Cypher."""

    backend: str

    def index_statements(self) -> list[str]:
        if self.backend == "neo4j":
            stmts = [
                f"CREATE CONSTRAINT {label.lower()}_uid IF NOT EXISTS FOR (n:{label}) REQUIRE n.uid IS UNIQUE"
                for label in NODE_LABELS
            ]
            stmts += [
                f"CREATE INDEX {label.lower()}_curriculum IF NOT EXISTS FOR (n:{label}) ON (n.curriculum)"
                for label in NODE_LABELS
            ]
            return stmts
        # FalkorDB has no IF NOT EXISTS; a repeated CREATE INDEX fails with "already indexed" (ignored by the seeder).
        stmts = [f"CREATE INDEX FOR (n:{label}) ON (n.uid)" for label in NODE_LABELS]
        stmts += [f"CREATE INDEX FOR (n:{label}) ON (n.curriculum)" for label in NODE_LABELS]
        return stmts

    @staticmethod
    def is_repeat_error(message: str) -> bool:
        return "already indexed" in message.lower() or "already exists" in message.lower()


def dialect_for(backend: str) -> Dialect:
    if backend not in {"neo4j", "falkordb"}:
        raise ValueError(f"no Cypher dialect for backend {backend!r}")
    return Dialect(backend)


def _label(label: str) -> str:
    """Labels and relationship types cannot be parameters; only our own constants may reach the query text."""
    if label not in NODE_LABELS and label not in EDGE_TYPES:
        raise ValueError(f"unknown label {label!r}")
    return label


def merge_curriculum(curriculum_id: str, name: str) -> Statement:
    # The source hash is written last (set_curriculum_hash), so an interrupted seed is redone next time.
    return (
        "MERGE (c:Curriculum {uid: $id}) SET c.id = $id, c.curriculum = $id, c.name = $name",
        {"id": curriculum_id, "name": name},
    )


def set_curriculum_hash(curriculum_id: str, source_hash: str) -> Statement:
    return ("MATCH (c:Curriculum {uid: $id}) SET c.source_hash = $hash", {"id": curriculum_id, "hash": source_hash})


def curriculum_hash(curriculum_id: str) -> Statement:
    return ("MATCH (c:Curriculum {uid: $id}) RETURN c.source_hash AS source_hash", {"id": curriculum_id})


def merge_nodes(label: str, rows: list[dict[str, Any]]) -> Statement:
    """Nodes of one label; ``SET n = r.props`` also drops properties that left the source."""
    return (f"UNWIND $rows AS r MERGE (n:{_label(label)} {{uid: r.uid}}) SET n = r.props", {"rows": rows})


def merge_edges(from_label: str, edge: str, to_label: str, rows: list[dict[str, Any]]) -> Statement:
    """Edges between existing nodes, keyed by (from, to) and, for standard-to-standard edges, ``source``."""
    key = " {source: r.source}" if edge in STANDARD_EDGES else ""
    return (
        f"UNWIND $rows AS r "
        f"MATCH (a:{_label(from_label)} {{uid: r.from}}), (b:{_label(to_label)} {{uid: r.to}}) "
        f"MERGE (a)-[e:{_label(edge)}{key}]->(b) SET e += r.props",
        {"rows": rows},
    )


def prune_nodes(label: str, curriculum_id: str, keep: list[str]) -> Statement:
    """Delete this curriculum's nodes of ``label`` that are no longer in the source, with their edges."""
    return (
        f"MATCH (n:{_label(label)} {{curriculum: $c}}) WHERE NOT n.uid IN $keep DETACH DELETE n",
        {"c": curriculum_id, "keep": keep},
    )


def prune_edges(curriculum_id: str, keep: list[str]) -> Statement:
    """Delete edges inside this curriculum whose key (type|from|to|source) is no longer in the source."""
    return (
        "MATCH (a {curriculum: $c})-[e]->(b {curriculum: $c}) "
        "WHERE NOT (type(e) + '|' + a.uid + '|' + b.uid + '|' + coalesce(e.source, '')) IN $keep DELETE e",
        {"c": curriculum_id, "keep": keep},
    )


def edge_key(edge: str, from_uid: str, to_uid: str, source: str = "") -> str:
    """The key ``prune_edges`` compares against; built the same way in Python and in Cypher."""
    return f"{edge}|{from_uid}|{to_uid}|{source}"


def count_nodes() -> Statement:
    return ("MATCH (n) RETURN labels(n)[0] AS label, count(n) AS n", {})


def count_curriculum_standards(curriculum_id: str) -> Statement:
    return ("MATCH (s:Standard {curriculum: $curriculum}) RETURN count(s) AS n", {"curriculum": curriculum_id})


def curriculum_node_counts(curriculum_id: str) -> Statement:
    return (
        "MATCH (n {curriculum: $c}) RETURN labels(n)[0] AS label, count(n) AS n",
        {"c": curriculum_id},
    )


def curriculum_edge_counts(curriculum_id: str) -> Statement:
    return (
        "MATCH (a {curriculum: $c})-[e]->(b {curriculum: $c}) "
        "RETURN type(e) AS type, coalesce(e.source, '') AS source, count(e) AS n",
        {"c": curriculum_id},
    )


def curricula() -> Statement:
    return ("MATCH (c:Curriculum) RETURN c.uid AS id, c.name AS name, c.source_hash AS source_hash ORDER BY id", {})


_STANDARD_FIELDS = (
    "s.uid AS uid, s.curriculum AS curriculum, s.code AS code, s.text AS text, s.school_level AS school_level, "
    "s.group AS grade_band, "
    "s.grade_group AS grade_group, s.domain AS domain, s.content_element AS content_element, s.order AS order, "
    "s.explanation AS explanation, s.considerations AS considerations, s.achievement_levels AS achievement_levels"
)


def export_standards(curriculum_id: str) -> Statement:
    """Every standard of a curriculum with its breadcrumbs, for building in-memory retrieval indexes."""
    return (
        f"MATCH (s:Standard {{curriculum: $curriculum}}) RETURN {_STANDARD_FIELDS} ORDER BY s.uid",
        {"curriculum": curriculum_id},
    )


def export_terms(curriculum_id: str) -> Statement:
    """(standard code, term) pairs of a curriculum, for retrieval documents."""
    return (
        "MATCH (s:Standard {curriculum: $curriculum})-[:USES_TERM]->(t:Term) RETURN s.code AS code, t.name AS term",
        {"curriculum": curriculum_id},
    )


def export_prerequisites(curriculum_id: str) -> Statement:
    """(prerequisite code, dependent code) pairs of a curriculum, for the LLM's and reviewers' graph context."""
    return (
        "MATCH (a:Standard {curriculum: $curriculum})-[:PREREQUISITE_OF]->(b:Standard) "
        "RETURN DISTINCT a.code AS before, b.code AS code",
        {"curriculum": curriculum_id},
    )


def export_related(curriculum_id: str) -> Statement:
    """(code, code) pairs of related standards of a curriculum (each pair once, in its stored direction)."""
    return (
        "MATCH (a:Standard {curriculum: $curriculum})-[:RELATED_TO]->(b:Standard) "
        "RETURN DISTINCT a.code AS code, b.code AS other",
        {"curriculum": curriculum_id},
    )


def get_standard(curriculum_id: str, code: str) -> Statement:
    return (
        f"MATCH (s:Standard {{uid: $uid}}) RETURN {_STANDARD_FIELDS}",
        {"uid": f"{curriculum_id}:{code}"},
    )


def standard_terms(curriculum_id: str, code: str) -> Statement:
    return (
        "MATCH (s:Standard {uid: $uid})-[:USES_TERM]->(t:Term) RETURN t.name AS name ORDER BY name",
        {"uid": f"{curriculum_id}:{code}"},
    )


def neighbours(curriculum_id: str, code: str, direction: str, depth: int) -> Statement:
    """Prerequisites (``up``) or dependents (``down``) of a standard to ``depth`` hops, nearest first."""
    if not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be an integer from 1 to {MAX_DEPTH}, not {depth!r}")
    arrow = "(n:Standard)-[rels:PREREQUISITE_OF*1..{d}]->(s)" if direction == "up" else (
        "(s)-[rels:PREREQUISITE_OF*1..{d}]->(n:Standard)"
    )  # fmt: skip
    if direction not in {"up", "down"}:
        raise ValueError("direction must be 'up' (prerequisites) or 'down' (dependents)")
    pattern = arrow.format(d=depth)
    return (
        f"MATCH (s:Standard {{uid: $uid}}) MATCH p = {pattern} "
        "WITH n, min(length(p)) AS distance "
        "RETURN n.code AS code, n.text AS text, n.group AS grade_band, distance ORDER BY distance, code",
        {"uid": f"{curriculum_id}:{code}"},
    )


def standards_of_group(curriculum_id: str, group: str) -> Statement:
    """The standards of one grade band or course, in curriculum order."""
    return (
        "MATCH (g {uid: $uid})-[:HAS_DOMAIN]->(:Domain)-[:HAS_CONTENT_ELEMENT|HAS_STANDARD*1..2]->(s:Standard) "
        "RETURN DISTINCT s.code AS code, s.text AS text, s.domain AS domain, s.order AS order ORDER BY order, code",
        {"uid": f"{curriculum_id}:{group}"},
    )
