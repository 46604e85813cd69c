"""us-ccss: the Common Core math standards with the Coherence Map's prerequisite and related-standard edges."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from pathlib import Path

from graph_seed import DATA_DIR
from graph_seed.codes import normalize_code
from graph_seed.errors import SourceProblem
from graph_seed.loaders.common import Sources, finish
from graph_seed.models import Curriculum, Edge, Standard

log = logging.getLogger(__name__)

CURRICULUM = "us-ccss"
NAME = "Common Core State Standards for Mathematics (with the Coherence Map)"

STANDARDS = "us-ccss/standards.csv"
PREREQUISITES = "us-ccss/edges_prerequisite.csv"
RELATED = "us-ccss/edges_related_undirected.csv"
CLASSIFICATION = "us-ccss/cluster_and_standard_classification.json"
CONFIDENCE = 0.9

CLUSTER_CLASSES = ("major", "supporting", "additional")  # cluster_msa 0, 1, 2
_SCHOOL_LEVEL = {"K": "elementary", **{str(g): "elementary" for g in range(1, 6)}}
_SCHOOL_LEVEL |= {str(g): "middle" for g in range(6, 9)} | {"HS": "high"}
_CLUSTER = re.compile(r"^(?P<cluster>.+?)\.\d+(?:\.[a-z])?$")  # 4.NF.B.3.a -> 4.NF.B; A-APR.A.1 -> A-APR.A


def load_us_ccss(data_root: Path = DATA_DIR) -> Curriculum:
    """Load the CCSS math standards and Coherence Map edges from ``data_root/us-ccss``.

    ``cluster_class`` comes from the official major/supporting/additional lists where they name the cluster (they
    cover K-8); the Coherence Map's ``cluster_msa`` fills in otherwise, except for high school, where it is 0 for
    every cluster (unclassified) and ``cluster_class`` stays empty. The widely-applicable-prerequisite flag comes from
    the official ``widely`` list (high school only); see SOURCES.md for why the map's ``wap`` column is not used.

    Raises:
        GraphSeedError: a source file, a required column or a required key is missing.
        CurriculumValidationError: listing every bad row with its file, row and value.
    """
    src = Sources(CURRICULUM, Path(data_root))
    found: list[SourceProblem] = []
    official = src.json(CLASSIFICATION, [*CLUSTER_CLASSES, "widely"])
    cluster_class = {code: name for name in CLUSTER_CLASSES for code in official[name]}
    widely = {normalize_code(code, CURRICULUM) for code in official["widely"]}

    columns = ["code", "grade", "domain_name", "cluster_name", "cluster_msa", "text", "modeling"]
    standards: list[Standard] = []
    domain_order: dict[str, dict[str, int]] = defaultdict(dict)
    order_in_group: dict[str, int] = defaultdict(int)
    for row in src.csv(STANDARDS, columns):
        code = normalize_code(row["code"], CURRICULUM)
        grade = row["grade"]
        if grade not in _SCHOOL_LEVEL:
            found.append(row.problem(grade, "grade is not K, 1 … 8 or HS"))
            continue
        group = "High School" if grade == "HS" else f"Grade {grade}"
        domain = row["domain_name"].rstrip("*").strip()  # 3.NF* / 4.NBT*: the footnote mark of the printed standards
        orders = domain_order[group]
        orders.setdefault(domain, len(orders) + 1)
        order_in_group[group] += 1
        if row["cluster_msa"] not in ("0", "1", "2"):
            found.append(row.problem(row["cluster_msa"], "cluster_msa is not 0, 1 or 2"))
        match = _CLUSTER.match(code)
        cluster = match["cluster"] if match else code
        standards.append(
            Standard(
                code=code,
                text=row["text"],
                school_level=_SCHOOL_LEVEL[grade],
                group=group,
                group_kind="GradeBand",
                grade_group=grade,
                domain=domain,
                domain_order=orders[domain],
                content_element=f"{cluster} {row['cluster_name']}".strip(),
                order=order_in_group[group],
                cluster_class=_cluster_class(cluster, grade, row["cluster_msa"], cluster_class),
                flags={"widely_applicable_prerequisite": code in widely, "modeling": row["modeling"] == "1"},
                file=row.file,
                row=row.row,
            )
        )

    edges: list[Edge] = []
    for row in src.csv(PREREQUISITES, ["from_code", "to_code"]):
        edges.append(_edge("PREREQUISITE_OF", row["from_code"], row["to_code"], row.file, row.row))
    pairs: set[frozenset[str]] = set()
    for row in src.csv(RELATED, ["a_code", "b_code"]):
        edge = _edge("RELATED_TO", row["a_code"], row["b_code"], row.file, row.row)
        pair = frozenset((edge.source_code, edge.target_code))
        if pair not in pairs:
            pairs.add(pair)
            edges.append(edge)

    curriculum = Curriculum(id=CURRICULUM, name=NAME, source_hash=src.hash(), standards=standards, edges=edges)
    return finish(curriculum, found)


def _cluster_class(cluster: str, grade: str, msa: str, official: dict[str, str]) -> str | None:
    from_map = CLUSTER_CLASSES[int(msa)] if msa in ("0", "1", "2") else None
    if cluster in official:
        if from_map is not None and from_map != official[cluster] and grade != "HS":
            log.warning("us-ccss cluster %s: map says %s, official list %s", cluster, from_map, official[cluster])
        return official[cluster]
    return None if grade == "HS" else from_map


def _edge(kind: str, a: str, b: str, file: str, row: int) -> Edge:
    return Edge(
        kind=kind,
        source_code=normalize_code(a, CURRICULUM),
        target_code=normalize_code(b, CURRICULUM),
        source="coherence-map",
        confidence=CONFIDENCE,
        file=file,
        row=row,
    )
