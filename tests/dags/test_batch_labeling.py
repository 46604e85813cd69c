"""The batch_labeling DAG, run by Airflow (dag.test()) over the embedded stores."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from labeling import events
from labeling.schemas import label_doc_id, problem_key
from tests.otel_metrics import otel_metrics, total  # noqa: F401 - the fixture

pytestmark = pytest.mark.dag

GOOD = [
    {"id": "t-1", "text": "180을 소인수분해하여 거듭제곱을 사용한 곱으로 나타내시오.", "labels": ["9수01-01"]},
    {"id": "t-2", "text": "삼각형의 세 내각의 크기의 합을 구하시오.", "school": "초등학교", "grade": 4,
     "labels": ["[4수03-25]"]},
    {"id": "t-3", "text": "두 수 12와 18의 최대공약수와 최소공배수를 소인수분해를 이용하여 구하시오."},
]  # fmt: skip


def _jsonl(records) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in records).encode()


@pytest.fixture(scope="module")
def dag(stack):
    from airflow.dag_processing.dagbag import DagBag

    from mathlabel.config import PROJECT_ROOT

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "batch_labeling.py"))
    return bag.get_dag("batch_labeling")


def _run(dag, **conf):
    # Always pass every param: dag.test() keeps the previous run's conf on the shared DAG object.
    defaults = {"selector": "", "curriculum": "kr-2022", "force": False, "chunk_size": None, "settle_seconds": 0,
                "school": None, "grade": None, "course": None}  # fmt: skip
    run = dag.test(run_conf={**defaults, **conf})
    assert run.state == "success", run
    return run


def _date_folder(objects, top: str) -> str:
    (folder,) = {key.split("/")[1] for key in objects.list(top)}
    return f"{top}/{folder}"


def test_a_run_labels_good_records_and_quarantines_bad_ones(
    dag,
    seeded_graph,
    clean_objects,
    clean_labels,
    otel_metrics,  # noqa: F811
):
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/good.jsonl", _jsonl(GOOD))
    objects.write_bytes(
        "incoming/mixed.jsonl",
        _jsonl([{"id": "m-1", "text": "7 × 8을 계산하시오."}, "{broken json", {"id": "m-3", "labels": ["9수01-01"]}]),
    )
    objects.write_bytes("incoming/notes.txt", b"this is not a problem set")

    heard: list = []
    with events.listening(heard.append):
        _run(dag)

    # Every good record has exactly one label document, with candidates from the graph.
    docs = {d["problem_id"]: d for d in labels.find_labels()}
    assert sorted(docs) == ["m-1", "t-1", "t-2", "t-3"]
    t1 = labels.get_label(label_doc_id(problem_key("good.jsonl", "t-1"), "lexical-bm25-v3"))
    assert t1["labels"] == ["9수01-01"] and t1["provided_labels"] == ["9수01-01"]
    # Without a trained model nothing is auto-accepted: the cold start's scores are not calibrated.
    assert t1["decision"]["status"] == "needs_review" and t1["decision"]["reason_kinds"] == ["uncalibrated"]
    assert len(t1["candidates"]) == 5 and t1["graph_version"].startswith("kr-2022@")
    assert docs["t-2"]["provided_labels"] == ["4수03-25"]

    # Inputs left the drop folder: processed when their problems are stored, quarantined when unusable.
    assert objects.list("incoming") == [] and objects.list("processing") == []
    processed = _date_folder(objects, "processed")
    assert sorted(objects.list(processed)) == [f"{processed}/good.jsonl", f"{processed}/mixed.jsonl"]
    quarantine = _date_folder(objects, "quarantine")
    assert objects.read_bytes(f"{quarantine}/notes.txt") == b"this is not a problem set"
    file_error = json.loads(objects.read_bytes(f"{quarantine}/notes.txt.error.json"))
    assert "unsupported file type .txt" in file_error["reason"]
    record_errors = json.loads(objects.read_bytes(f"{quarantine}/mixed.jsonl.error.json"))
    assert [(r["record"], r["id"]) for r in record_errors["records"]] == [(2, None), (3, "m-3")]
    assert "invalid JSON" in record_errors["records"][0]["reason"]
    assert "neither text nor image" in record_errors["records"][1]["reason"]
    rejected = objects.read_bytes(f"{quarantine}/mixed.jsonl.rejected.jsonl").decode().splitlines()
    assert rejected[0] == "{broken json"

    # The run report counts it all, as JSON and as a page with the confidence histogram.
    report_key, html_key = sorted(k for k in objects.list("reports") if k.endswith((".json", ".html")))[::-1]
    report = json.loads(objects.read_bytes(report_key))
    assert (report["read"], report["labeled"], report["quarantined"]) == (6, 4, 2)
    assert (report["files_total"], report["files_processed"], report["files_quarantined"]) == (3, 2, 1)
    assert report["with_provided_labels"] == 2
    assert sum(b["count"] for b in report["histogram"]) == 4
    assert 0 <= report["needs_review_rate"] <= 1 and report["stage_seconds"]["label"] > 0
    # ... and lists, through the tasks' XComs, what a person acts on.
    review = {d for d, doc in docs.items() if doc["decision"]["status"] == "needs_review"}
    assert {item["problem_id"] for item in report["review"]} == review
    quarantined = {item["file"]: item for item in report["quarantine"]}
    assert quarantined["notes.txt"]["file_key"] == f"{quarantine}/notes.txt"
    assert [r["id"] for r in quarantined["mixed.jsonl"]["records"]] == [None, "m-3"]
    assert quarantined["mixed.jsonl"]["rejected_key"] == f"{quarantine}/mixed.jsonl.rejected.jsonl"
    page = objects.read_bytes(html_key).decode()
    assert "<svg" in page and "notes.txt" in page and "unsupported file type" in page
    assert "neither text nor image" in page
    link = urlsplit(report["review_url"])
    assert link.netloc == "127.0.0.1:8080" and link.path == "/mathlabel/"
    assert parse_qs(link.query) == {"run_id": [report["run_id"]], "status": ["any"]}
    assert "Review this run" in page  # the run's queue on the review page

    # The tasks announced it, and registered the listener that made it Airflow metrics (plugins.mathlabel_metrics).
    quarantined = sorted((e.file, e.record, e.reason_kind) for e in heard if isinstance(e, events.RecordQuarantined))
    assert quarantined == [("mixed.jsonl", 2, "parse"), ("mixed.jsonl", 3, "validation"),
                           ("notes.txt", None, "unsupported")]  # fmt: skip
    read = otel_metrics()
    assert total(read, "airflow.mathlabel.problems.labeled", curriculum="kr-2022") == 4
    assert total(read, "airflow.mathlabel.problems.quarantined", reason_kind="parse") == 1
    assert total(read, "airflow.mathlabel.problems.top1_score") == 4
    assert total(read, "airflow.mathlabel.stage.ranking") > 0


def test_a_pdf_too_large_to_render_is_quarantined_and_the_files_beside_it_are_labeled(
    dag, seeded_graph, clean_objects, clean_labels
):
    """A poison file fails no task: its prepare task quarantines it, and the good file's chunks are labeled."""
    from tests.pdfs import one_page_pdf

    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/good.jsonl", _jsonl(GOOD))
    objects.write_bytes("incoming/poster.pdf", one_page_pdf(7200, 7200))  # 100 x 100 inches: 15000 px a side

    _run(dag)

    assert sorted(d["problem_id"] for d in labels.find_labels()) == ["t-1", "t-2", "t-3"]
    assert objects.list("incoming") == [] and objects.list("processing") == []
    report = json.loads(objects.read_bytes(next(k for k in objects.list("reports") if k.endswith(".json"))))
    assert (report["labeled"], report["files_processed"], report["files_quarantined"]) == (3, 1, 1)
    (poster,) = [item for item in report["quarantine"] if item["file"] == "poster.pdf"]
    assert "poster.pdf page 1 at 150 dpi is 15000x15000 pixels" in poster["reason"]


