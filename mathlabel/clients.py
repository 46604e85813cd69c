"""Build store adapters from settings: the one place the CLI turns configuration into clients.

On Airflow, ``operators.clients`` builds the production adapters from Airflow connections instead and falls
back to these for the embedded stack.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from mathlabel.config import Settings
from stores.graph import FalkorGraphStore, GraphStore, Neo4jGraphStore
from stores.labels import EmbeddedLabelStore, LabelStore, MongoLabelStore
from stores.objects import LocalObjectStore, ObjectStore, S3ObjectStore
from stores.registry import MlflowModelRegistry, ModelRegistry

if TYPE_CHECKING:
    from labeling.index import CurriculumIndex
    from labeling.llm import Judge
    from labeling.vision import LayoutDetector, PageReader


def object_store(settings: Settings) -> ObjectStore:
    url = urlparse(settings.object_store_url)
    if url.scheme == "file":
        return LocalObjectStore(url.path)
    if url.scheme == "s3":
        import boto3

        return S3ObjectStore(boto3.client("s3"), bucket=url.netloc, prefix=url.path)
    raise ValueError(f"object_store.url must be file:// or s3://, not {settings.object_store_url!r}")


def graph_store(settings: Settings) -> GraphStore:
    graph = settings.graph
    if graph.backend == "falkordb":
        from falkordb import FalkorDB

        return FalkorGraphStore(FalkorDB(host=graph.host, port=graph.port).select_graph(graph.graph_name))
    from neo4j import GraphDatabase

    if not graph.uri or graph.password is None:
        raise ValueError("graph.backend=neo4j needs MATHLABEL_GRAPH__URI and MATHLABEL_GRAPH__PASSWORD")
    driver = GraphDatabase.driver(graph.uri, auth=(graph.user, graph.password.get_secret_value()))
    return Neo4jGraphStore(driver, database=graph.database)


def label_store(settings: Settings) -> LabelStore:
    config = settings.label_store
    if config.backend == "embedded":
        return EmbeddedLabelStore.open(str(settings.var_path / "labelstore"), config.database)
    from pymongo import MongoClient

    if config.uri is None:
        raise ValueError("label_store.backend=mongo needs MATHLABEL_LABEL_STORE__URI")
    return MongoLabelStore.open(MongoClient(config.uri.get_secret_value())[config.database])  # ensures its indexes


def model_registry(settings: Settings) -> ModelRegistry:
    """The MLflow registry at ``settings.mlflow_tracking_uri`` (its client is built on first use), signing and
    checking model versions with ``mlflow.signing_secret`` when it is set."""
    secret = settings.mlflow.signing_secret
    return MlflowModelRegistry(settings.mlflow_tracking_uri, signing_secret=secret.get_secret_value() if secret else "")


@dataclass
class Stores:
    objects: ObjectStore
    graph: GraphStore
    labels: LabelStore
    registry: ModelRegistry


def build_stores(settings: Settings) -> Stores:
    return Stores(object_store(settings), graph_store(settings), label_store(settings), model_registry(settings))


def llm_judge(settings: Settings, index: CurriculumIndex) -> Judge | None:
    """The LLM step when a chat model is configured, else None (the caller says so once per run).

    With ``llm.tools`` the reviewing agent, which may read the graph through ``index``; else a single
    structured call per problem.
    """
    if not settings.llm.model:
        return None
    from langchain.chat_models import init_chat_model

    from labeling.agent import ReviewAgent
    from labeling.llm import LLMJudge

    chat = init_chat_model(settings.llm.model, temperature=settings.llm.temperature)
    if settings.llm.tools:
        return ReviewAgent(chat, index, f"{settings.llm.model}+graph-tools")
    return LLMJudge(chat, settings.llm.model)


def layout_detector(settings: Settings) -> LayoutDetector | None:
    """The trained layout detector ``ocr.layout_model`` names, or None (lines and problem numbers alone).

    ``auto``: the registry's ``layout-detector@champion`` when there is one (nightly_retraining promotes it), else
    None; ``""``: None; a ``models:/`` URI or a path to a ``best.pt``: that detector.

    Raises:
        ValueError: a URI or path that was named explicitly does not resolve (a configured detector that is missing
            is an error, not a silent fallback).
    """
    import logging
    from pathlib import Path

    source = settings.ocr.layout_model
    if not source:
        return None
    from training.layout import MODEL_NAME, download_weights
    from training.offline import configure_ultralytics

    configure_ultralytics(settings.var_path / "ultralytics")
    from labeling.vision import YoloLayout

    if source == "auto" or source.startswith("models:/"):
        uri = f"models:/{MODEL_NAME}@champion" if source == "auto" else source
        registry = model_registry(settings)
        if source == "auto" and not registry.reachable():
            logging.getLogger(__name__).warning(
                "model registry %s unreachable: pages are read without a trained layout detector",
                settings.mlflow_tracking_uri,
            )
            return None
        try:
            weights, version, imgsz = download_weights(uri, registry, settings.var_path / "models")
        except Exception as exc:  # MLflow unreachable, no champion yet: auto means "if there is one"
            if source != "auto":
                raise ValueError(f"ocr.layout_model {source!r}: {exc}") from exc
            logging.getLogger(__name__).info("no trained layout detector (%s): lines and problem numbers only", exc)
            return None
        return YoloLayout(weights, version, imgsz=imgsz)
    path = Path(source).expanduser()
    if not path.is_file():
        raise ValueError(f"ocr.layout_model {source!r}: no such file (expected auto, a models:/ URI or a best.pt)")
    return YoloLayout(path, f"layout-detector:{path.name}")


def page_reader(settings: Settings) -> PageReader:
    """Layout + OCR for page images, as configured in ``settings.ocr`` (engines check their files on first use)."""
    from labeling.ocr import engines
    from labeling.vision import PageReader

    # Built together, the two share what they have in common (one set of RapidOCR models in memory, not two).
    text, formula = engines([settings.ocr.text_engine, settings.ocr.formula_engine], settings.ocr)
    return PageReader(text, formula, layout_detector(settings))
