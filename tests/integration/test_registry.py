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
from training.promotion import champion_alias
from training.registry import (
    MODEL_NAME,
    champion,
    champion_ref,
    labeler_for,
    log_text_labeler,
    migrate_champion_alias,
    promote,
)
from training.text_labeler import TrainedLabeler, train_text_labeler

pytestmark = pytest.mark.integration
SAMPLE = PROJECT_ROOT / "labeling" / "samples" / "kr2022_sample.jsonl"


@pytest.fixture(scope="module")
def problems():
    return [Problem(**json.loads(line)) for line in SAMPLE.read_text(encoding="utf-8").splitlines()]


CHAMPIONS = ("champion", "champion-kr-2022", "champion-us-ccss")


@pytest.fixture(scope="module")
def trained(seeded_graph, problems):
    index = CurriculumIndex(seeded_graph, "kr-2022")
    return index, train_text_labeler(problems, index.standards)


@pytest.fixture(scope="module")
def versions(trained, settings):
    """Registered versions: two for kr-2022 (older first) and one tagged us-ccss (the same model: only the tag,
    which names the curricula it was trained for, matters to aliases)."""
    models = model_registry(settings)
    curricula = (["kr-2022"], ["kr-2022"], ["us-ccss"])
    return [log_text_labeler(trained[1], models, curricula=c).version for c in curricula]


def _clear(models) -> None:
    for alias in CHAMPIONS:
        if models.by_alias(MODEL_NAME, alias):
            models.delete_alias(MODEL_NAME, alias)


@pytest.fixture
def models(versions, settings):
    """The registry with the versions above and no text-labeler champion before and after the test."""
    models = model_registry(settings)
    _clear(models)
    yield models
    _clear(models)


@pytest.fixture
def registered(trained, versions, models):
    """A kr-2022 text labeler registered as the kr-2022 champion."""
    index, model = trained
    models.set_alias(MODEL_NAME, champion_alias(["kr-2022"]), versions[1])
    return index, model, models.get(MODEL_NAME, versions[1])


def test_the_champion_is_loaded_by_alias_for_its_curricula_only(registered, settings):
    index, model, ref = registered
    models = model_registry(settings)
    loaded, loaded_ref = champion(models, ["kr-2022"])
    assert loaded_ref.version == ref.version and loaded.version == model.version
    assert champion(models, ["us-ccss"]) is None
    labeler = labeler_for(index, models, alias="champion", fallback_version="lexical-bm25-v3")
    # The labeler carries the identity its label documents record: the registered version, not the fingerprint.
    assert isinstance(labeler.labeler, TrainedLabeler) and labeler.version == f"text-labeler-v{ref.version}"


def test_promoting_a_kr_2022_model_leaves_the_us_ccss_champion_where_it_was(models, versions, seeded_graph):
    older_kr, kr, us = versions
    assert promote(models, us) == "champion-us-ccss"
    assert promote(models, older_kr) == "champion-kr-2022"
    assert promote(models, kr) == "champion-kr-2022"
    assert champion_ref(models, ["us-ccss"]).version == us and champion_ref(models, ["kr-2022"]).version == kr
    assert models.by_alias(MODEL_NAME, "champion") is None  # no alias shared by all curricula any more
    # An English run still labels with its own champion.
    labeler = labeler_for(CurriculumIndex(seeded_graph, "us-ccss"), models, alias="champion", fallback_version="x")
    assert labeler.version == f"text-labeler-v{us}"