def test_a_second_run_of_the_same_file_labels_nothing_twice(dag, seeded_graph, clean_objects, clean_labels):
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/good.jsonl", _jsonl(GOOD))
    _run(dag)
    first = {d["_id"]: d["updated_at"] for d in labels.find_labels()}

    objects.write_bytes("incoming/good.jsonl", _jsonl(GOOD))
    _run(dag)
    assert {d["_id"]: d["updated_at"] for d in labels.find_labels()} == first
    reports = [json.loads(objects.read_bytes(k)) for k in objects.list("reports") if k.endswith(".json")]
    assert sorted((r["labeled"], r["skipped"]) for r in reports) == [(0, 3), (3, 0)]
    processed = _date_folder(objects, "processed")
    assert objects.list(processed) == [f"{processed}/good.jsonl"]  # same bytes, one copy


def test_selector_and_force_params(dag, seeded_graph, clean_objects, clean_labels):
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/a.jsonl", _jsonl(GOOD[:1]))
    objects.write_bytes("incoming/b.jsonl", _jsonl(GOOD[1:2]))
    _run(dag, selector="a.jsonl")
    assert objects.list("incoming") == ["incoming/b.jsonl"]
    assert [d["problem_id"] for d in labels.find_labels()] == ["t-1"]

    objects.write_bytes("incoming/a.jsonl", _jsonl(GOOD[:1]))
    _run(dag, selector="a.jsonl", force=True)
    reports = sorted(
        json.loads(objects.read_bytes(k))["labeled"] for k in objects.list("reports") if k.endswith(".json")
    )
    assert reports == [1, 1]


