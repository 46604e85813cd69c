"""Label the problem sets dropped into the object store's ``incoming/`` folder."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

DOC_MD = """
### batch_labeling
Labels every problem file in the object store's `incoming/` folder with curriculum achievement standards.

1. **claim**: moves the files into `processing/<run_id>/`, so concurrent runs never share a file.
2. **label_file** (one mapped task per file): validates each record, ranks the curriculum's standards for each
   problem, upserts one label document per (problem id, model version) into the label store, writes bad records
   to `quarantine/<date>/` with a `.error.json` naming record and reason, then moves the file to
   `processed/<date>/`. A problem already labeled by this model version with the same content is skipped unless
   `force` is set.
3. **report**: totals, top-1 agreement with any labels the records carried, written to `reports/<run_id>.json`.

Every step is safe to retry: a failed run leaves its files in `processing/<run_id>/`, and the retry picks them up.

**Params**: `selector` (a file or sub-folder of `incoming/`; empty = everything), `curriculum`, `force`.
"""


@dag(
    dag_id="batch_labeling",
    schedule=timedelta(minutes=15),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["labeling", "mathlabel"],
    doc_md=DOC_MD,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    params={
        "selector": Param("", type="string", description="File or sub-folder of incoming/ to label; empty = all"),
        "curriculum": Param("kr-2022", type="string", description="Curriculum whose standards are the labels"),
        "force": Param(False, type="boolean", description="Relabel problems even when already labeled"),
    },
)
def batch_labeling():
    @task
    def claim() -> list[str]:
        from labeling.batch import claim_files, safe_run_id
        from operators.clients import build_stores

        context = get_current_context()
        stores = build_stores()
        keys = claim_files(stores.objects, safe_run_id(context["run_id"]), context["params"]["selector"])
        print(f"claimed {len(keys)} file(s): {keys}")
        return keys

    @task(map_index_template="{{ file_name }}")
    def label_file(key: str) -> dict:
        from labeling.batch import CurriculumIndex, batch_config, process_file
        from mathlabel.clients import llm_judge
        from mathlabel.config import get_settings
        from operators.clients import build_stores
        from training.registry import labeler_for

        context = get_current_context()
        context["file_name"] = key.rsplit("/", 1)[-1]
        settings, stores, params = get_settings(), build_stores(), context["params"]
        index = CurriculumIndex(stores.graph, params["curriculum"])
        labeler, version = labeler_for(
            index,
            alias=settings.labeling.model_alias,
            tracking_uri=settings.mlflow_tracking_uri,
            fallback_version=settings.labeling.model_version,
        )
        judge = llm_judge(settings)
        print(f"labeling with {version}; " + (f"LLM {judge.version}" if judge else "no LLM configured (llm.model)"))
        cfg = batch_config(context["run_id"], params["curriculum"], params["force"], model_version=version)
        result = process_file(
            key, objects=stores.objects, labels=stores.labels, index=index, cfg=cfg, labeler=labeler, judge=judge
        )
        return result.to_dict()

    @task(trigger_rule="all_done")
    def report(results: list[dict]) -> dict:
        from labeling.batch import finish_run
        from operators.clients import build_stores

        context = get_current_context()
        # Index by position: iterating the lazy XCom sequence probes one past its end and logs a 404.
        collected = [results[i] for i in range(len(results))] if results else []
        return finish_run(build_stores().objects, context["run_id"], collected)

    report(label_file.expand(key=claim()))


batch_labeling()
