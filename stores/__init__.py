"""Adapters to the outside world behind small interfaces; each takes an injected client."""

from stores.errors import LabelNotFound, StoreError, VersionConflict
from stores.graph import FalkorGraphStore, GraphStore, Neo4jGraphStore
from stores.labels import EmbeddedLabelStore, LabelStore, MongoLabelStore, UpsertResult
from stores.objects import LocalObjectStore, ObjectStore, S3ObjectStore

__all__ = [
    "EmbeddedLabelStore",
    "FalkorGraphStore",
    "GraphStore",
    "LabelNotFound",
    "LabelStore",
    "LocalObjectStore",
    "MongoLabelStore",
    "Neo4jGraphStore",
    "ObjectStore",
    "S3ObjectStore",
    "StoreError",
    "UpsertResult",
    "VersionConflict",
]