def test_a_big_file_is_labeled_in_chunks(dag, seeded_graph, clean_objects, clean_labels):
    records = [dict(GOOD[i % 3], id=f"big-{i}") for i in range(7)]
    clean_objects.write_bytes("incoming/big.jsonl", _jsonl(records))
    run = _run(dag, chunk_size=3)
    label_states = [ti.state for ti in run.get_task_instances() if ti.task_id == "label"]
    assert label_states == ["success"] * 3
    assert clean_labels.count_labels() == 7 and clean_objects.list("processing") == []


def test_a_changed_file_with_the_same_name_is_kept_beside_the_first(dag, seeded_graph, clean_objects, clean_labels):
    objects = clean_objects
    objects.write_bytes("incoming/set.jsonl", _jsonl(GOOD[:1]))
    _run(dag)
    objects.write_bytes("incoming/set.jsonl", _jsonl(GOOD[1:]))
    _run(dag)
    processed = _date_folder(objects, "processed")
    assert objects.list(processed) == [f"{processed}/set.1.jsonl", f"{processed}/set.jsonl"]
    assert clean_labels.count_labels() == 3


def test_a_run_labels_with_the_registered_champion(dag, seeded_graph, clean_objects, clean_labels, settings):
    from labeling.batch import CurriculumIndex
    from labeling.schemas import Problem
    from mathlabel.clients import model_registry
    from training.registry import MODEL_NAME, log_text_labeler
    from training.text_labeler import train_text_labeler

    index = CurriculumIndex(seeded_graph, "kr-2022")
    model = train_text_labeler([Problem(**r) for r in GOOD if r.get("labels")], index.standards)
    models = model_registry(settings)
    ref = log_text_labeler(model, models, curricula=["kr-2022"])
    models.set_alias(MODEL_NAME, "champion-kr-2022", ref.version)
    try:
        clean_objects.write_bytes("incoming/good.jsonl", _jsonl(GOOD))
        _run(dag)
    finally:
        models.delete_alias(MODEL_NAME, "champion-kr-2022")
    version = f"text-labeler-v{ref.version}"
    docs = clean_labels.find_labels()
    assert {d["_id"] for d in docs} == {label_doc_id(f"good.jsonl#{r['id']}", version) for r in GOOD}
    assert all(d["model_versions"]["labeler"] == version for d in docs)
    (report_key,) = [k for k in clean_objects.list("reports") if k.endswith(".json")]
    assert json.loads(clean_objects.read_bytes(report_key))["model_versions"] == [version]


