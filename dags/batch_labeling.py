"""Label the problem sets dropped into the object store's ``incoming/`` folder."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, get_current_context, task

from operators.alerts import batch_deadline, on_failure

DOC_MD = """
### batch_labeling
Labels every problem file in the object store's `incoming/` folder (JSONL or CSV in UTF-8 or CP949, PNG/JPEG pages,
multi-page PDFs, and zip archives of them) with curriculum achievement standards, writing one label document per
(problem id, model version). A page is split into its problems (`<file>#p<page>-<k>`); a record with an `image` and no
`text` is read as one problem.

1. **claim** moves files into `processing/<run_id>/`, so concurrent runs never share a file; files modified in the
   last `settle_seconds` (still being copied) wait for the next run; zip archives are unpacked (an archive is filed
   once all its members are); a run takes at most `labeling.max_files_per_run` files (an archive's members count one
   each), the rest wait for the next run and the report says how many; inputs of a run Airflow says is no longer
   running (failed, succeeded or gone) are taken over at once, those of a run still queued or running are left to it
   and listed in the report as stuck.
2. **prepare** (one mapped task per file) validates the records against the Great Expectations suite; bad records go
   to `quarantine/<date>/<file>.rejected.*` and an unusable file to `quarantine/<date>/`, each with an `.error.json`
   naming record and reason; the good records are split into chunks of `chunk_size`.
3. **label** (one mapped task per chunk, or several a task beyond `labeling.max_label_tasks`; pages:
   `labeling.pages_per_chunk` per chunk) reads pages and image records
   (layout, reading order, OCR; low OCR confidence means review; a crop of each problem goes beside the input under
   `processed/`), ranks the curriculum's standards with the champion text labeler of its curricula
   (`models:/text-labeler@champion-<curricula>`) or, without one, the cold-start retriever (whose standard documents
   include the latest verified problems of each standard); asks the configured LLM, if any, to choose among the
   candidates and the graph neighbours of the best three;
   applies the reviewing rules (`auto_accepted` / `needs_review` with reasons); upserts the documents. Problems
   already labeled by the same model version with the same content are skipped unless `force` is set.
4. **report** moves each input whose chunks are all stored to `processed/<date>/` and writes `reports/<run_id>.json`
   and `.html` (counts, agreement with any provided labels, confidence histogram, review rate, time per stage), with
   the lists to act on: the problems that need review (reasons, top candidates), those whose chosen label the
   record's own `labels` contradict (they also go to review), and what was quarantined, with reasons and paths.

5. **quality_gate** compares the run with the trailing baseline of its curricula and model (up to
   `quality_gate.window` earlier runs, at least `min_runs`): needs-review rate, the PSI of the top-1 score histogram,
   mean OCR confidence, quarantine rate, against the thresholds of `quality_gate` in `defaults.yaml`. The verdict is
   written into the report (`quality_gate`); a breach sends one alert through `alerts.connections` (e-mail, Slack,
   SNS) naming the run, the measure, its value, the baseline and the report. `reports/<run_id>.alert.json` records
   it, written only after the delivery succeeded: a failed delivery fails this task (the labels and the report
   stand) and its retry sends again; a retry or a rerun after the alert went out sends nothing.

Every task that fails after its retries sends a failure alert through the same connections; a run still going
`alerts.batch_deadline_minutes` after it was queued sends a deadline alert.

Every step is safe to retry: a failed chunk leaves its file in `processing/<run_id>/`, and the retry picks it up.
When a task still fails after its retries, **watcher** marks the run failed. The report is written all the same.

