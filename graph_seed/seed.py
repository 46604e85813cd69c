"""Seeding: write a validated curriculum into a graph store, idempotently."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from graph_seed import cypher
from graph_seed.models import Curriculum
from stores.errors import StoreError
from stores.graph import GraphStore

log = logging.getLogger(__name__)
BATCH = 500


@dataclass
class SeedResult:
    curriculum: str
    version: str
    standards: int
    nodes_by_label: dict[str, int] = field(default_factory=dict)


def _batches(rows: list[dict[str, Any]], size: int = BATCH) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def graph_rows(curriculum: Curriculum) -> dict[str, Any]:
    """Turn the model into the row lists the MERGE statements take (pure; tested without a server)."""
    cid = curriculum.id
    groups: dict[str, dict[str, dict[str, Any]]] = {"GradeBand": {}, "Course": {}}
    domains: dict[str, dict[str, dict[str, Any]]] = {"GradeBand": {}, "Course": {}}
    elements: dict[str, dict[str, Any]] = {}
    standards: dict[str, list[dict[str, Any]]] = {"ContentElement": [], "Domain": []}
    for standard in curriculum.standards:
        group_uid = f"{cid}:{standard.group}"
        groups[standard.group_kind].setdefault(
            group_uid,
            {
                "uid": group_uid,
                "name": standard.group,
                "school_level": standard.school_level,
                "grade_group": standard.grade_group,
                "order": len(groups[standard.group_kind]) + 1,
            },
        )
        domain_uid = f"{group_uid}:{standard.domain}"
        domains[standard.group_kind].setdefault(
            domain_uid,
            {"uid": domain_uid, "parent": group_uid, "name": standard.domain, "order": standard.domain_order},
        )
        parent_label, parent_uid = "Domain", domain_uid
        if standard.content_element:
            parent_label, parent_uid = "ContentElement", f"{domain_uid}:{standard.content_element}"
            elements.setdefault(parent_uid, {"uid": parent_uid, "parent": domain_uid, "name": standard.content_element})
        props = {
            "uid": f"{cid}:{standard.code}",
            "code": standard.code,
            "curriculum": cid,
            "text": standard.text,
            "school_level": standard.school_level,
            "group": standard.group,
            "grade_group": standard.grade_group,
            "domain": standard.domain,
            "content_element": standard.content_element or "",
            "order": standard.order,
        }
        standards[parent_label].append({"uid": props["uid"], "parent": parent_uid, "props": props})
    return {"groups": groups, "domains": domains, "elements": elements, "standards": standards}


def ensure_indexes(store: GraphStore) -> None:
    for statement in cypher.index_statements(store.backend):
        try:
            store.run(statement)
        except StoreError as exc:
            # FalkorDB has no IF NOT EXISTS: a repeat reports the index exists, which is what we want.
            if "already" not in str(exc).lower():
                raise


def seed_curriculum(store: GraphStore, curriculum: Curriculum) -> SeedResult:
    """MERGE a validated curriculum into the graph; running it twice leaves the graph unchanged."""
    ensure_indexes(store)
    cid = curriculum.id
    rows = graph_rows(curriculum)
    store.run(*cypher.merge_curriculum(cid, curriculum.name, curriculum.source_hash))
    for kind in ("GradeBand", "Course"):
        group_rows = list(rows["groups"][kind].values())
        if group_rows:
            store.run(*cypher.merge_groups(kind, cid, group_rows))
        for batch in _batches(list(rows["domains"][kind].values())):
            store.run(*cypher.merge_domains(kind, cid, batch))
    for batch in _batches(list(rows["elements"].values())):
        store.run(*cypher.merge_content_elements(cid, batch))
    for parent_label, standard_rows in rows["standards"].items():
        for batch in _batches(standard_rows):
            store.run(*cypher.merge_standards(parent_label, batch))
    written = store.run(*cypher.count_curriculum_standards(cid))[0]["n"]
    if written != len(curriculum.standards):
        raise StoreError(f"{cid}: graph holds {written} standards, the validated model {len(curriculum.standards)}")
    counts = {row["label"]: row["n"] for row in store.run(*cypher.count_nodes())}
    log.info("seeded %s: %d standards; nodes %s", curriculum.version, written, counts)
    return SeedResult(curriculum=cid, version=curriculum.version, standards=written, nodes_by_label=counts)
