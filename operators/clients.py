"""Connection ids to store adapters, on the Airflow side.

Production backends (S3, Neo4j, MongoDB) get their clients from Airflow connections through the providers'
hooks, so secrets live in Airflow's connection store; the embedded backends come from ``mathlabel.clients``.
"""

from __future__ import annotations

from urllib.parse import urlparse

from mathlabel import clients
from mathlabel.config import Settings, get_settings


def build_stores(settings: Settings | None = None) -> clients.Stores:
    """The stores a task works with, built when the task runs (never at DAG parse)."""
    settings = settings or get_settings()
    url = urlparse(settings.object_store_url)
    if url.scheme == "s3":
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from stores.objects import S3ObjectStore

        s3 = S3Hook(aws_conn_id=settings.object_store.aws_conn_id).get_conn()
        objects = S3ObjectStore(s3, bucket=url.netloc, prefix=url.path)
    else:
        objects = clients.object_store(settings)

    if settings.graph.backend == "neo4j":
        from airflow.providers.neo4j.hooks.neo4j import Neo4jHook

        from stores.graph import Neo4jGraphStore

        driver = Neo4jHook(conn_id=settings.graph.neo4j_conn_id).get_conn()
        graph = Neo4jGraphStore(driver, database=settings.graph.database)
    else:
        graph = clients.graph_store(settings)

    if settings.label_store.backend == "mongo":
        from airflow.providers.mongo.hooks.mongo import MongoHook

        from stores.labels import MongoLabelStore

        client = MongoHook(mongo_conn_id=settings.label_store.mongo_conn_id).get_conn()
        labels = MongoLabelStore.open(client[settings.label_store.database])  # ensures its indexes
    else:
        labels = clients.label_store(settings)
    return clients.Stores(objects=objects, graph=graph, labels=labels, registry=clients.model_registry(settings))
