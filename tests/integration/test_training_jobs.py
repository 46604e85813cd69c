"""``mathlabel training ...``: the training jobs on the configured stores (the DAG's runs of them are in tests/dags)."""

import json

import pytest
from typer.testing import CliRunner

from mathlabel.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()


def test_pages_writes_a_layout_dataset_the_trainer_accepts(clean_objects, tmp_path):
    from training.layout import fetch_dataset

    result = runner.invoke(app, ["training", "pages", "--version", "cli1", "--train", "2", "--val", "1"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["prefix"] == "input-data/layout/cli1" and summary["pages"] == {"train": 2, "val": 1}
    _, manifest = fetch_dataset(clean_objects, "input-data/layout/cli1", tmp_path / "copy")
    assert manifest["pages"] == {"train": 2, "val": 1}


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--promote", "--no-registry"], "--promote needs the model registry"),
        (["--resume"], "resume needs the work folder"),
        (["--precision", "fp16"], "precision must be fp32 or bf16"),
    ],
)
def test_layout_refuses_options_that_cannot_work_before_it_trains(args, says):
    result = runner.invoke(app, ["training", "layout", "--dataset", "input-data/layout/none", *args])

    assert result.exit_code == 2 and says in " ".join(result.output.replace("│", " ").split()), result.output
