"""Graph store: Neo4j in production, FalkorDB as the embedded default.

Both speak openCypher; queries are built by pure functions in ``graph_seed.cypher`` and run here.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from stores.errors import StoreError


@runtime_checkable
class GraphStore(Protocol):
    """What the seeder and the retriever need of a graph database."""

    backend: str

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run one Cypher statement and return its rows as dicts keyed by column name."""

    def ping(self) -> bool:
        """True when the server answers."""


class FalkorGraphStore:
    """A FalkorDB graph, through an injected ``falkordb.Graph`` (``FalkorDB(...).select_graph(name)``)."""

    backend = "falkordb"

    def __init__(self, graph: Any) -> None:
        self.graph = graph

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        try:
            result = self.graph.query(query, params or {})
        except Exception as exc:  # the client raises redis errors of several types
            raise StoreError(f"FalkorDB query failed: {exc}\n{query}") from exc
        columns = [column[1] if isinstance(column, list | tuple) else column for column in result.header]
        return [dict(zip(columns, row, strict=True)) for row in result.result_set]

    def ping(self) -> bool:
        try:
            return bool(self.graph.client.ping())
        except Exception:
            return False


class Neo4jGraphStore:
    """A Neo4j database, through an injected ``neo4j.Driver`` (on Airflow, ``Neo4jHook(...).get_conn()``)."""

    backend = "neo4j"

    def __init__(self, driver: Any, database: str = "neo4j") -> None:
        self.driver = driver
        self.database = database

    def run(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        try:
            records, _, _ = self.driver.execute_query(query, params or {}, database_=self.database)
        except Exception as exc:
            raise StoreError(f"Neo4j query failed: {exc}\n{query}") from exc
        return [record.data() for record in records]

    def ping(self) -> bool:
        try:
            self.driver.verify_connectivity()
            return True
        except Exception:
            return False
