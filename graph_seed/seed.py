"""Seeding: write a validated curriculum into a graph store, idempotently and versioned.

The curriculum node records the content hash of its source files. Seeding unchanged data is a no-op; seeding
changed data MERGEs every node and edge (updating what changed), then deletes this curriculum's nodes and edges
that left the source. Other curricula are never touched: every uid starts with the curriculum id.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from graph_seed import cypher
from graph_seed.errors import GraphSeedError
from graph_seed.models import Curriculum
from stores.errors import StoreError
from stores.graph import GraphStore

log = logging.getLogger(__name__)
BATCH = 500


@dataclass
class GraphPlan:
    """The nodes and edges a curriculum becomes, before anything is written (pure; tested without a server)."""

    nodes: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    # (from label, edge type, to label) → rows {from, to, source?, props}
    edges: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    def edge_keys(self) -> list[str]:
        return [
            cypher.edge_key(edge, row["from"], row["to"], row.get("source", ""))
            for (_, edge, _), rows in self.edges.items()
            for row in rows
        ]

    def expected_nodes(self) -> dict[str, int]:
        return {label: len(rows) for label, rows in self.nodes.items() if rows}

    def expected_edges(self) -> dict[tuple[str, str], int]:
        counts: Counter[tuple[str, str]] = Counter()
        for (_, edge, _), rows in self.edges.items():
            for row in rows:
                counts[(edge, row.get("source", ""))] += 1
        return dict(counts)


def plan(curriculum: Curriculum) -> GraphPlan:
    """Turn the validated model into node and edge rows keyed by curriculum-scoped uids."""
    cid = curriculum.id
    out = GraphPlan()
    seen: set[str] = set()

    def node(label: str, uid: str, **props: Any) -> str:
        if uid not in seen:
            seen.add(uid)
            clean = {k: v for k, v in props.items() if v is not None}
            out.nodes[label].append({"uid": uid, "props": {"uid": uid, "curriculum": cid, **clean}})
        return uid

    def edge(from_label: str, kind: str, to_label: str, a: str, b: str, **extra: Any) -> None:
        out.edges[(from_label, kind, to_label)].append({"from": a, "to": b, **extra})

    root = node("Curriculum", cid, id=cid, name=curriculum.name)
    linked: set[tuple[str, str]] = set()

    def link(from_label: str, kind: str, to_label: str, a: str, b: str) -> None:
        if (a, b) not in linked:
            linked.add((a, b))
            edge(from_label, kind, to_label, a, b, props={})

    group_order: dict[str, int] = {}
    for s in curriculum.standards:
        group_uid = f"{cid}:{s.group}"
        group_order.setdefault(group_uid, len(group_order) + 1)
        node(s.group_kind, group_uid, name=s.group, school_level=s.school_level, grade_group=s.grade_group,
             order=group_order[group_uid])  # fmt: skip
        link("Curriculum", cypher.GROUP_EDGE[s.group_kind], s.group_kind, root, group_uid)
        domain_uid = f"{group_uid}:{s.domain}"
        node("Domain", domain_uid, name=s.domain, order=s.domain_order, group=s.group,
             core_ideas=curriculum.core_ideas.get(s.domain) or None)  # fmt: skip
        link(s.group_kind, "HAS_DOMAIN", "Domain", group_uid, domain_uid)
        parent_label, parent_uid = "Domain", domain_uid
        if s.content_element:
            parent_label, parent_uid = "ContentElement", f"{domain_uid}:{s.content_element}"
            node("ContentElement", parent_uid, name=s.content_element, domain=s.domain, group=s.group)
            link("Domain", "HAS_CONTENT_ELEMENT", "ContentElement", domain_uid, parent_uid)
        standard_uid = node(
            "Standard",
            f"{cid}:{s.code}",
            code=s.code,
            text=s.text,
            school_level=s.school_level,
            group=s.group,
            grade_group=s.grade_group,
            domain=s.domain,
            content_element=s.content_element or "",
            order=s.order,
            explanation=s.explanation,
            considerations=s.considerations,
            achievement_levels=[f"{lv.level}: {lv.text}" for lv in s.achievement_levels] or None,
            cluster_class=s.cluster_class,
            **s.flags,
        )
        link(parent_label, "HAS_STANDARD", "Standard", parent_uid, standard_uid)
    for term in curriculum.terms:
        group_uid = f"{cid}:{term.group}"
        term_uid = node("Term", f"{group_uid}:term:{term.name}", name=term.name, kind=term.kind,
                        domain=term.domain, description=term.description, group=term.group)  # fmt: skip
        if group_uid in seen:
            link("GradeBand", "HAS_TERM", "Term", group_uid, term_uid)
        for code in term.standards:
            link("Standard", "USES_TERM", "Term", f"{cid}:{code}", term_uid)
    for e in curriculum.edges:
        props = {"source": e.source, "confidence": e.confidence}
        if e.note:
            props["note"] = e.note
        edge("Standard", e.kind, "Standard", f"{cid}:{e.source_code}", f"{cid}:{e.target_code}",
             source=e.source, props=props)  # fmt: skip
    return out


def _batches(rows: list[dict[str, Any]], size: int = BATCH) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def ensure_indexes(store: GraphStore) -> None:
    dialect = cypher.dialect_for(store.backend)
    for statement in dialect.index_statements():
        try:
            store.run(statement)
        except StoreError as exc:
            if not dialect.is_repeat_error(str(exc)):
                raise


@dataclass
class SeedResult:
    curriculum: str
    version: str
    changed: bool  # False when the graph already held this exact source
    standards: int
    nodes: dict[str, int]
    edges: dict[str, dict[str, int]]  # type → source → count
    seconds: float


def graph_counts(store: GraphStore, curriculum_id: str) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """Nodes by label and edges by type and source, inside one curriculum."""
    nodes = {r["label"]: r["n"] for r in store.run(*cypher.curriculum_node_counts(curriculum_id))}
    edges: dict[str, dict[str, int]] = defaultdict(dict)
    for r in store.run(*cypher.curriculum_edge_counts(curriculum_id)):
        edges[r["type"]][r["source"] or "-"] = r["n"]
    return nodes, dict(edges)


def verify(store: GraphStore, curriculum: Curriculum, graph_plan: GraphPlan | None = None) -> None:
    """Raise GraphSeedError unless the graph holds exactly the validated model's nodes and edges."""
    graph_plan = graph_plan or plan(curriculum)
    nodes, edges = graph_counts(store, curriculum.id)
    expected_edges: dict[str, dict[str, int]] = defaultdict(dict)
    for (kind, source), n in graph_plan.expected_edges().items():
        expected_edges[kind][source or "-"] = n
    if nodes != graph_plan.expected_nodes() or edges != dict(expected_edges):
        raise GraphSeedError(
            f"{curriculum.id}: the graph does not match the validated model: "
            f"nodes {nodes} vs expected {graph_plan.expected_nodes()}; edges {edges} vs expected {dict(expected_edges)}"
        )