def test_the_single_champion_alias_of_old_moves_to_its_curricula_at_the_first_lookup(models, versions):
    older_kr, kr, _ = versions
    models.set_alias(MODEL_NAME, "champion", older_kr)  # a registry from before per-curriculum champions

    assert champion_ref(models, ["us-ccss"]) is None  # another curricula's run migrates it, and gets no champion
    assert models.by_alias(MODEL_NAME, "champion") is None
    assert models.by_alias(MODEL_NAME, "champion-kr-2022").version == older_kr
    assert champion(models, ["kr-2022"])[1].version == older_kr
    assert migrate_champion_alias(models) is None  # nothing left to move

    # A champion promoted since is newer than the old alias: the migration keeps it and drops the old alias.
    models.set_alias(MODEL_NAME, "champion-kr-2022", kr)
    models.set_alias(MODEL_NAME, "champion", older_kr)
    assert migrate_champion_alias(models) == "champion-kr-2022"
    assert models.by_alias(MODEL_NAME, "champion-kr-2022").version == kr
    assert models.by_alias(MODEL_NAME, "champion") is None and champion_ref(models, ["us-ccss"]) is None


def test_trained_labeler_predicts_only_graph_standards(registered, problems):
    index, model, _ = registered
    ranked = TrainedLabeler(model, index.retriever).rank(problems[:20], top_k=10)
    assert all(c.code in index.codes for candidates in ranked for c in candidates)
    # Trained on these very problems, it must get them right: a broken blend would not.
    assert sum(candidates[0].code in p.labels for p, candidates in zip(problems[:20], ranked, strict=True)) >= 18


def test_without_a_champion_runs_use_the_cold_start_labeler(seeded_graph, models):
    index = CurriculumIndex(seeded_graph, "us-ccss")
    labeler = labeler_for(index, models, alias="champion", fallback_version="lexical-bm25-v3")
    assert labeler.labeler is index.cold_start and labeler.version == "lexical-bm25-v3"
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


def test_with_a_signing_secret_only_the_versions_the_pipeline_registered_are_loaded(trained, models, settings):
    from stores.registry import SIGNATURE, UntrustedModelError

    index, model = trained
    signed = MlflowModelRegistry(settings.mlflow_tracking_uri, signing_secret="pipeline-secret")
    ours = log_text_labeler(model, signed, curricula=["kr-2022"])  # what nightly_retraining registers
    assert ours.tags[SIGNATURE] == signed.get(MODEL_NAME, ours.version).tags[SIGNATURE]
    # Someone who reaches MLflow registers a version of their own and moves the champion alias to it.
    theirs = log_text_labeler(model, models, curricula=["kr-2022"])
    models.set_alias(MODEL_NAME, champion_alias(["kr-2022"]), theirs.version)
    with pytest.raises(UntrustedModelError, match="carries no signature"):
        champion(signed, ["kr-2022"])
    with pytest.raises(LabelingError, match="champion-kr-2022 must point at a version"):
        labeler_for(index, signed, alias="champion", fallback_version="x")
    # A signature copied onto their version does not match its files and tags; nor does ours under another secret.
    models.client.set_model_version_tag(MODEL_NAME, theirs.version, SIGNATURE, ours.tags[SIGNATURE])
    models.client.set_model_version_tag(MODEL_NAME, theirs.version, "run_id", ours.tags["run_id"])
    with pytest.raises(UntrustedModelError, match="does not match"):
        champion(signed, ["kr-2022"])
    models.set_alias(MODEL_NAME, champion_alias(["kr-2022"]), ours.version)
    other = MlflowModelRegistry(settings.mlflow_tracking_uri, signing_secret="another-secret")
    with pytest.raises(UntrustedModelError, match="does not match"):
        champion(other, ["kr-2022"])
    loaded, ref = champion(signed, ["kr-2022"])
    assert ref.version == ours.version and loaded.version == model.version
    # A signed tag changed afterwards (the fingerprint the file is checked against) breaks the signature.
    models.client.set_model_version_tag(MODEL_NAME, ours.version, "fingerprint", "0" * 64)
    with pytest.raises(UntrustedModelError, match="does not match"):
        champion(signed, ["kr-2022"])
    # Without a secret (the embedded stack) nothing is signed, but the file must still be the model its tag names.
    with pytest.raises(UntrustedModelError, match="fingerprint"):
        champion(models, ["kr-2022"])
