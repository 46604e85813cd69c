"""The curriculum graph on a real server: FalkorDB always, Neo4j too when NEO4J_URI is set (same tests)."""

import csv
import os
import shutil
import uuid

import pytest

from graph_seed import DATA_DIR, queries
from graph_seed.loaders import LOADERS, load_curriculum
from graph_seed.seed import graph_counts, seed_curriculum

pytestmark = pytest.mark.integration


@pytest.fixture(params=["falkordb", "neo4j"])
def graph(request, stack, settings):
    if request.param == "falkordb":
        from falkordb import FalkorDB

        from stores.graph import FalkorGraphStore

        name = f"test_{uuid.uuid4().hex[:8]}"
        client = FalkorDB(host="127.0.0.1", port=settings.graph.port)
        store = FalkorGraphStore(client.select_graph(name))
        yield store
        store.graph.delete()
        return
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        pytest.skip("NEO4J_URI is not set: no Neo4j server to test against")
    from neo4j import GraphDatabase

    from stores.graph import Neo4jGraphStore

    driver = GraphDatabase.driver(uri, auth=(os.environ.get("NEO4J_USER", "neo4j"), os.environ["NEO4J_PASSWORD"]))
    store = Neo4jGraphStore(driver, database=os.environ.get("NEO4J_DATABASE", "neo4j"))
    wipe = "MATCH (n) WHERE n.curriculum IN $ids DETACH DELETE n"
    store.run(wipe, {"ids": list(LOADERS)})
    yield store
    store.run(wipe, {"ids": list(LOADERS)})
    driver.close()


@pytest.fixture(scope="module")
def curricula():
    return {cid: load_curriculum(cid) for cid in LOADERS}


def _seed_all(graph, curricula):
    return {cid: seed_curriculum(graph, c) for cid, c in curricula.items()}


def _export(graph, cid):
    return sorted((r["code"], r["text"], r["grade_band"], r["domain"]) for r in queries.export_curriculum(graph, cid))


def test_counts_per_curriculum_equal_the_source_files(graph, curricula):
    _seed_all(graph, curricula)
    stats = queries.stats(graph)
    assert {cid: s["standards"] for cid, s in stats.items()} == {"kr-2022": 435, "kr-2015": 129, "us-ccss": 480}
    assert stats["us-ccss"]["edges"]["PREREQUISITE_OF"] == {"coherence-map": 757}
    assert stats["us-ccss"]["edges"]["RELATED_TO"] == {"coherence-map": 142}
    assert stats["kr-2022"]["grade_bands"] == 4 and stats["kr-2022"]["courses"] == 15
    kr_prereq = stats["kr-2022"]["edges"]["PREREQUISITE_OF"]
    assert set(kr_prereq) == {"heuristic", "sequence"} and all(n > 0 for n in kr_prereq.values())
    assert stats["kr-2022"]["terms"] > 0


def test_a_second_seed_is_a_no_op(graph, curricula):
    _seed_all(graph, curricula)
    before = {cid: (graph_counts(graph, cid), _export(graph, cid)) for cid in curricula}
    again = _seed_all(graph, curricula)
    assert not any(r.changed for r in again.values())
    forced = {cid: seed_curriculum(graph, c, force=True) for cid, c in curricula.items()}
    assert all(r.changed for r in forced.values())
    assert {cid: (graph_counts(graph, cid), _export(graph, cid)) for cid in curricula} == before


def test_every_standard_hangs_under_its_curriculum_band_and_domain(graph, curricula):
    _seed_all(graph, curricula)
    for cid, curriculum in curricula.items():
        rows = graph.run(
            "MATCH (:Curriculum {uid: $c})-[:HAS_GRADE_BAND|HAS_COURSE]->()-[:HAS_DOMAIN]->(:Domain)"
            "-[:HAS_CONTENT_ELEMENT|HAS_STANDARD*1..2]->(s:Standard) RETURN count(DISTINCT s) AS n",
            {"c": cid},
        )
        assert rows == [{"n": len(curriculum.standards)}], cid


def test_export_gives_breadcrumbs_for_retrieval(graph, curricula):
    _seed_all(graph, curricula)
    rows = {r["code"]: r for r in queries.export_curriculum(graph, "kr-2022")}
    assert len(rows) == 435
    assert (rows["9수01-01"]["grade_band"], rows["9수01-01"]["domain"]) == ("중1-3", "수와 연산")
    assert rows["9수01-01"]["content_element"] == "소인수분해"
    assert rows["10공수1-01-01"]["grade_band"] == "공통수학1"


