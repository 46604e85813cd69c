"""Seed the curriculum graph from the shipped data files or from files dropped under ``curriculum/``."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, get_current_context, task

from operators.alerts import on_failure

CURRICULA = ["kr-2022", "kr-2015", "us-ccss"]
# Raised (through the REST API's asset-events endpoint, e.g. by an S3-notification Lambda) when files land under
# the object store's curriculum/ prefix; the half-hourly schedule also notices them, since re-seeding unchanged
# sources is a no-op.
CURRICULUM_SOURCES = Asset(name="curriculum_sources")
GRAPH_ASSETS = {cid: Asset(name=f"curriculum_graph_{cid}") for cid in CURRICULA}

DOC_MD = """
### curriculum_graph_seed
Validates curriculum source files and writes them into the graph store (Neo4j in production, FalkorDB embedded).

1. **validate**: loads each curriculum into one validated model. Any error (duplicate code, edge to an unknown code,
   empty text, a code not matching its curriculum's pattern) fails the run with every error, by file and row, in the
   log, and nothing is written.
2. **write**: MERGEs nodes and edges (curriculum → grade band/course → 영역 → 내용 요소 → standard; prerequisite and
   related edges with `source` and `confidence`; terms) and removes what left the source. Unchanged curricula
   (same content hash) are skipped.
3. **build_indexes**, 4. **verify** counts against the validated model, then records the source hash,
5. **publish** one Asset per curriculum (`curriculum_graph_<id>`) so labeling runs know the graph changed.

**Sources**: a curriculum whose folder `curriculum/<id>/` in the object store holds files is read from there (the
complete set of that curriculum's files, laid out as in `graph_seed/data/<id>/`); otherwise the shipped data is used.
Dropping files there and raising the `curriculum_sources` asset event (or waiting for the half-hourly schedule)
updates the graph. A task that fails after its retries sends a failure alert (`alerts.connections`).

**Params**: `curricula`, `source` (`auto`; `shipped` = the project's data only; or another object-store prefix),
`dry_run` (validate only), `force` (rewrite even unchanged curricula).
"""


@dag(
    dag_id="curriculum_graph_seed",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("*/30 * * * *", timezone="UTC"), assets=CURRICULUM_SOURCES
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["graph", "mathlabel"],
    doc_md=DOC_MD,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30), "on_failure_callback": on_failure},
    params={
        "curricula": Param(
            CURRICULA, type="array", items={"type": "string", "enum": CURRICULA}, description="Curricula to seed"
        ),
        "source": Param(
            "auto",
            type="string",
            description="auto (curriculum/<id>/ when present, else shipped), shipped, or a prefix",
        ),
        "dry_run": Param(False, type="boolean", description="Validate only; write nothing"),
        "force": Param(False, type="boolean", description="Rewrite curricula whose sources are unchanged"),
    },
)
def curriculum_graph_seed():
    @task
    def validate() -> list[dict]:
        from airflow.sdk.exceptions import AirflowFailException

        from graph_seed.errors import GraphSeedError
        from graph_seed.tasks import validate_sources
        from operators.clients import build_stores

        params = get_current_context()["params"]
        try:
            return validate_sources(build_stores(), params["curricula"], params["source"], params["force"])
        except GraphSeedError as exc:
            # Bad data does not get better on retry: fail now, with every error in the log.
            raise AirflowFailException(str(exc)) from exc

    @task.short_circuit(ignore_downstream_trigger_rules=True)
    def anything_to_write(plans: list[dict]) -> bool:
        if get_current_context()["params"]["dry_run"]:
            print("dry run: validated", [p["curriculum"] for p in plans], "and wrote nothing")
            return False
        return any(p["changed"] for p in plans)

    @task
    def write(plans: list[dict]) -> list[str]:
        from graph_seed.tasks import write_sources
        from operators.clients import build_stores

        return write_sources(build_stores(), plans, get_current_context()["params"]["source"])

    @task
    def build_indexes() -> None:
        from graph_seed.seed import ensure_indexes
        from operators.clients import build_stores

        ensure_indexes(build_stores().graph)

    @task
    def verify(written: list[str]) -> dict:
        from graph_seed.tasks import verify_sources
        from operators.clients import build_stores

        return verify_sources(build_stores(), written, get_current_context()["params"]["source"])

    @task(outlets=list(GRAPH_ASSETS.values()))
    def publish(versions: dict) -> dict:
        context = get_current_context()
        for cid, version in versions.items():
            context["outlet_events"][GRAPH_ASSETS[cid]].extra = {"version": version}
        return versions

    plans = validate()
    written = write(plans)
    versions = verify(written)
    anything_to_write(plans) >> written >> build_indexes() >> versions
    publish(versions)


curriculum_graph_seed()
