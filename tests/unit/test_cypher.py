from graph_seed import cypher
from graph_seed.loaders import load_kr2022
from graph_seed.seed import graph_rows


def test_writes_are_parameterised_merges():
    rows = [{"uid": "kr-2022:초1-2", "name": "초1-2"}]
    statements = [
        cypher.merge_curriculum("kr-2022", "name", "hash"),
        cypher.merge_groups("GradeBand", "kr-2022", rows),
        cypher.merge_domains("GradeBand", "kr-2022", rows),
        cypher.merge_content_elements("kr-2022", rows),
        cypher.merge_standards("Domain", rows),
    ]
    for query, params in statements:
        assert "MERGE" in query and "CREATE " not in query
        assert "kr-2022" not in query  # values travel as parameters, never inside the text
        assert params
    assert "UNWIND $rows" in statements[1][0]


def test_index_statements_differ_by_dialect():
    neo4j = cypher.index_statements("neo4j")
    falkor = cypher.index_statements("falkordb")
    assert all("IF NOT EXISTS" in s for s in neo4j)
    assert not any("IF NOT EXISTS" in s for s in falkor)
    assert any("Standard" in s and "uid" in s for s in falkor)


def test_graph_rows_cover_every_standard_once_with_curriculum_scoped_uids():
    curriculum = load_kr2022()
    rows = graph_rows(curriculum)
    standards = [r for group in rows["standards"].values() for r in group]
    assert len(standards) == len({r["uid"] for r in standards}) == 435
    assert all(r["uid"].startswith("kr-2022:") for r in standards)
    assert len(rows["groups"]["GradeBand"]) == 4 and len(rows["groups"]["Course"]) == 15
    # Standards without a 내용 요소 (high school) hang directly under their domain.
    assert len(rows["standards"]["Domain"]) == 254 and len(rows["standards"]["ContentElement"]) == 181
