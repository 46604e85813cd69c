from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from mathlabel.config import PROJECT_ROOT, Settings


def test_defaults_file_values_are_loaded(monkeypatch):
    monkeypatch.delenv("MATHLABEL_GRAPH__PORT", raising=False)
    settings = Settings()
    assert settings.graph.backend == "falkordb"
    assert settings.graph.port == 16379
    assert settings.labeling.curriculum == "kr-2022"


def test_environment_overrides_the_defaults_file(monkeypatch):
    monkeypatch.setenv("MATHLABEL_LABELING__TOP_K", "9")
    assert Settings().labeling.top_k == 9


def test_secrets_have_no_default():
    settings = Settings()
    assert settings.graph.password is None
    assert settings.label_store.uri is None


def test_relative_var_dir_is_anchored_at_the_project_root(monkeypatch):
    monkeypatch.setenv("MATHLABEL_VAR_DIR", "var")
    settings = Settings()
    assert settings.var_path == PROJECT_ROOT / "var"
    assert settings.object_store_url == (PROJECT_ROOT / "var" / "objects").as_uri()


def test_unknown_key_in_a_settings_file_is_rejected(tmp_path: Path):
    config = tmp_path / "bad.yaml"
    config.write_text("graph:\n  prot: 7687\n")

    class FileSettings(Settings):
        model_config = SettingsConfigDict(yaml_file=config)

    with pytest.raises(ValidationError, match="prot"):
        FileSettings()


def test_invalid_backend_is_rejected(monkeypatch):
    monkeypatch.setenv("MATHLABEL_GRAPH__BACKEND", "sqlite")
    with pytest.raises(ValidationError, match="backend"):
        Settings()
