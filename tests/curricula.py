"""A CurriculumIndex over the shipped curricula without a graph server, for the data and model tests.

Its standards are the rows the graph's export would give (``cypher.export_standards`` with ``export_terms``), made
from the nodes and edges seeding writes (``graph_seed.seed.plan``); everything else the index builds from them (codes,
courses, the problem suite, the cold-start labeler) is the index's own code. tests/model checks the rows against the
export of the seeded graph.
"""

from __future__ import annotations

from typing import Any

from graph_seed.loaders import load_curriculum
from graph_seed.seed import plan
from labeling.index import CurriculumIndex

# export_standards' column → the Standard node property it reads (s.group AS grade_band).
EXPORTED = {
    "uid": "uid",
    "curriculum": "curriculum",
    "code": "code",
    "text": "text",
    "school_level": "school_level",
    "grade_band": "group",
    "grade_group": "grade_group",
    "domain": "domain",
    "content_element": "content_element",
    "order": "order",
    "explanation": "explanation",
    "considerations": "considerations",
    "achievement_levels": "achievement_levels",
}


def exported_standards(curriculum_id: str) -> list[dict[str, Any]]:
    """The rows ``CurriculumIndex.standards`` reads from a graph seeded with the shipped ``curriculum_id``."""
    graph_plan = plan(load_curriculum(curriculum_id))
    names = {row["uid"]: row["props"]["name"] for row in graph_plan.nodes["Term"]}
    terms: dict[str, list[str]] = {}
    for edge in graph_plan.edges[("Standard", "USES_TERM", "Term")]:
        terms.setdefault(edge["from"], []).append(names[edge["to"]])
    nodes = sorted(graph_plan.nodes["Standard"], key=lambda row: row["uid"])  # the export orders by uid
    return [
        {**{column: node["props"].get(prop) for column, prop in EXPORTED.items()}, "terms": terms.get(node["uid"], [])}
        for node in nodes
    ]


def index_without_graph(curriculum: str) -> CurriculumIndex:
    """A CurriculumIndex whose standards come from the shipped files; what needs the graph itself (``version``,
    prerequisites, related standards) is not available."""
    index = CurriculumIndex(None, curriculum)  # type: ignore[arg-type]  (the graph is never read)
    index.standards = [row for cid in index.curricula for row in exported_standards(cid)]
    return index