def test_a_scanned_page_is_split_into_problems_by_the_dag(dag, seeded_graph, clean_objects, clean_labels):
    import io

    from training.pages import generate_page

    page = generate_page(36, noise=True)  # two problems, with scan noise (skew, blur, JPEG, uneven light)
    jpeg = io.BytesIO()
    page.image.save(jpeg, format="JPEG", quality=85)
    clean_objects.write_bytes("incoming/scan.jpg", jpeg.getvalue())

    run = _run(dag, school="중", grade=2)  # a page has no metadata: the run's Params give it

    docs = sorted(clean_labels.find_labels(), key=lambda d: d["problem_id"])
    assert [d["problem_id"] for d in docs] == ["scan.jpg#p1-1", "scan.jpg#p1-2"]
    assert all((d["metadata"]["school"], d["metadata"]["grade"]) == ("중학교", 2) for d in docs)
    assert all(d["input"]["ocr"]["text"] and d["input"]["regions"] for d in docs)
    low = [d for d in docs if d["input"]["ocr"]["confidence"] < 0.8]
    assert all(any("OCR confidence" in r for r in d["decision"]["reasons"]) for d in low)
    assert [ti.state for ti in run.get_task_instances() if ti.task_id == "label"] == ["success"]
    (report_key,) = [k for k in clean_objects.list("reports") if k.endswith(".json")]
    report = json.loads(clean_objects.read_bytes(report_key))
    assert report["pages_read"] == 1 and report["seconds_per_page"] > 0


def test_bad_metadata_params_fail_the_run_before_anything_is_claimed(
    dag, seeded_graph, clean_objects, clean_labels, monkeypatch
):
    from mathlabel.config import get_settings
    from tests.smtp_sink import smtp_sink

    clean_objects.write_bytes("incoming/set.csv", "id,text\nm-1,12와 18의 최대공약수를 구하시오.\n".encode())
    defaults = {"selector": "", "curriculum": "kr-2022", "force": False, "chunk_size": None, "settle_seconds": 0}
    # the failure callbacks' notifier: e-mail through an SMTP sink
    monkeypatch.setenv("MATHLABEL_ALERTS__CONNECTIONS", '["alert_smtp"]')
    monkeypatch.setenv("MATHLABEL_ALERTS__EMAIL_TO", '["ops@example.org"]')
    get_settings.cache_clear()
    try:
        with smtp_sink("alert_smtp") as sink:
            for bad in ({"school": "중학교", "grade": 5}, {"course": "미적분학 개론"}):
                run = dag.test(run_conf={**defaults, "school": None, "grade": None, "course": None, **bad})
                states = {ti.task_id: ti.state for ti in run.get_task_instances()}
                assert run.state == "failed" and states["claim"] == "failed", states  # the watcher fails the run
                assert states["report"] == "success" and states["watcher"] == "failed"
                assert states["quality_gate"] == "success"  # an empty run: not judged, no alert
                assert clean_objects.list("incoming") == ["incoming/set.csv"]
                assert clean_objects.list("processing") == []
                # one failure alert a run, the failed task's: the watcher only echoes it
                (mail,) = sink.texts()
                assert f"[mathlabel] batch_labeling.claim failed (run {run.run_id})" in mail
                assert f"Task claim of DAG batch_labeling failed in run {run.run_id}" in mail
                assert "AirflowFailException" in mail and ("grade" in mail or "course" in mail)
                sink.messages.clear()
    finally:
        get_settings.cache_clear()
    assert clean_labels.find_labels() == []


def test_the_files_of_a_run_airflow_no_longer_runs_are_taken_over_at_once(
    dag, seeded_graph, clean_objects, clean_labels
):
    from labeling.intake import claim_run

    # A run that claimed a file and died: Airflow knows no such run any more (the Task SDK's Dag-run count is 0).
    clean_objects.write_bytes("incoming/orphan.jsonl", _jsonl(GOOD))
    claim_run(clean_objects, "run-dead", run_name="manual__2026-11-24T00:00:00+00:00")
    assert clean_objects.list("processing/run-dead") == ["processing/run-dead/orphan.jsonl"]
    _run(dag)  # minutes later, not orphan_after_seconds (6 h): the scheduler says the run is over
    assert clean_objects.list("processing/run-dead") == []
    assert sorted(d["problem_key"] for d in clean_labels.find_labels()) == [f"orphan.jsonl#{r['id']}" for r in GOOD]
