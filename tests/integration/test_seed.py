"""Seeding the kr-2022 standards into the real FalkorDB server."""

import shutil

import pytest

from graph_seed import DATA_DIR, cypher
from graph_seed.errors import CurriculumValidationError
from graph_seed.loaders import load_kr2022
from graph_seed.seed import seed_curriculum

pytestmark = pytest.mark.integration


def _counts(store) -> dict:
    nodes = {r["label"]: r["n"] for r in store.run(*cypher.count_nodes())}
    edges = {r["t"]: r["n"] for r in store.run("MATCH ()-[r]->() RETURN type(r) AS t, count(r) AS n")}
    return {"nodes": nodes, "edges": edges}


def test_seeding_twice_leaves_the_same_graph(seeded_graph):
    before = _counts(seeded_graph)
    result = seed_curriculum(seeded_graph, load_kr2022())
    assert _counts(seeded_graph) == before
    assert result.standards == 435
    assert before["nodes"]["Standard"] == 435 and before["nodes"]["Curriculum"] == 1
    assert before["edges"]["HAS_STANDARD"] == 435


def test_every_standard_hangs_under_curriculum_band_and_domain(seeded_graph):
    rows = seeded_graph.run(
        "MATCH (:Curriculum {id: 'kr-2022'})-[:HAS_GRADE_BAND|HAS_COURSE]->()-[:HAS_DOMAIN]->(:Domain)"
        "-[:HAS_CONTENT_ELEMENT|HAS_STANDARD*1..2]->(s:Standard) RETURN count(DISTINCT s) AS n"
    )
    assert rows == [{"n": 435}]


def test_export_gives_breadcrumbs_for_retrieval(seeded_graph):
    rows = {r["code"]: r for r in seeded_graph.run(*cypher.export_standards("kr-2022"))}
    assert len(rows) == 435
    assert rows["9수01-01"]["grade_band"] == "중1-3"
    assert rows["9수01-01"]["domain"] == "수와 연산"
    assert rows["9수01-01"]["content_element"] == "소인수분해"
    assert rows["10공수1-01-01"]["grade_band"] == "공통수학1"


def test_invalid_source_rows_are_reported_with_file_row_and_value(tmp_path):
    source = tmp_path / "kr-2022"
    shutil.copytree(DATA_DIR / "kr-2022", source)
    csv_path = source / "standards_k12_combined.csv"
    lines = csv_path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[1]  # row 3 repeats row 2's code
    lines[4] = lines[4].replace("[2수01-04]", "[2수1-4]")
    csv_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(CurriculumValidationError) as info:
        load_kr2022(source)
    message = str(info.value)
    assert "standards_k12_combined.csv:3: duplicate code (first on row 2) ('[2수01-01]')" in message
    assert "standards_k12_combined.csv:5: code does not match the kr-2022 pattern ('[2수1-4]')" in message
