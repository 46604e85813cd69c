"""The text labeler in the model registry (``models:/text-labeler@champion``): log, register, load, and the labeler a
labeling run uses."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from labeling.evaluate import VersionedLabeler
from stores.registry import ModelRef, ModelRegistry, pyfunc_class
from training.text_labeler import TextLabelerModel, load_model_file

MODEL_NAME = "text-labeler"
EXPERIMENT = "text-labeler"
_PYFUNC = "TextLabelerPyfunc"
REQUIREMENTS = ["scikit-learn", "kiwipiepy", "kiwipiepy-model", "numpy", "scipy"]


def _pyfunc() -> type:
    """The registered model's class: the pickled TextLabelerModel is its artifact, ``predict`` gives top-5 codes."""
    return pyfunc_class(__name__, _PYFUNC, load_model_file)


def __getattr__(name: str) -> Any:
    if name == _PYFUNC:  # loading a registered version looks its class up here, as training.registry.TextLabelerPyfunc
        return _pyfunc()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def log_text_labeler(
    model: TextLabelerModel,
    registry: ModelRegistry,
    *,
    curricula: list[str],
    metrics: dict[str, float] | None = None,
    register: bool = True,
    tags: dict[str, str] | None = None,
) -> ModelRef:
    """Log the model with its parameters and metrics to a tracking run and, with ``register``, register it as a new
    version. Without ``register`` the returned ref names the run's model (``runs:/<run id>/model``, version "")."""
    import joblib

    numbers = {k: float(v) for k, v in {**model.meta, **(metrics or {})}.items() if isinstance(v, int | float)}
    joined = ",".join(curricula)
    with tempfile.TemporaryDirectory() as folder, registry.run(EXPERIMENT) as run_id:
        path = Path(folder) / "text_labeler.joblib"
        joblib.dump(model, path)
        registry.log_params(run_id, {**model.params.to_dict(), "curricula": joined})
        registry.log_metrics(run_id, numbers)
        registry.set_tags(run_id, {"curricula": joined, "fingerprint": model.meta["fingerprint"], **(tags or {})})
        registry.log_model(run_id, _pyfunc(), {"model": str(path)}, REQUIREMENTS)
    if not register:
        return ModelRef(MODEL_NAME, "", None, {"curricula": joined, "run_id": run_id})
    return register_run(run_id, registry)


def register_run(run_id: str, registry: ModelRegistry) -> ModelRef:
    """Register the text labeler logged by ``run_id`` as a new version, tagged with its curricula and run."""
    run_tags = registry.run_tags(run_id)
    tags = {key: run_tags.get(key, "") for key in ("curricula", "fingerprint")} | {"run_id": run_id}
    return registry.register(run_id, MODEL_NAME, tags)


def champion(
    registry: ModelRegistry, curricula: list[str], alias: str = "champion"
) -> tuple[TextLabelerModel, ModelRef] | None:
    """The ``alias`` text labeler when one exists and was trained for exactly these curricula (loaded only then)."""
    ref = registry.by_alias(MODEL_NAME, alias)
    if ref is None or ref.tags.get("curricula") != ",".join(curricula):
        return None
    return registry.load(ref.uri), ref


def describe(ref: ModelRef | None) -> dict[str, Any]:
    return {"name": ref.name, "version": ref.version, "tags": ref.tags} if ref else {}


def labeler_for(index: Any, registry: ModelRegistry, *, alias: str, fallback_version: str) -> VersionedLabeler:
    """The labeler a run uses, under the model version its label documents record (``labeler.version``).

    The registry's ``alias`` version of the text labeler (``text-labeler-v<N>``) when one exists for the run's
    curricula; otherwise the cold-start labeler (the retriever, with verified examples in its documents) as
    ``fallback_version``. An unreachable registry is an error (the task retries), never a silent fallback.
    """
    from labeling.errors import LabelingError
    from training.text_labeler import TrainedLabeler

    if not alias:
        return VersionedLabeler(index.cold_start, fallback_version)
    if not registry.reachable():
        raise LabelingError(
            f"model registry at {registry.tracking_uri} is unreachable: start it (`mathlabel services up`) or set "
            "MATHLABEL_LABELING__MODEL_ALIAS= to label with the cold-start labeler"
        )
    found = champion(registry, index.curricula, alias)
    if found is None:
        return VersionedLabeler(index.cold_start, fallback_version)
    model, ref = found
    return VersionedLabeler(TrainedLabeler(model, index.retriever), ref.label)


def labeler_from_settings(index: Any, settings: Any, registry: ModelRegistry) -> VersionedLabeler:
    """``labeler_for`` with the alias and the fallback version of the settings."""
    return labeler_for(
        index, registry, alias=settings.labeling.model_alias, fallback_version=settings.labeling.model_version
    )