def is_current(store: GraphStore, curriculum: Curriculum) -> bool:
    """True when the graph already holds exactly this source (same content hash)."""
    rows = store.run(*cypher.curriculum_hash(curriculum.id))
    return bool(rows) and rows[0]["source_hash"] == curriculum.source_hash


def write(store: GraphStore, curriculum: Curriculum, graph_plan: GraphPlan | None = None) -> None:
    """MERGE every node and edge, then delete this curriculum's nodes and edges that left the source."""
    graph_plan = graph_plan or plan(curriculum)
    cid = curriculum.id
    store.run(*cypher.merge_curriculum(cid, curriculum.name))
    for label in cypher.NODE_LABELS[1:]:
        for batch in _batches(graph_plan.nodes.get(label, [])):
            store.run(*cypher.merge_nodes(label, batch))
    for (from_label, kind, to_label), rows in graph_plan.edges.items():
        for batch in _batches(rows):
            store.run(*cypher.merge_edges(from_label, kind, to_label, batch))
    store.run(*cypher.prune_edges(cid, graph_plan.edge_keys()))
    for label in reversed(cypher.NODE_LABELS[1:]):
        store.run(*cypher.prune_nodes(label, cid, [row["uid"] for row in graph_plan.nodes.get(label, [])]))


def mark_seeded(store: GraphStore, curriculum: Curriculum) -> None:
    """Record the source hash: written last, so an interrupted seed is redone by the next one."""
    store.run(*cypher.set_curriculum_hash(curriculum.id, curriculum.source_hash))


def seed_curriculum(store: GraphStore, curriculum: Curriculum, *, force: bool = False) -> SeedResult:
    """Write a validated curriculum; unchanged sources are a no-op, changed ones are updated and pruned."""
    started = time.monotonic()
    changed = force or not is_current(store, curriculum)
    if changed:
        graph_plan = plan(curriculum)
        ensure_indexes(store)
        write(store, curriculum, graph_plan)
        verify(store, curriculum, graph_plan)
        mark_seeded(store, curriculum)
    nodes, edges = graph_counts(store, curriculum.id)
    seconds = round(time.monotonic() - started, 3)
    log.info("%s %s in %.2fs: nodes %s", curriculum.version, "seeded" if changed else "unchanged", seconds, nodes)
    return SeedResult(curriculum.id, curriculum.version, changed, nodes.get("Standard", 0), nodes, edges, seconds)