def test_same_code_in_two_curricula_is_two_nodes(graph, curricula):
    _seed_all(graph, curricula)
    new = queries.get_standard(graph, "kr-2022", "9수04-08")
    old = queries.get_standard(graph, "kr-2015", "9수04-08")
    assert new and old and new["uid"] != old["uid"] and new["text"] != old["text"]


def _without_us_standard(tmp_path, code):
    root = tmp_path / "data"
    shutil.copytree(DATA_DIR, root)
    folder = root / "us-ccss"
    removed_edges = 0
    for name, columns in [("standards.csv", ("code",)), ("edges_prerequisite.csv", ("from_code", "to_code")),
                          ("edges_related_undirected.csv", ("a_code", "b_code"))]:  # fmt: skip
        with (folder / name).open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            fields = reader.fieldnames
        kept = [r for r in rows if code not in {r[c] for c in columns}]
        removed_edges += (len(rows) - len(kept)) if name != "standards.csv" else 0
        with (folder / name).open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows(kept)
    return root, removed_edges


def test_a_removed_standard_disappears_with_its_edges_and_nothing_else_changes(graph, curricula, tmp_path):
    _seed_all(graph, curricula)
    kr_before = graph_counts(graph, "kr-2022")
    us_before = queries.stats(graph)["us-ccss"]
    code = "3.NF.A.1"
    assert queries.prerequisites(graph, "us-ccss", code) or queries.dependents(graph, "us-ccss", code)
    root, removed_edges = _without_us_standard(tmp_path, code)
    assert removed_edges > 0
    result = seed_curriculum(graph, load_curriculum("us-ccss", root))
    assert result.changed
    us_after = queries.stats(graph)["us-ccss"]
    assert queries.get_standard(graph, "us-ccss", code) is None
    assert us_after["standards"] == us_before["standards"] - 1
    edges_before = sum(us_before["edges"]["PREREQUISITE_OF"].values()) + sum(us_before["edges"]["RELATED_TO"].values())
    edges_after = sum(us_after["edges"]["PREREQUISITE_OF"].values()) + sum(us_after["edges"]["RELATED_TO"].values())
    assert edges_before - edges_after == removed_edges
    assert graph_counts(graph, "kr-2022") == kr_before


def test_a_changed_text_updates_the_node(graph, curricula, tmp_path):
    _seed_all(graph, curricula)
    root = tmp_path / "data"
    shutil.copytree(DATA_DIR, root)
    path = root / "us-ccss" / "standards.csv"
    original = path.read_text(encoding="utf-8")
    path.write_text(original.replace("Count to 100 by ones", "Count to 120 by ones"), encoding="utf-8")
    seed_curriculum(graph, load_curriculum("us-ccss", root))
    assert queries.get_standard(graph, "us-ccss", "K.CC.A.1")["text"] == "Count to 120 by ones and by tens."


def test_read_queries_give_breadcrumbs_neighbours_and_groups(graph, curricula):
    _seed_all(graph, curricula)
    standard = queries.get_standard(graph, "kr-2022", "9수01-01")
    assert standard["breadcrumbs"] == ["kr-2022", "중1-3", "수와 연산", "소인수분해"]
    assert standard["explanation"] or standard["achievement_levels"]
    # 9수01-02 follows 9수01-01 inside the 소인수분해 group.
    assert "9수01-01" in [r["code"] for r in queries.prerequisites(graph, "kr-2022", "9수01-02")]
    one = queries.dependents(graph, "us-ccss", "3.NF.A.1", depth=1)
    three = queries.dependents(graph, "us-ccss", "3.NF.A.1", depth=3)
    assert one and {r["code"] for r in one} < {r["code"] for r in three}
    assert all(r["distance"] == 1 for r in one) and max(r["distance"] for r in three) > 1
    band = queries.standards_of_group(graph, "kr-2022", "중1-3")
    assert len(band) == 60 and all(r["code"].startswith("9수") for r in band)
    assert len(queries.standards_of_group(graph, "kr-2022", "공통수학1")) == 19
    with pytest.raises(ValueError, match="depth"):
        queries.prerequisites(graph, "kr-2022", "9수01-02", depth=0)
