"""Cypher for the curriculum graph: pure functions returning (query, params), run on Neo4j and FalkorDB alike.

Every write is a MERGE on a natural key (``uid``), batched with UNWIND, so seeding twice changes nothing.
"""

from __future__ import annotations

from typing import Any

Statement = tuple[str, dict[str, Any]]

# Labels that carry a unique ``uid`` (Curriculum uses ``id``).
UID_LABELS = ("GradeBand", "Course", "Domain", "ContentElement", "Standard")
GROUP_EDGE = {"GradeBand": "HAS_GRADE_BAND", "Course": "HAS_COURSE"}


def index_statements(backend: str) -> list[str]:
    """Index creation differs by dialect: Neo4j has IF NOT EXISTS, FalkorDB errors on a repeat (ignored by caller)."""
    if backend == "neo4j":
        stmts = ["CREATE CONSTRAINT curriculum_id IF NOT EXISTS FOR (c:Curriculum) REQUIRE c.id IS UNIQUE"]
        stmts += [
            f"CREATE CONSTRAINT {label.lower()}_uid IF NOT EXISTS FOR (n:{label}) REQUIRE n.uid IS UNIQUE"
            for label in UID_LABELS
        ]
        stmts.append("CREATE INDEX standard_curriculum IF NOT EXISTS FOR (s:Standard) ON (s.curriculum)")
        return stmts
    stmts = ["CREATE INDEX FOR (c:Curriculum) ON (c.id)"]
    stmts += [f"CREATE INDEX FOR (n:{label}) ON (n.uid)" for label in UID_LABELS]
    stmts.append("CREATE INDEX FOR (s:Standard) ON (s.curriculum)")
    return stmts


def merge_curriculum(curriculum_id: str, name: str, source_hash: str) -> Statement:
    return (
        "MERGE (c:Curriculum {id: $id}) SET c.name = $name, c.source_hash = $source_hash",
        {"id": curriculum_id, "name": name, "source_hash": source_hash},
    )


def merge_groups(kind: str, curriculum_id: str, rows: list[dict[str, Any]]) -> Statement:
    """Grade bands or courses under their curriculum. ``kind`` is a fixed label, never user input."""
    edge = GROUP_EDGE[kind]
    return (
        f"MATCH (c:Curriculum {{id: $curriculum}}) "
        f"UNWIND $rows AS r "
        f"MERGE (g:{kind} {{uid: r.uid}}) "
        f"SET g.name = r.name, g.curriculum = $curriculum, g.school_level = r.school_level, "
        f"g.grade_group = r.grade_group, g.order = r.order "
        f"MERGE (c)-[:{edge}]->(g)",
        {"curriculum": curriculum_id, "rows": rows},
    )


def merge_domains(parent_kind: str, curriculum_id: str, rows: list[dict[str, Any]]) -> Statement:
    return (
        f"UNWIND $rows AS r "
        f"MATCH (g:{parent_kind} {{uid: r.parent}}) "
        f"MERGE (d:Domain {{uid: r.uid}}) "
        f"SET d.name = r.name, d.curriculum = $curriculum, d.order = r.order "
        f"MERGE (g)-[:HAS_DOMAIN]->(d)",
        {"curriculum": curriculum_id, "rows": rows},
    )


def merge_content_elements(curriculum_id: str, rows: list[dict[str, Any]]) -> Statement:
    return (
        "UNWIND $rows AS r "
        "MATCH (d:Domain {uid: r.parent}) "
        "MERGE (e:ContentElement {uid: r.uid}) "
        "SET e.name = r.name, e.curriculum = $curriculum "
        "MERGE (d)-[:HAS_CONTENT_ELEMENT]->(e)",
        {"curriculum": curriculum_id, "rows": rows},
    )


def merge_standards(parent_label: str, rows: list[dict[str, Any]]) -> Statement:
    """Standards under a content element, or directly under a domain when the source has none."""
    return (
        f"UNWIND $rows AS r "
        f"MATCH (p:{parent_label} {{uid: r.parent}}) "
        f"MERGE (s:Standard {{uid: r.uid}}) "
        f"SET s += r.props "
        f"MERGE (p)-[:HAS_STANDARD]->(s)",
        {"rows": rows},
    )


def count_nodes() -> Statement:
    return ("MATCH (n) RETURN labels(n)[0] AS label, count(n) AS n", {})


def count_curriculum_standards(curriculum_id: str) -> Statement:
    return ("MATCH (s:Standard {curriculum: $curriculum}) RETURN count(s) AS n", {"curriculum": curriculum_id})


def curriculum_version(curriculum_id: str) -> Statement:
    return ("MATCH (c:Curriculum {id: $id}) RETURN c.source_hash AS source_hash", {"id": curriculum_id})


def export_standards(curriculum_id: str) -> Statement:
    """Every standard of a curriculum with its breadcrumbs, for building in-memory retrieval indexes."""
    return (
        "MATCH (s:Standard {curriculum: $curriculum}) "
        "RETURN s.uid AS uid, s.code AS code, s.text AS text, s.school_level AS school_level, "
        "s.group AS grade_band, s.grade_group AS grade_group, s.domain AS domain, "
        "s.content_element AS content_element, s.order AS order "
        "ORDER BY s.uid",
        {"curriculum": curriculum_id},
    )
