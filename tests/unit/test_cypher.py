import pytest

from graph_seed import cypher
from graph_seed.loaders import load_kr2022, load_us_ccss
from graph_seed.seed import plan


def test_writes_are_parameterised_merges_keyed_by_uid():
    rows = [{"uid": "kr-2022:초1-2", "props": {"uid": "kr-2022:초1-2"}}]
    statements = [
        cypher.merge_curriculum("kr-2022", "name"),
        cypher.merge_nodes("GradeBand", rows),
        cypher.merge_edges("Standard", "PREREQUISITE_OF", "Standard", rows),
    ]
    for query, params in statements:
        assert "MERGE" in query and "CREATE " not in query
        assert "kr-2022" not in query  # values travel as parameters, never inside the text
        assert params
    assert "UNWIND $rows" in statements[1][0]
    assert "{source: r.source}" in statements[2][0]  # standard edges are keyed by their source too


def test_labels_outside_the_model_never_reach_the_query_text():
    with pytest.raises(ValueError, match="unknown label"):
        cypher.merge_nodes("Standard) DETACH DELETE (x", [])


def test_index_statements_differ_by_dialect():
    neo4j = cypher.dialect_for("neo4j").index_statements()
    falkor = cypher.dialect_for("falkordb").index_statements()
    assert all("IF NOT EXISTS" in s for s in neo4j)
    assert not any("IF NOT EXISTS" in s for s in falkor)
    assert any("Standard" in s and "uid" in s for s in falkor)
    assert cypher.dialect_for("falkordb").is_repeat_error("Attribute 'uid' is already indexed")
    with pytest.raises(ValueError):
        cypher.dialect_for("sqlite")


@pytest.mark.parametrize("depth", [0, 11, "2", 1.5])
def test_neighbour_depth_must_be_a_small_integer(depth):
    with pytest.raises(ValueError, match="depth"):
        cypher.neighbours("kr-2022", "9수01-01", "up", depth)


def test_plan_covers_every_standard_once_with_curriculum_scoped_uids():
    graph_plan = plan(load_kr2022())
    standards = graph_plan.nodes["Standard"]
    assert len(standards) == len({r["uid"] for r in standards}) == 435
    assert all(r["uid"].startswith("kr-2022:") for r in standards)
    assert graph_plan.expected_nodes()["GradeBand"] == 4 and graph_plan.expected_nodes()["Course"] == 15
    edges = graph_plan.expected_edges()
    # Standards without a 내용 요소 (high school) hang directly under their domain.
    has_standard = [r for (f, e, _), rows in graph_plan.edges.items() if e == "HAS_STANDARD" for r in rows]
    assert len(has_standard) == 435
    assert edges[("PREREQUISITE_OF", "sequence")] == 99 and edges[("PREREQUISITE_OF", "heuristic")] == 151


def test_edge_keys_distinguish_sources_of_the_same_pair():
    keys = plan(load_kr2022()).edge_keys()
    assert len(keys) == len(set(keys))
    assert len(plan(load_us_ccss()).edge_keys()) == len(set(plan(load_us_ccss()).edge_keys()))
