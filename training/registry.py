"""Logging, registering and loading the text labeler through MLflow (``models:/text-labeler@champion``)."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path
from typing import Any

from stores.registry import MlflowModelRegistry, ModelRef
from training.text_labeler import TextLabelerModel

MODEL_NAME = "text-labeler"
EXPERIMENT = "text-labeler"


@functools.cache
def _pyfunc_class() -> type:
    """The MLflow wrapper of the text labeler, defined on first use: importing mlflow costs seconds, and a run that
    finds no champion never needs it."""
    import mlflow.pyfunc

    class TextLabelerPyfunc(mlflow.pyfunc.PythonModel):
        """MLflow wrapper: the pickled TextLabelerModel is the artifact; ``predict`` returns top-5 codes."""

        def load_context(self, context) -> None:
            import joblib

            self.model: TextLabelerModel = joblib.load(context.artifacts["model"])

        def predict(self, context, model_input, params=None):
            texts = list(model_input["text"]) if hasattr(model_input, "columns") else list(model_input)
            proba = self.model.predict_proba(texts)
            return [[self.model.classes[i] for i in row.argsort()[::-1][:5]] for row in proba]

    # Registered models pickle the class by reference, as training.registry.TextLabelerPyfunc.
    TextLabelerPyfunc.__qualname__ = "TextLabelerPyfunc"
    return TextLabelerPyfunc


def __getattr__(name: str) -> Any:
    if name == "TextLabelerPyfunc":  # loading a registered model looks the class up here
        return _pyfunc_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def log_text_labeler(
    model: TextLabelerModel,
    *,
    curricula: list[str],
    tracking_uri: str,
    metrics: dict[str, float] | None = None,
    register: bool = True,
    tags: dict[str, str] | None = None,
) -> ModelRef:
    """Log the model with its parameters and metrics to an MLflow run and, with ``register``, register it as a new
    version. Without ``register`` the returned ref names the run's model (``runs:/<run id>/model``, version "")."""
    import joblib
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(EXPERIMENT)
    with tempfile.TemporaryDirectory() as folder, mlflow.start_run() as run:
        path = Path(folder) / "text_labeler.joblib"
        joblib.dump(model, path)
        mlflow.log_params({**model.params.to_dict(), "curricula": ",".join(curricula)})
        mlflow.log_metrics({k: float(v) for k, v in {**model.meta, **(metrics or {})}.items()
                            if isinstance(v, int | float)})  # fmt: skip
        mlflow.set_tags({"curricula": ",".join(curricula), "fingerprint": model.meta["fingerprint"], **(tags or {})})
        mlflow.pyfunc.log_model(
            name="model",
            python_model=_pyfunc_class()(),
            artifacts={"model": str(path)},
            pip_requirements=["mlflow", "scikit-learn", "kiwipiepy", "kiwipiepy-model", "numpy", "scipy"],
        )
        run_id = run.info.run_id
    if not register:
        return ModelRef(MODEL_NAME, "", None, {"curricula": ",".join(curricula), "run_id": run_id})
    return register_run(run_id, tracking_uri)


def register_run(run_id: str, tracking_uri: str) -> ModelRef:
    """Register the text labeler logged by ``run_id`` as a new version, tagged with its curricula and run."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    run_tags = mlflow.MlflowClient(tracking_uri=tracking_uri).get_run(run_id).data.tags
    tags = {key: run_tags.get(key, "") for key in ("curricula", "fingerprint")} | {"run_id": run_id}
    version = str(mlflow.register_model(f"runs:/{run_id}/model", MODEL_NAME, tags=tags).version)
    return ModelRef(MODEL_NAME, version, None, tags)


def load_text_labeler(ref: ModelRef, tracking_uri: str) -> TextLabelerModel:
    """Load a registered text-labeler version (artifacts are downloaded; nothing is trained)."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    return mlflow.pyfunc.load_model(ref.uri).unwrap_python_model().model


def registry(tracking_uri: str) -> MlflowModelRegistry:
    import mlflow

    return MlflowModelRegistry(mlflow.MlflowClient(tracking_uri=tracking_uri))


def champion(
    tracking_uri: str, curricula: list[str], alias: str = "champion"
) -> tuple[TextLabelerModel, ModelRef] | None:
    """The ``alias`` text labeler when one exists and was trained for exactly these curricula."""
    if _absent_over_rest(tracking_uri, alias, curricula):
        return None
    ref = registry(tracking_uri).by_alias(MODEL_NAME, alias)
    if ref is None or ref.tags.get("curricula") != ",".join(curricula):
        return None
    return load_text_labeler(ref, tracking_uri), ref


def _absent_over_rest(tracking_uri: str, alias: str, curricula: list[str]) -> bool:
    """Whether an MLflow server says, through its REST API, that no ``alias`` version exists for ``curricula``.

    Asked without importing mlflow, which costs seconds in every run that finds no champion (the cold start). False
    when there may be one, or the server gives no clear answer (the caller then asks through the mlflow client).
    """
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    if not tracking_uri.startswith(("http://", "https://")):
        return False
    query = urllib.parse.urlencode({"name": MODEL_NAME, "alias": alias})
    try:
        url = f"{tracking_uri.rstrip('/')}/api/2.0/mlflow/registered-models/alias?{query}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            tags = {t["key"]: t["value"] for t in json.load(answer)["model_version"].get("tags", [])}
    except urllib.error.HTTPError as exc:
        try:
            code = json.load(exc).get("error_code")
        except (ValueError, AttributeError):
            return False
        return exc.code in {400, 404} and code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return tags.get("curricula") != ",".join(curricula)


def describe(ref: ModelRef | None) -> dict[str, Any]:
    return {"name": ref.name, "version": ref.version, "tags": ref.tags} if ref else {}


def labeler_for(index: Any, *, alias: str, tracking_uri: str, fallback_version: str) -> tuple[Any, str]:
    """The labeler a run uses and the model version its label documents record.

    The registry's ``alias`` version of the text labeler when one exists for the run's curricula; otherwise the
    cold-start labeler (the retriever, with verified examples in its documents). An unreachable registry is an
    error (the task retries), never a silent fallback.
    """
    from urllib.parse import urlparse

    from labeling.errors import LabelingError
    from mathlabel.services import port_open
    from training.text_labeler import TrainedLabeler

    if not alias:
        return index.cold_start, fallback_version
    url = urlparse(tracking_uri)
    if url.scheme in {"http", "https"} and not port_open(
        url.port or (443 if url.scheme == "https" else 80), url.hostname
    ):
        raise LabelingError(
            f"model registry at {tracking_uri} is unreachable: start it (`mathlabel services up`) or set "
            "MATHLABEL_LABELING__MODEL_ALIAS= to label with the cold-start labeler"
        )
    found = champion(tracking_uri, index.curricula, alias)
    if found is None:
        return index.cold_start, fallback_version
    model, ref = found
    return TrainedLabeler(model, index.retriever), f"{ref.name}-v{ref.version}"


def labeler_from_settings(index: Any, settings: Any) -> tuple[Any, str]:
    """``labeler_for`` with the alias, registry and fallback version of the configured settings."""
    return labeler_for(
        index,
        alias=settings.labeling.model_alias,
        tracking_uri=settings.mlflow_tracking_uri,
        fallback_version=settings.labeling.model_version,
    )
