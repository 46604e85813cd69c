"""The text labeler through the real MLflow server of the embedded stack: train, register, alias, load, label."""

import json
import subprocess
import sys

import pytest

from labeling.batch import CurriculumIndex
from labeling.errors import LabelingError
from labeling.schemas import Problem
from mathlabel.clients import model_registry
from mathlabel.config import PROJECT_ROOT
from stores.registry import MlflowModelRegistry
from training.registry import MODEL_NAME, champion, labeler_for, log_text_labeler
from training.text_labeler import TrainedLabeler, train_text_labeler

pytestmark = pytest.mark.integration
SAMPLE = PROJECT_ROOT / "labeling" / "samples" / "kr2022_sample.jsonl"


@pytest.fixture(scope="module")
def problems():
    return [Problem(**json.loads(line)) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def registered(seeded_graph, settings, problems):
    """A kr-2022 text labeler registered as champion; the alias is removed afterwards."""
    index = CurriculumIndex(seeded_graph, "kr-2022")
    model = train_text_labeler(problems, index.standards)
    models = model_registry(settings)
    ref = log_text_labeler(model, models, curricula=["kr-2022"])
    models.set_alias(MODEL_NAME, "champion", ref.version)
    yield index, model, ref
    models.delete_alias(MODEL_NAME, "champion")


def test_the_champion_is_loaded_by_alias_for_its_curricula_only(registered, settings):
    index, model, ref = registered
    models = model_registry(settings)
    loaded, loaded_ref = champion(models, ["kr-2022"])
    assert loaded_ref.version == ref.version and loaded.version == model.version
    assert champion(models, ["us-ccss"]) is None
    labeler = labeler_for(index, models, alias="champion", fallback_version="lexical-bm25-v2")
    # The labeler carries the identity its label documents record: the registered version, not the fingerprint.
    assert isinstance(labeler.labeler, TrainedLabeler) and labeler.version == f"text-labeler-v{ref.version}"


def test_trained_labeler_predicts_only_graph_standards(registered, problems):
    index, model, _ = registered
    ranked = TrainedLabeler(model, index.retriever).rank(problems[:20], top_k=10)
    assert all(c.code in index.codes for candidates in ranked for c in candidates)
    # Trained on these very problems, it must get them right: a broken blend would not.
    assert sum(candidates[0].code in p.labels for p, candidates in zip(problems[:20], ranked, strict=True)) >= 18


def test_without_a_champion_runs_use_the_cold_start_labeler(seeded_graph, settings):
    index = CurriculumIndex(seeded_graph, "us-ccss")
    labeler = labeler_for(index, model_registry(settings), alias="champion", fallback_version="lexical-bm25-v2")
    assert labeler.labeler is index.cold_start and labeler.version == "lexical-bm25-v2"
    assert labeler_for(index, MlflowModelRegistry("http://127.0.0.1:1"), alias="", fallback_version="x").version == "x"


def test_an_unreachable_registry_fails_fast_with_what_to_do(seeded_graph):
    from mathlabel.services import free_port

    index = CurriculumIndex(seeded_graph, "kr-2022")
    down = MlflowModelRegistry(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(LabelingError, match="unreachable"):
        labeler_for(index, down, alias="champion", fallback_version="x")


def test_a_run_without_a_champion_for_its_curricula_never_loads_mlflow(stack, settings):
    code = (
        "import sys, types\nfrom stores.registry import MlflowModelRegistry\n"
        "from training.registry import labeler_for\n"
        "index = types.SimpleNamespace(curricula=['no-such-curriculum'], cold_start='the cold start')\n"
        f"print(labeler_for(index, MlflowModelRegistry({settings.mlflow_tracking_uri!r}), alias='champion', "
        "fallback_version='v0').version, 'mlflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert out.stdout.split() == ["v0", "False"]  # importing mlflow costs seconds in every cold-start run
