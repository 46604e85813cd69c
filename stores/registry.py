"""Model registry: MLflow (a server in production, SQLite-backed for the embedded stack), aliases not stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stores.errors import StoreError


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    alias: str | None
    tags: dict[str, str]

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


class MlflowModelRegistry:
    """Registered models through an injected ``mlflow.MlflowClient``."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def by_alias(self, name: str, alias: str) -> ModelRef | None:
        """The version ``alias`` points at, or None when the model or the alias does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            version = self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            if exc.error_code in {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}:
                return None
            raise StoreError(f"model registry: cannot read {name}@{alias}: {exc}") from exc
        return ModelRef(name, str(version.version), alias, dict(version.tags or {}))

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(name, alias, version)

    def delete_alias(self, name: str, alias: str) -> None:
        self.client.delete_registered_model_alias(name, alias)

    def versions(self, name: str) -> list[ModelRef]:
        found = self.client.search_model_versions(f"name = '{name}'")
        return sorted(
            (ModelRef(name, str(v.version), None, dict(v.tags or {})) for v in found), key=lambda r: int(r.version)
        )
