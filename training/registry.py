"""The text labeler in the model registry (``models:/text-labeler@champion-<curricula>``, one champion per curricula
set): log, register, load, and the labeler a labeling run uses.

Registering signs the version (``ModelRegistry.sign``, over its files and ``SIGNED_TAGS``) where the registry has a
signing secret (production), and the champion is loaded only once that signature is checked: an alias moved to a
version someone else registered is refused before its pickle is opened.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from labeling.evaluate import VersionedLabeler
from stores.registry import ModelRef, ModelRegistry, UntrustedModelError, pyfunc_class
from training.promotion import CHAMPION, champion_alias, make_champion
from training.text_labeler import TextLabelerModel, load_model_file

log = logging.getLogger(__name__)

MODEL_NAME = "text-labeler"
EXPERIMENT = "text-labeler"
_PYFUNC = "TextLabelerPyfunc"
REQUIREMENTS = ["scikit-learn", "kiwipiepy", "kiwipiepy-model", "numpy", "scipy"]
# The version tags a signature covers: the curricula it is champion for, the model's fingerprint and training run.
SIGNED_TAGS = ("curricula", "fingerprint", "run_id")


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
    """Register the text labeler logged by ``run_id`` as a new version, tagged with its curricula and run, and
    signed (``SIGNED_TAGS``; where the registry has a signing secret)."""
    run_tags = registry.run_tags(run_id)
    tags = {key: run_tags.get(key, "") for key in ("curricula", "fingerprint")} | {"run_id": run_id}
    return registry.sign(registry.register(run_id, MODEL_NAME, tags), SIGNED_TAGS)


def migrate_champion_alias(registry: ModelRegistry, name: str = MODEL_NAME, base: str = CHAMPION) -> str | None:
    """Move the one champion alias of old (``base``, whatever the curricula) to the champion alias of the curricula
    its version was trained for, unless that curricula set has a champion already; returns that alias, or None
    when there is no old alias to move (or its version has no curricula tag, and it is left as it is).

    Idempotent. The old alias is removed once moved: left in place, it would go stale at the next promotion and
    would bring back a champion someone removed (by deleting ``champion-<curricula>``) at the next lookup.
    """
    legacy = registry.by_alias(name, base)
    if legacy is None or not legacy.tags.get("curricula"):
        return None
    alias = champion_alias(legacy.tags["curricula"].split(","), base)
    if registry.by_alias(name, alias) is None:  # a champion promoted since is newer than the old alias
        registry.set_alias(name, alias, legacy.version)
        log.info("%s@%s (version %s) is now %s@%s", name, base, legacy.version, name, alias)
    registry.delete_alias(name, base)
    return alias


def champion_ref(registry: ModelRegistry, curricula: list[str], base: str = CHAMPION) -> ModelRef | None:
    """The registered champion of exactly these curricula (alias ``champion_alias(curricula, base)``), or None;
    moves the old single ``base`` alias first when there is no such champion yet."""
    alias = champion_alias(curricula, base)
    ref = registry.by_alias(MODEL_NAME, alias)
    if ref is None and migrate_champion_alias(registry, MODEL_NAME, base) == alias:
        ref = registry.by_alias(MODEL_NAME, alias)
    # The tag is the truth: an alias set by hand on a model of other curricula would rank with the wrong standards.
    if ref is None or ref.tags.get("curricula") != ",".join(curricula):
        return None
    return ref


def champion(
    registry: ModelRegistry, curricula: list[str], alias: str = CHAMPION
) -> tuple[TextLabelerModel, ModelRef] | None:
    """The champion text labeler of exactly these curricula (``champion_ref`` with base ``alias``), loaded once its
    signature is checked, or None.

    Raises:
        UntrustedModelError: the champion is a version the pipeline did not sign, or one changed since.
    """
    ref = champion_ref(registry, curricula, alias)
    if ref is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        model = registry.load(str(registry.fetch_verified(ref, Path(folder), SIGNED_TAGS)))
    if model.meta.get("fingerprint") != ref.tags.get("fingerprint"):  # the file is the model the tag names
        raise UntrustedModelError(f"{ref.label}: its model's fingerprint is not its fingerprint tag")
    return model, ref


def promote(registry: ModelRegistry, version: str, base: str = CHAMPION) -> str:
    """Make text-labeler ``version`` the champion of the curricula it was trained for (its ``curricula`` tag), and
    no other curricula set's; returns the alias set.

    Raises:
        ValueError: the version has no curricula tag.
    """
    curricula = registry.get(MODEL_NAME, version).tags.get("curricula", "")
    if not curricula:
        raise ValueError(f"{MODEL_NAME} version {version} has no curricula tag: it cannot be any curricula's champion")
    # Move the old alias out of the way first: left to go stale, it would come back as a champion the moment this
    # one's alias were removed.
    migrate_champion_alias(registry, MODEL_NAME, base)
    return make_champion(registry, MODEL_NAME, version, curricula.split(","), base)


def describe(ref: ModelRef | None) -> dict[str, Any]:
    return {"name": ref.name, "version": ref.version, "tags": ref.tags} if ref else {}


def labeler_for(index: Any, registry: ModelRegistry, *, alias: str, fallback_version: str) -> VersionedLabeler:
    """The labeler a run uses, under the model version its label documents record (``labeler.version``).

    The registry's champion of the run's curricula (alias ``champion_alias(index.curricula, alias)``: ``alias`` is
    the base name, e.g. ``champion``) as ``text-labeler-v<N>`` when there is one; otherwise the cold-start labeler
    (the retriever, with verified examples in its documents) as ``fallback_version``. An unreachable registry is an
    error (the task retries), never a silent fallback.
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
    try:
        found = champion(registry, index.curricula, alias)
    except UntrustedModelError as exc:
        raise LabelingError(
            f"{exc}; the champion alias {champion_alias(index.curricula, alias)} must point at a version "
            "nightly_retraining (or `mathlabel train`) registered: move it back, or promote a new one"
        ) from exc
    if found is None:
        return VersionedLabeler(index.cold_start, fallback_version)
    model, ref = found
    return VersionedLabeler(TrainedLabeler(model, index.retriever), ref.label)


def labeler_from_settings(index: Any, settings: Any, registry: ModelRegistry) -> VersionedLabeler:
    """``labeler_for`` with the alias and the fallback version of the settings."""
    return labeler_for(
        index, registry, alias=settings.labeling.model_alias, fallback_version=settings.labeling.model_version
    )
