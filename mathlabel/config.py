"""Settings: defaults.yaml merged with MATHLABEL_* environment variables, validated by pydantic.

Read when a command or task runs (``get_settings()``), never at import or DAG-parse time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = Path(__file__).with_name("defaults.yaml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ObjectStoreSettings(_Section):
    url: str = ""
    aws_conn_id: str = "aws_default"


class GraphSettings(_Section):
    backend: Literal["falkordb", "neo4j"] = "falkordb"
    host: str = "127.0.0.1"
    port: int = 16379
    graph_name: str = "curriculum"
    uri: str = ""
    user: str = "neo4j"
    password: SecretStr | None = None
    database: str = "neo4j"
    neo4j_conn_id: str = "neo4j_default"


class LabelStoreSettings(_Section):
    backend: Literal["embedded", "mongo"] = "embedded"
    uri: SecretStr | None = None
    database: str = "mathlabel"
    mongo_conn_id: str = "mongo_default"


class MlflowSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 15000
    tracking_uri: str = ""
    signing_secret: SecretStr | None = None  # signs registered models; production only (stores.registry)


class ServicesSettings(_Section):
    start_timeout: float = 300.0


class LabelingSettings(_Section):
    curriculum: str = "kr-2022"
    model_version: str = "lexical-bm25-v3"
    model_alias: str = "champion"
    top_k: int = 5
    auto_accept_score: float = 0.6
    max_text_chars: int = 20000
    chunk_size: int = 500
    pages_per_chunk: int = 8
    settle_seconds: float = 10.0
    orphan_after_seconds: float = 21600.0
    max_files_per_run: int = 500
    max_label_tasks: int = 512
    drop_queue_url: str = ""
    drop_queue_conn_id: str = "aws_default"
    drop_queue_poll_seconds: int = 20
    review_url: str = "http://127.0.0.1:8080/mathlabel/"


class TrainingSettings(_Section):
    curriculum: str = "kr-2022"
    holdout_share: float = 0.1
    min_examples_per_label: int = 2
    min_holdout: int = 20
    promotion_margin: float = 0.005
    promotion: str = "auto"
    compute: str = "local"
    ec2_instance_id: str = ""
    ec2_instance_type: str = "g5.xlarge"
    ec2_workdir: str = "/opt/mathlabel"
    aws_conn_id: str = "aws_default"
    layout_dataset: str = "input-data/layout/v1"
    layout_train_pages: int = 200
    layout_val_pages: int = 50
    layout_epochs: int = 50
    layout_imgsz: int = 640
    layout_batch: int = 8
    layout_margin: float = 0.0


class LLMSettings(_Section):
    model: str = ""
    temperature: float = 0.0
    tools: bool = True


class OcrSettings(_Section):
    text_engine: Literal["tesseract", "rapidocr", "tesseract+rapidocr"] = "tesseract+rapidocr"
    formula_engine: Literal["tesseract", "rapidocr"] = "rapidocr"
    tesseract_languages: str = "kor"
    tesseract_fallback_languages: str = "eng"
    tessdata_dir: str = ""
    rapidocr_model_dir: str = "bundled"
    min_confidence: float = 0.8
    layout_model: str = "auto"


class QualityGateSettings(_Section):
    window: int = 10
    min_runs: int = 3
    min_problems: int = 20
    max_needs_review_rise: float = 0.2
    max_score_psi: float = 0.25
    max_ocr_confidence_drop: float = 0.1
    max_quarantine_rise: float = 0.1
    drift_margin: float = 0.1
    drift_min_reviews: int = 30


class AlertSettings(_Section):
    connections: list[str] = []
    email_to: list[str] = []
    email_from: str = ""
    sns_target_arn: str = ""
    deadlines: bool = True
    batch_deadline_minutes: int = 120
    nightly_finish_hour: int = 7


class Settings(BaseSettings):
    """All mathlabel settings. Unknown keys in the defaults file or in a section are errors."""

    model_config = SettingsConfigDict(
        env_prefix="MATHLABEL_",
        env_nested_delimiter="__",
        extra="forbid",
        yaml_file=DEFAULTS_FILE,
    )

    var_dir: Path = Path("var")
    object_store: ObjectStoreSettings = ObjectStoreSettings()
    graph: GraphSettings = GraphSettings()
    label_store: LabelStoreSettings = LabelStoreSettings()
    mlflow: MlflowSettings = MlflowSettings()
    services: ServicesSettings = ServicesSettings()
    labeling: LabelingSettings = LabelingSettings()
    training: TrainingSettings = TrainingSettings()
    llm: LLMSettings = LLMSettings()
    ocr: OcrSettings = OcrSettings()
    quality_gate: QualityGateSettings = QualityGateSettings()
    alerts: AlertSettings = AlertSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit arguments, then the environment, then the commented defaults file.
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls))

    @property
    def var_path(self) -> Path:
        """Absolute data folder of the embedded stack."""
        path = self.var_dir.expanduser()
        return path if path.is_absolute() else PROJECT_ROOT / path

    @property
    def object_store_url(self) -> str:
        return self.object_store.url or (self.var_path / "objects").as_uri()

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.mlflow.tracking_uri or f"http://{self.mlflow.host}:{self.mlflow.port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read once on first use."""
    return Settings()
