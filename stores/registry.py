"""Model registry: MLflow (a server in production, SQLite-backed for the embedded stack), aliases not stages.

The one module that speaks MLflow's API. Training, the DAGs and the CLI log runs, register versions, move aliases,
load and download models through ``ModelRegistry``. mlflow is imported on first use: importing it costs seconds, and a
labeling run that finds no champion for its curricula never needs it (``by_alias`` asks a server's REST API first).

Loading a model unpickles it, so a registry with a ``signing_secret`` trusts only versions the pipeline signed
(``sign``): the version tag ``signature`` is an HMAC of its files and named tags under a secret that MLflow never
holds, and ``fetch_verified`` checks it before anything is unpickled. Whoever reaches the server can move an alias
or register a version, but cannot sign one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import hmac
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from stores.errors import StoreError

_ABSENT = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}
SIGNATURE = "signature"  # the version tag that holds the pipeline's signature (``MlflowModelRegistry.sign``)


class UntrustedModelError(StoreError):
    """A registered version the pipeline did not sign, or whose files or signed tags changed since."""


def files_digest(folder: Path) -> str:
    """SHA-256 over every file under ``folder``: each one's path relative to it and its bytes' SHA-256, by path."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(
            f"{path.relative_to(folder).as_posix()}\0{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode()
        )
    return digest.hexdigest()


def signature(secret: str, name: str, tags: dict[str, str], digest: str) -> str:
    """HMAC-SHA256 under ``secret`` of a model's name, the tags it is trusted for and its files' digest."""
    message = json.dumps({"name": name, "tags": tags, "files": digest}, sort_keys=True, ensure_ascii=False)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    alias: str | None
    tags: dict[str, str]

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def label(self) -> str:
        """``text-labeler-v3``: how label documents and page readings name a registered version."""
        return f"{self.name}-v{self.version}"


class ModelRegistry(Protocol):
    """Registered models with aliases, and the tracking runs they are logged from."""

    tracking_uri: str

    def reachable(self) -> bool: ...
    def by_alias(self, name: str, alias: str) -> ModelRef | None: ...
    def get(self, name: str, version: str) -> ModelRef: ...
    def resolve(self, uri: str) -> ModelRef: ...
    def versions(self, name: str) -> list[ModelRef]: ...
    def set_alias(self, name: str, alias: str, version: str) -> None: ...
    def delete_alias(self, name: str, alias: str) -> None: ...
    def run(self, experiment: str, name: str | None = None) -> contextlib.AbstractContextManager[str]: ...
    def log_params(self, run_id: str, params: dict[str, Any]) -> None: ...
    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int | None = None) -> None: ...
    def set_tags(self, run_id: str, tags: dict[str, str]) -> None: ...
    def run_tags(self, run_id: str) -> dict[str, str]: ...
    def log_artifact(self, run_id: str, path: Path, folder: str) -> None: ...
    def log_model(self, run_id: str, model_class: type, artifacts: dict[str, str], requirements: list[str]) -> None: ...
    def register(self, run_id: str, name: str, tags: dict[str, str]) -> ModelRef: ...
    def load(self, uri: str) -> Any: ...
    def download(self, ref: ModelRef, folder: Path) -> Path: ...
    def sign(self, ref: ModelRef, bound: Iterable[str]) -> ModelRef: ...
    def fetch_verified(self, ref: ModelRef, folder: Path, bound: Iterable[str]) -> Path: ...


@functools.cache
def pyfunc_class(module: str, qualname: str, load: Callable[[dict[str, str]], Any]) -> type:
    """An MLflow model class whose ``model`` is ``load(artifacts)`` and whose ``predict`` is that model's.

    Registered models pickle the class by reference, as ``module.qualname``: ``module`` must return this class
    from its ``__getattr__`` for ``qualname``, so that every version it ever registered still loads.
    """
    import mlflow.pyfunc

    class Pyfunc(mlflow.pyfunc.PythonModel):
        def load_context(self, context) -> None:
            self.model = load(context.artifacts)

        def predict(self, context, model_input, params=None):
            return self.model.predict(model_input)

    Pyfunc.__module__, Pyfunc.__qualname__, Pyfunc.__name__ = module, qualname, qualname
    return Pyfunc