**Trigger**: every 15 minutes (files still growing wait for `settle_seconds`); in production, with
`MATHLABEL_LABELING__DROP_QUEUE_URL` set, whenever the bucket's S3 event notifications for `incoming/` arrive on that
SQS queue (the `drop_folder` Asset's watcher). A run claims everything in `incoming/`, so several notifications
queued behind one run (`max_active_runs=1`) cost one empty run each, never a double label.

**Params**: `selector` (a file or sub-folder of `incoming/`; empty = everything), `curriculum` (`kr` = kr-2022 and
kr-2015), `force`, `chunk_size` and `settle_seconds` (empty = the configured defaults); `school`, `grade` and
`course` give the metadata of problems that have none of their own (pages, records without those columns), so the
labeler weighs the right grade band. They are checked before anything is claimed. A page file's sidecar
`<file>.meta.json` (`{"school": ..., "grade": ..., "course": ...}`) gives its own problems metadata, over the Params.
A page already read is skipped by its hash, unless the metadata it would get has changed.
"""


def drop_folder_schedule():
    """Every 15 minutes; or, with ``labeling.drop_queue_url`` set (production), the ``drop_folder`` Asset, updated by
    an Asset watcher whose trigger reads the S3 event notifications of ``incoming/`` from SQS (and deletes them)."""
    from mathlabel.config import get_settings

    settings = get_settings()
    labeling = settings.labeling
    if not labeling.drop_queue_url:
        return timedelta(minutes=15)
    from airflow.providers.amazon.aws.triggers.sqs import SqsSensorTrigger
    from airflow.sdk import Asset, AssetWatcher

    trigger = SqsSensorTrigger(
        sqs_queue=labeling.drop_queue_url,
        aws_conn_id=labeling.drop_queue_conn_id,
        max_messages=10,
        waiter_delay=labeling.drop_queue_poll_seconds,
    )
    drop = Asset(name="drop_folder", uri=settings.object_store_url.rstrip("/") + "/incoming/",
                 watchers=[AssetWatcher(name="drop_folder_sqs", trigger=trigger)])  # fmt: skip
    return [drop]


def _collected(lazy) -> list:
    """Values of a mapped task's XComs; instances that failed have none and are skipped (report says unfinished)."""
    if not lazy:
        return []
    out = []
    for i in range(len(lazy)):
        try:
            out.append(lazy[i])
        except (IndexError, KeyError):
            continue
    return [item for item in out if item]


def _run(context):
    """The run's collaborators, from the settings and this run's Params, built when a task runs (never at parse)."""
    from mathlabel.config import get_settings
    from mathlabel.runs import LabelingRun, RunParams
    from operators.clients import build_stores
    from plugins.mathlabel_metrics import register_metrics

    register_metrics()  # this task's labeling events become Airflow metrics (once per process)
    return LabelingRun(get_settings(), context["run_id"], RunParams.from_params(context["params"]), build_stores())


def _run_alive(context):
    """Whether a run of this DAG is alive (queued or running) by the Task SDK's Dag-run count: a run that failed,
    succeeded or is gone is over, and the next run takes over its files at once."""
    ti, dag_id = context["ti"], context["dag"].dag_id

    def alive(run_id: str) -> bool:
        return ti.get_dr_count(dag_id=dag_id, run_ids=[run_id], states=["queued", "running"]) > 0

    return alive


def _checked(run):
    """The run, its Params checked: bad metadata Params fail it before anything is claimed, and without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        run.check()
    except ValueError as exc:
        raise AirflowFailException(str(exc)) from exc
    return run


@dag(
    dag_id="batch_labeling",
    schedule=drop_folder_schedule(),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["labeling", "mathlabel"],
    doc_md=DOC_MD,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30), "on_failure_callback": on_failure},
    deadline=batch_deadline(),
    params={
        # "null" in the type makes the field optional in the trigger form; a plain "string" would be required there.
        "selector": Param(
            None, type=["null", "string"], description="File or sub-folder of incoming/ to label; empty = all"
        ),
        "curriculum": Param("kr-2022", type="string", description="Curricula of the labels; 'kr' = kr-2022,kr-2015"),
        "force": Param(False, type="boolean", description="Relabel problems even when already labeled"),
        "chunk_size": Param(None, type=["null", "integer"], minimum=1, description="Problems per labeling task"),
        "settle_seconds": Param(None, type=["null", "number"], minimum=0, description="Leave files younger than this"),
        "school": Param(None, type=["null", "string"], description="School of problems that give none (pages)"),
        "grade": Param(None, type=["null", "integer"], minimum=0, maximum=12, description="Grade of those problems"),
        "course": Param(None, type=["null", "string"], description="Course of those problems, e.g. 수학Ⅰ"),
    },
)
def batch_labeling():
    @task
    def claim() -> list[str]:
        context = get_current_context()
        keys = _checked(_run(context)).claim(_run_alive(context))
        print(f"claimed {len(keys)} file(s): {keys}")
        return keys

    @task(map_index_template="{{ file_name }}")
    def prepare(key: str) -> dict:
        context = get_current_context()
        context["file_name"] = key.rsplit("/", 1)[-1]
        return _run(context).prepare(key).to_dict()

    @task
    def chunks(prepared) -> list[list[str]]:
        """The chunks in groups, one mapped label task each: never more tasks than max_map_length allows."""
        keys = [chunk for item in _collected(prepared) for chunk in item["chunks"]]
        return _run(get_current_context()).label_tasks(keys)

    @task(map_index_template="{{ chunk_name }}")
    def label(chunks: list[str]) -> list[dict]:
        context = get_current_context()
        context["chunk_name"] = "/".join(chunks[0].rsplit("/", 2)[-2:]) + (
            f" +{len(chunks) - 1}" if len(chunks) > 1 else ""
        )
        run = _run(context)
        print(run.describe())
        return [run.label(chunk).to_dict() for chunk in chunks]

    @task(trigger_rule="all_done")
    def report(prepared, results) -> dict:
        labeled = [result for group in _collected(results) for result in group]
        return _run(get_current_context()).finish(_collected(prepared), labeled)

    @task
    def quality_gate(summary: dict) -> dict:
        """Compare the run with its baseline; a breach marks the report and sends one alert (see DOC_MD, 5)."""
        from operators.alerts import check_quality

        return check_quality(summary["run_id"])

    # AirflowFailException: no retries. No failure alert: the task that failed has sent its own.
    @task(trigger_rule="one_failed", on_failure_callback=None)
    def watcher() -> None:
        """Fails the run when any task failed: the report (all_done) is the last task and would otherwise leave a run
        with failed tasks marked successful. Its files stay in processing/ and the report lists them unfinished."""
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException("a task of this run failed; the report lists what it left unfinished")

    claimed = claim()
    prepared = prepare.expand(key=claimed)
    chunk_keys = chunks(prepared)
    labeled = label.expand(chunks=chunk_keys)
    finished = report(prepared, labeled)
    gate = quality_gate(finished)
    [claimed, prepared, chunk_keys, labeled, finished, gate] >> watcher()


batch_labeling()
