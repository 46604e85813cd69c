"""The MongoDB label store against a real server, when MONGO_URI names one (a replica set or a standalone mongod).

The same assertions run against the embedded store in tests/unit/test_label_store.py. Neo4j runs the whole of
tests/integration/test_graph.py when NEO4J_URI (with NEO4J_USER / NEO4J_PASSWORD) is set.
"""

import os
import uuid

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def mongo_store():
    uri = os.environ.get("MONGO_URI")
    if not uri:
        pytest.skip("MONGO_URI is not set: no MongoDB server to test against")
    from pymongo import MongoClient

    from stores.labels import MongoLabelStore

    client = MongoClient(uri, serverSelectionTimeoutMS=5000)
    name = f"mathlabel_test_{uuid.uuid4().hex[:8]}"
    store = MongoLabelStore(client[name])
    store.ensure_indexes()
    yield store
    client.drop_database(name)


def test_mongo_upserts_are_keyed_and_keep_created_at(mongo_store):
    docs = [{"_id": "p1@v1", "problem_id": "p1", "labels": ["9수01-01"]}]
    first = mongo_store.upsert_labels(docs)
    created = mongo_store.get_label("p1@v1")["created_at"]
    again = mongo_store.upsert_labels([{**docs[0], "labels": ["9수01-02"]}])
    assert (first.inserted, again.updated, mongo_store.count_labels()) == (1, 1, 1)
    assert mongo_store.get_label("p1@v1")["created_at"] == created
    assert mongo_store.ping()