class MlflowModelRegistry:
    """``ModelRegistry`` over MLflow at ``tracking_uri``; the ``mlflow.MlflowClient`` is built on first use unless
    one is given. With ``signing_secret`` it signs the versions the pipeline registers and loads no other."""

    def __init__(self, tracking_uri: str, client: Any | None = None, signing_secret: str = "") -> None:
        self.tracking_uri = tracking_uri
        self._client = client
        self._secret = signing_secret

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = self._mlflow().MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def _mlflow(self) -> Any:
        import mlflow

        if os.environ.get("MLFLOW_DISABLE_TELEMETRY", "").lower() == "true":
            # MLflow decides at import whether to send usage telemetry; an offline process (a training) may have
            # set the variable after that: decide again.
            with contextlib.suppress(ImportError, AttributeError):
                from mlflow.telemetry import set_telemetry_client

                set_telemetry_client()
        mlflow.set_tracking_uri(self.tracking_uri)  # the fluent API (runs, pyfunc, register) reads it
        return mlflow

    def _http(self) -> bool:
        return self.tracking_uri.startswith(("http://", "https://"))

    def reachable(self, timeout: float = 3.0) -> bool:
        """Whether an HTTP tracking server answers (MLflow's client would otherwise retry for minutes)."""
        if not self._http():
            return True
        try:
            with urllib.request.urlopen(self.tracking_uri.rstrip("/") + "/health", timeout=timeout):
                return True
        except (urllib.error.URLError, OSError):
            return False

    def by_alias(self, name: str, alias: str) -> ModelRef | None:
        """The version ``alias`` points at, or None when the model or the alias does not exist."""
        found, known = self._by_alias_over_rest(name, alias)
        if known:
            return found
        from mlflow.exceptions import MlflowException

        try:
            version = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if exc.error_code in _ABSENT:
                return None
            raise StoreError(f"model registry: cannot read {name}@{alias}: {exc}") from exc
        return ModelRef(name, str(version.version), alias, dict(version.tags or {}))

    def _by_alias_over_rest(self, name: str, alias: str) -> tuple[ModelRef | None, bool]:
        """``by_alias`` through a server's REST API, without importing mlflow; (None, False) when the answer is
        unclear (no HTTP server, authentication, an odd reply): the caller then asks through the client."""
        if not self._http():
            return None, False
        query = urllib.parse.urlencode({"name": name, "alias": alias})
        try:
            url = f"{self.tracking_uri.rstrip('/')}/api/2.0/mlflow/registered-models/alias?{query}"
            with urllib.request.urlopen(url, timeout=10) as answer:
                version = json.load(answer)["model_version"]
            tags = {t["key"]: t["value"] for t in version.get("tags", [])}
            return ModelRef(name, str(version["version"]), alias, tags), True
        except urllib.error.HTTPError as exc:
            try:
                code = json.load(exc).get("error_code")
            except (ValueError, AttributeError):
                return None, False
            return None, exc.code in {400, 404} and code in _ABSENT
        except (OSError, ValueError, KeyError, TypeError):
            return None, False

    def get(self, name: str, version: str) -> ModelRef:
        from mlflow.exceptions import MlflowException

        try:
            found = self.client.get_model_version(name, version)
        except MlflowException as exc:
            raise StoreError(f"model registry: no version {version} of {name} ({str(exc).splitlines()[0]})") from exc
        return ModelRef(name, str(found.version), None, dict(found.tags or {}))

    def resolve(self, uri: str) -> ModelRef:
        """The version ``models:/<name>@<alias>`` or ``models:/<name>/<version>`` names.

        Raises:
            StoreError: it names no version.
        """
        ref = uri.removeprefix("models:/")
        if "@" in ref:
            name, _, alias = ref.partition("@")
            found = self.by_alias(name, alias)
            if found is None:
                raise StoreError(f"model registry: {name} has no version with alias {alias!r}")
            return found
        name, _, version = ref.partition("/")
        return self.get(name, version)

    def versions(self, name: str) -> list[ModelRef]:
        found = self.client.search_model_versions(f"name = '{name}'")
        return sorted(
            (ModelRef(name, str(v.version), None, dict(v.tags or {})) for v in found), key=lambda r: int(r.version)
        )

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        self.client.delete_registered_model_alias(name, alias)

    @contextlib.contextmanager
    def run(self, experiment: str, name: str | None = None) -> Iterator[str]:
        """A tracking run of ``experiment``, active while the block runs; yields its id."""
        mlflow = self._mlflow()
        mlflow.set_experiment(experiment)
        with mlflow.start_run(run_name=name) as active:
            yield active.info.run_id

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        self.client.log_batch(run_id, params=[Param(k, str(v)) for k, v in params.items()])

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int | None = None) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(run_id, metrics=[Metric(k, float(v), now, step or 0) for k, v in metrics.items()])

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def run_tags(self, run_id: str) -> dict[str, str]:
        return dict(self.client.get_run(run_id).data.tags)

    def log_artifact(self, run_id: str, path: Path, folder: str) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path=folder)

    def log_model(self, run_id: str, model_class: type, artifacts: dict[str, str], requirements: list[str]) -> None:
        """Log ``model_class()`` (from ``pyfunc_class``) with its artifacts as the run's ``model``, serving with
        ``requirements`` and mlflow; the run must be the active one (``run``)."""
        mlflow = self._mlflow()
        active = mlflow.active_run()
        if active is None or active.info.run_id != run_id:
            raise StoreError(f"model registry: log the model of run {run_id} inside `with registry.run(...)`")
        mlflow.pyfunc.log_model(name="model", python_model=model_class(), artifacts=artifacts,
                                pip_requirements=["mlflow", *requirements])  # fmt: skip

    def register(self, run_id: str, name: str, tags: dict[str, str]) -> ModelRef:
        """Register the model logged by ``run_id`` as a new version of ``name``."""
        version = self._mlflow().register_model(f"runs:/{run_id}/model", name, tags=tags)
        return ModelRef(name, str(version.version), None, dict(tags))

    def load(self, uri: str) -> Any:
        """The model object of a logged or registered model (``runs:/<id>/model``, ``models:/<name>/<version>``, or
        the folder ``fetch_verified`` gave): what its ``pyfunc_class`` loaded."""
        return self._mlflow().pyfunc.load_model(uri).unwrap_python_model().model

    def download(self, ref: ModelRef, folder: Path) -> Path:
        """The files of a registered version, downloaded under ``folder``."""
        mlflow = self._mlflow()
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=ref.uri, dst_path=str(folder)))

    def _signature(self, ref: ModelRef, bound: Iterable[str], folder: Path) -> str:
        return signature(self._secret, ref.name, {k: ref.tags.get(k, "") for k in bound}, files_digest(folder))

    def sign(self, ref: ModelRef, bound: Iterable[str]) -> ModelRef:
        """Tag version ``ref`` with the signature of its files and its tags named in ``bound``; returns it with the
        tag. Without a signing secret (the embedded stack), ``ref`` as it is."""
        if not self._secret:
            return ref
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            value = self._signature(ref, bound, self.download(ref, Path(folder)))
        self.client.set_model_version_tag(ref.name, ref.version, SIGNATURE, value)
        return replace(ref, tags={**ref.tags, SIGNATURE: value})

    def fetch_verified(self, ref: ModelRef, folder: Path, bound: Iterable[str]) -> Path:
        """Version ``ref``'s files, downloaded under ``folder``, once its signature (``sign``, with the same ``bound``)
        is checked; unchecked without a signing secret.

        Raises:
            UntrustedModelError: no signature, or one that does not match the files and tags.
        """
        path = self.download(ref, folder)
        if self._secret:
            given = ref.tags.get(SIGNATURE)
            if not given:
                raise UntrustedModelError(
                    f"{ref.label} carries no signature: the training pipeline did not register it"
                )
            if not hmac.compare_digest(given, self._signature(ref, bound, path)):
                raise UntrustedModelError(
                    f"{ref.label}: its signature does not match its files and tags (changed since the pipeline "
                    "registered it, or signed under another secret)"
                )
        return path
