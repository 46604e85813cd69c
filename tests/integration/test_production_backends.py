"""The production adapters against real MongoDB / Neo4j servers, when the environment names them.

Set MONGO_URI (a replica set or standalone mongod) and/or NEO4J_URI with NEO4J_USER/NEO4J_PASSWORD to run these;
the same assertions run against the embedded stores in test_label_store.py and test_seed.py.
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


@pytest.fixture
def neo4j_store():
    uri = os.environ.get("NEO4J_URI")
    if not uri:
        pytest.skip("NEO4J_URI is not set: no Neo4j server to test against")
    from neo4j import GraphDatabase

    from stores.graph import Neo4jGraphStore

    auth = (os.environ.get("NEO4J_USER", "neo4j"), os.environ["NEO4J_PASSWORD"])
    driver = GraphDatabase.driver(uri, auth=auth)
    yield Neo4jGraphStore(driver, database=os.environ.get("NEO4J_DATABASE", "neo4j"))
    driver.close()


def test_mongo_upserts_are_keyed_and_keep_created_at(mongo_store):
    docs = [{"_id": "p1@v1", "problem_id": "p1", "labels": ["9수01-01"]}]
    first = mongo_store.upsert_labels(docs)
    created = mongo_store.get_label("p1@v1")["created_at"]
    again = mongo_store.upsert_labels([{**docs[0], "labels": ["9수01-02"]}])
    assert (first.inserted, again.updated, mongo_store.count_labels()) == (1, 1, 1)
    assert mongo_store.get_label("p1@v1")["created_at"] == created
    assert mongo_store.ping()


def test_neo4j_seeding_twice_leaves_the_same_graph(neo4j_store):
    from graph_seed import cypher
    from graph_seed.loaders import load_kr2022
    from graph_seed.seed import seed_curriculum

    seed_curriculum(neo4j_store, load_kr2022())
    before = neo4j_store.run(*cypher.count_curriculum_standards("kr-2022"))
    seed_curriculum(neo4j_store, load_kr2022())
    assert neo4j_store.run(*cypher.count_curriculum_standards("kr-2022")) == before == [{"n": 435}]
