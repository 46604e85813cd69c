"""Each label store the behaviour tests run against: the embedded SQLite store always, and MongoDB when
``MONGO_URI`` names a server (a fresh database each time, dropped after)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

from stores.labels import EmbeddedLabelStore, LabelStore, MongoLabelStore

KINDS = ("embedded", "mongo")


@contextlib.contextmanager
def label_store(kind: str, folder) -> Iterator[LabelStore]:
    """An empty label store of ``kind`` (``KINDS``); ``folder`` holds the embedded one. Skips MongoDB without
    ``MONGO_URI``."""
    if kind == "embedded":
        store = EmbeddedLabelStore.open(str(folder / "labels"))
        try:
            yield store
        finally:
            store.close()
        return
    uri = os.environ.get("MONGO_URI")
    if not uri:
        pytest.skip("MONGO_URI is not set: no MongoDB server to test against")
    from pymongo import MongoClient

    client = MongoClient(uri, serverSelectionTimeoutMS=5000)
    name = f"mathlabel_test_{uuid.uuid4().hex[:8]}"
    try:
        yield MongoLabelStore.open(client[name])  # as the CLI, the DAGs and the plugin build it: indexes ensured
    finally:
        client.drop_database(name)
        client.close()
