"""The curriculum loaders: bad rows reported with file, row and value, source hashes, codes (what the shipped files
hold is tested in tests/data/test_shipped_curricula.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from graph_seed import DATA_DIR
from graph_seed.codes import is_valid_code, normalize_code
from graph_seed.errors import CurriculumValidationError, GraphSeedError
from graph_seed.loaders import LOADERS, files_hash, load_curriculum, load_kr2015, load_kr2022, load_us_ccss
from graph_seed.models import Curriculum


@pytest.fixture(scope="module")
def kr2022() -> Curriculum:
    return load_kr2022()


@pytest.fixture(scope="module")
def ccss() -> Curriculum:
    return load_us_ccss()


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(DATA_DIR, root, ignore=shutil.ignore_patterns("*.md"))
    return root


def _edit(path: Path, old: str, new: str) -> None:
    """Replace the first ``old`` in a file, keeping its bytes otherwise (CRLF line ends included)."""
    text = path.read_bytes().decode("utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_bytes(text.replace(old, new, 1).encode("utf-8"))


def _problems(loader, root: Path) -> list[str]:
    with pytest.raises(CurriculumValidationError) as info:
        loader(root)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(
    ("loader", "relative", "old", "new", "expected"),
    [
        (
            load_kr2015,
            "kr-2015/middle_standards.csv",
            "[9수01-02]",
            "[9수01-01]",
            "kr-2015/middle_standards.csv:3: duplicate code (first at kr-2015/middle_standards.csv:2) ('9수01-01')",
        ),
        (
            load_kr2015,
            "kr-2015/middle_standards.csv",
            "정수와 유리수의 대소 관계를 판단할 수 있다.",
            "",
            "kr-2015/middle_standards.csv:5: empty standard text ('9수01-04')",
        ),
        (
            load_kr2015,
            "kr-2015/elementary_highschool_standards_partial.csv",
            "[10수학01-02]",
            "[10수학1-02]",
            "kr-2015/elementary_highschool_standards_partial.csv:3: code does not match the kr-2015 pattern "
            "('10수학1-02')",
        ),
        (
            load_us_ccss,
            "us-ccss/edges_prerequisite.csv",
            "6,1.G.A.1,46,2.G.A.1",
            "6,1.G.A.1,46,2.G.A.9",
            "us-ccss/edges_prerequisite.csv:2: PREREQUISITE_OF edge to an unknown code ('2.G.A.9')",
        ),
        (
            load_us_ccss,
            "us-ccss/standards.csv",
            "456,K.CC.A.1,",
            "456,K.CC.1,",
            "us-ccss/standards.csv:2: code does not match the us-ccss pattern ('K.CC.1')",
        ),
        (
            load_kr2022,
            "kr-2022/standards_k12_combined.csv",
            "[2수01-02]",
            "[2수01-01]",
            "kr-2022/standards_k12_combined.csv:3: duplicate code (first at kr-2022/standards_k12_combined.csv:2) "
            "('2수01-01')",
        ),
        (
            load_kr2022,
            "kr-2022/k9/derived_prerequisites_heuristic.json",
            '"target_code": "6수04-06"',
            '"target_code": "6수04-99"',
            "kr-2022/k9/derived_prerequisites_heuristic.json:1: PREREQUISITE_OF edge to an unknown code ('6수04-99')",
        ),
        (
            load_kr2022,
            "kr-2022/k9/achievement_levels/achievement_levels_middle_number_operation.csv",
            "[9수01-01],A,",
            "[9수01-99],A,",
            "kr-2022/k9/achievement_levels/achievement_levels_middle_number_operation.csv:2: "
            "achievement level for an unknown code ('9수01-99')",
        ),
    ],
)
def test_each_bad_row_is_reported_with_file_row_and_value(data_copy, loader, relative, old, new, expected):
    _edit(data_copy / relative, old, new)
    assert expected in _problems(loader, data_copy)


def test_every_problem_is_reported_not_just_the_first(data_copy):
    _edit(data_copy / "kr-2015/middle_standards.csv", "[9수01-02]", "[9수01-01]")
    _edit(data_copy / "kr-2015/middle_standards.csv", "[9수01-03]", "[9수1-3]")
    found = _problems(load_kr2015, data_copy)
    assert len(found) == 2
    assert found[1] == "kr-2015/middle_standards.csv:4: code does not match the kr-2015 pattern ('9수1-3')"


def test_a_missing_column_or_file_names_the_file(data_copy):
    _edit(data_copy / "kr-2015/middle_standards.csv", "code,area,grade_band,content", "code,area,grade_band,text")
    with pytest.raises(GraphSeedError, match=r"kr-2015/middle_standards\.csv: missing required column\(s\): content"):
        load_kr2015(data_copy)
    (data_copy / "us-ccss/edges_related_undirected.csv").unlink()
    with pytest.raises(GraphSeedError, match=r"us-ccss/edges_related_undirected\.csv"):
        load_us_ccss(data_copy)


def test_load_curriculum_by_id_and_an_unknown_id(data_copy):
    assert set(LOADERS) == {"kr-2022", "kr-2015", "us-ccss"}
    assert load_curriculum("kr-2015", data_copy).id == "kr-2015"
    with pytest.raises(GraphSeedError, match="unknown curriculum 'xx-1999'; known: kr-2015, kr-2022, us-ccss"):
        load_curriculum("xx-1999")


def test_source_hash_follows_the_bytes_of_the_files_read(data_copy, kr2022, ccss):
    # A copy elsewhere hashes alike; a file the loader does not read (the hs/ table) changes nothing.
    _edit(data_copy / "kr-2022/hs/kr2022_math_highschool_standards.csv", "다항식", "다항식 ")
    assert load_kr2022(data_copy).source_hash == kr2022.source_hash
    _edit(data_copy / "kr-2022/k9/content_system/core_ideas.csv", "사물의 양은", "사물의  양은")
    assert load_kr2022(data_copy).source_hash != kr2022.source_hash
    _edit(data_copy / "us-ccss/cluster_and_standard_classification.json", '"major"', ' "major"')
    assert load_us_ccss(data_copy).source_hash != ccss.source_hash


def test_files_hash_depends_on_names_and_bytes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a/x.csv", tmp_path / "b/x.csv"
    first.write_bytes(b"1")
    second.write_bytes(b"1")
    before = files_hash([first, second])
    assert files_hash([second, first]) == before
    second.write_bytes(b"2")
    assert files_hash([first, second]) != before


@pytest.mark.parametrize("curriculum_id", sorted(LOADERS))
def test_loading_is_deterministic(curriculum_id):
    assert load_curriculum(curriculum_id) == load_curriculum(curriculum_id)


@pytest.mark.parametrize(
    ("curriculum", "code"),
    [
        ("kr-2015", "9수04-08"),
        ("kr-2015", "4수01-05"),
        ("kr-2015", "10수학01-01"),
        ("kr-2015", "2수05-03"),
        ("us-ccss", "K.CC.A.1"),
        ("us-ccss", "4.NF.B.3.a"),
        ("us-ccss", "A-APR.A.1"),
        ("us-ccss", "N-RN.A.1"),
        ("us-ccss", "S-ID.C.9"),
        ("us-ccss", "G-SRT.D.10"),
    ],
)
def test_real_codes_are_valid(curriculum, code):
    assert is_valid_code(code, curriculum)


@pytest.mark.parametrize(
    ("curriculum", "code"),
    [
        ("kr-2015", "9수4-8"),
        ("kr-2015", "9수06-01"),  # the 2015 curriculum has five areas
        ("kr-2015", "3수01-01"),
        ("kr-2015", "10공수1-01-01"),  # a 2022 code
        ("kr-2015", "9수04-00"),
        ("us-ccss", "K.CC.1"),
        ("us-ccss", "4.NF.B.3a"),  # compact spelling: normalize_code turns it into 4.NF.B.3.a
        ("us-ccss", "9.NF.A.1"),
        ("us-ccss", "4.XX.A.1"),
        ("us-ccss", "A-XYZ.A.1"),
        ("us-ccss", "A.APR.A.1"),
        ("us-ccss", "HS.A-APR.A.1"),
        ("us-ccss", "9수04-08"),
    ],
)
def test_malformed_codes_are_rejected(curriculum, code):
    assert not is_valid_code(code, curriculum)


def test_ccss_compact_codes_normalise_to_the_dotted_spelling():
    assert normalize_code("4.NF.B.3a", "us-ccss") == "4.NF.B.3.a"
    assert normalize_code(" [A-SSE.A.1b] ", "us-ccss") == "A-SSE.A.1.b"
    assert normalize_code("K.CC.A.1", "us-ccss") == "K.CC.A.1"
    assert normalize_code("[9수04-08]", "kr-2015") == "9수04-08"
