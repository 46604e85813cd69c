"""The mathlabel CLI's graph commands against the embedded FalkorDB."""

import json

import pytest
from typer.testing import CliRunner

from mathlabel.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def test_seed_then_stats_shows_every_curriculum(stack):
    seeded = runner.invoke(app, ["seed"])
    assert seeded.exit_code == 0, seeded.output
    stats = runner.invoke(app, ["graph", "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    counts = json.loads(stats.output)
    assert {cid: c["standards"] for cid, c in counts.items()} == {"kr-2022": 435, "kr-2015": 129, "us-ccss": 480}
    assert counts["us-ccss"]["edges"]["PREREQUISITE_OF"] == {"coherence-map": 757}
    again = runner.invoke(app, ["seed", "--curriculum", "kr-2015"])
    assert again.exit_code == 0 and "unchanged kr-2015@" in again.output


def test_seed_of_a_curriculum_with_bad_files_writes_nothing_and_says_why(stack, clean_objects):
    clean_objects.write_bytes("curriculum/kr-2015/middle_standards.csv", b"code,area,grade_band,content\n")
    result = runner.invoke(app, ["seed", "--curriculum", "kr-2015", "--force"])
    assert result.exit_code == 1
    assert "kr-2015" in result.output and "nothing was written" in result.output


def test_unknown_curriculum_is_refused(stack):
    result = runner.invoke(app, ["seed", "--curriculum", "fr-2020"])
    assert result.exit_code == 1 and "unknown curriculum" in result.output
