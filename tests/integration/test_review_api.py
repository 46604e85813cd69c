"""The review API as Airflow's API server serves it (the plugin mounted by Airflow itself, the SimpleAuthManager's
logins), over the embedded stores holding a labeled sample: every route, and every refusal."""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image

from labeling.batch import CurriculumIndex, run_batch
from labeling.intake import claim_files
from mathlabel.config import get_settings
from mathlabel.runs import batch_config
from tests.review_client import login

pytestmark = pytest.mark.integration

API = "/mathlabel/api/v1"
RECORDS = [
    {"id": "q1", "text": "180을 소인수분해하여 거듭제곱을 사용한 곱으로 나타내시오."},
    {"id": "q2", "text": "삼각형의 세 내각의 크기의 합을 구하시오."},
    {"id": "q3", "text": "일차방정식 $2x + 3 = 7$ 의 해를 구하시오."},
    {"id": "q4", "text": "두 수 $\\frac{1}{2}$ 와 $\\frac{1}{3}$ 의 합을 구하시오."},
    {"id": "q5", "text": "정비례 관계 $y = 3x$ 의 그래프를 좌표평면 위에 그리시오."},
    {"id": "q6", "text": "원의 넓이를 구하는 방법을 설명하시오."},
]


def _jsonl(records) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


@pytest.fixture
def labeled(clean_objects, clean_labels, seeded_graph):
    """The records labeled by a batch run (run id ``run-review``), and a page problem with its crop."""
    from plugins.mathlabel_review.app import workspace

    workspace.cache_clear()  # the workspace holds the store it opened: this test's fresh one
    objects, labels = clean_objects, clean_labels
    objects.write_bytes("incoming/set.jsonl", _jsonl(RECORDS))
    cfg = batch_config(get_settings(), "run-review")
    index = CurriculumIndex(seeded_graph, "kr-2022")
    run_batch(claim_files(objects, cfg.run_id), objects=objects, labels=labels, index=index, cfg=cfg)
    yield labels
    workspace.cache_clear()


def _path(doc_id: str) -> str:
    return f"{API}/labels/{quote(doc_id, safe='')}"


def _queue(client, headers, **params):
    response = client.get(f"{API}/queue", params={"status": "any", **params}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_every_route_refuses_a_caller_without_a_login(client, labeled):
    some = labeled.find_labels(limit=1)[0]["_id"]
    routes = [
        ("get", f"{API}/me"),
        ("get", f"{API}/curricula"),
        ("get", f"{API}/queue"),
        ("get", _path(some)),
        ("get", f"{_path(some)}/crop"),
        ("get", f"{API}/standards?curriculum=kr-2022&q=x"),
        ("get", f"{API}/runs/run-review/summary"),
        ("get", f"{API}/runs/run-review/report"),
        ("get", f"{API}/health"),
        ("get", f"{API}/openapi.json"),
        ("get", f"{API}/docs"),
        ("get", "/mathlabel/static/review.js"),
        ("post", f"{_path(some)}/accept"),
        ("post", f"{_path(some)}/correct"),
        ("post", f"{_path(some)}/reject"),
        ("post", f"{_path(some)}/text"),
        ("post", f"{API}/labels/bulk-accept"),
        ("post", f"{API}/label"),
    ]
    for method, url in routes:
        response = getattr(client, method)(url, **({"json": {}} if method == "post" else {}))
        assert response.status_code == 401, (url, response.status_code)
    page = client.get("/mathlabel/", follow_redirects=False)  # the page sends the browser to Airflow's login
    assert page.status_code == 303 and "/auth/login" in page.headers["location"]
    health = client.get("/mathlabel/health", follow_redirects=False)
    assert health.status_code == 303 and "/auth/login" in health.headers["location"]


def test_the_queue_pages_with_a_cursor_filters_and_counts_reasons(client, labeled):
    headers = login(client, "viewer")
    assert client.get(f"{API}/me", headers=headers).json() == {"user": "viewer", "can_review": False}
    first = _queue(client, headers, limit=4, run_id="run-review")
    assert first["total"] == len(RECORDS) and len(first["items"]) == 4 and first["next_cursor"]
    rest = _queue(client, headers, limit=4, run_id="run-review", cursor=first["next_cursor"])
    ids = [row["id"] for row in first["items"] + rest["items"]]
    assert len(set(ids)) == len(RECORDS) and rest["next_cursor"] is None
    margins = [row["margin"] for row in first["items"] + rest["items"]]
    assert margins == sorted(margins)  # the most uncertain first
    assert all(row["id"].startswith("set.jsonl#") for row in first["items"])  # the problem set is in the identity
    assert sum(first["reasons"].values()) >= 1
    kind, count = next(iter(first["reasons"].items()))
    assert _queue(client, headers, reason=kind, run_id="run-review")["total"] == count
    assert _queue(client, headers, run_id="another-run")["total"] == 0
    assert _queue(client, headers, source="page")["total"] == 0
    scored = _queue(client, headers, min_score=0.0, max_score=1.0)["total"]
    assert scored == len(RECORDS)
    oldest = _queue(client, headers, order="age", run_id="run-review")["items"]
    assert [row["created_at"] for row in oldest] == sorted(row["created_at"] for row in oldest)
    assert {row["id"] for row in oldest} == set(ids)
    assert client.get(f"{API}/queue", params={"order": "random"}, headers=headers).status_code == 422
    assert client.get(f"{API}/queue", params={"min_score": 0.9, "max_score": 0.1}, headers=headers).status_code == 422
    assert client.get(f"{API}/runs/run-review/summary", headers=headers).json()["total"] == len(RECORDS)


def test_a_document_shows_its_candidates_with_the_graphs_context(client, labeled):
    headers = login(client, "viewer")
    doc = labeled.find_labels({"problem_id": "q1"})[0]
    response = client.get(_path(doc["_id"]), headers=headers)
    assert response.status_code == 200
    view = response.json()
    assert response.headers["etag"] == f'"{view["version"]}"' and view["version"] == 1
    assert view["text"] == RECORDS[0]["text"] and view["source"] == "text" and view["page"] is None
    first = view["candidates"][0]
    assert first["rank"] == 1 and first["text"] and first["breadcrumbs"] and first["curriculum"] == "kr-2022"
    assert any(c["explanation"] for c in view["candidates"])  # 해설 from the graph
    assert any(c["prerequisites"] or c["related"] for c in view["candidates"])
    assert all(p["text"] for c in view["candidates"] for p in c["prerequisites"])
    assert "file:" not in response.text and "s3:" not in response.text  # no store path is handed out
    assert client.get(_path("no-such@doc"), headers=headers).status_code == 404


def test_accept_correct_and_reject_write_the_document_and_the_audit_trail(client, labeled):
    headers = login(client, "reviewer") | {"X-Requested-With": "mathlabel"}
    q1, q2, q3 = (labeled.find_labels({"problem_id": p})[0] for p in ("q1", "q2", "q3"))

    accepted = client.post(f"{_path(q1['_id'])}/accept", json={}, headers=headers | {"If-Match": '"1"'})
    assert accepted.status_code == 200, accepted.text
    view = accepted.json()
    assert (view["status"], view["version"], view["labels"]) == ("verified", 2, q1["labels"])
    assert view["review"]["by"] == "reviewer" and view["review"]["action"] == "accept"
    stored = labeled.get_label(q1["_id"])
    assert stored["decision"]["status"] == "verified" and stored["verification"]["by"] == "reviewer"
    (event,) = labeled.events_for([q1["_id"]])
    assert (event["by"], event["action"], event["before"]["status"], event["after"]["status"]) == (
        "reviewer",
        "accept",
        q1["decision"]["status"],
        "verified",
    )

    other = next(c["code"] for c in q2["candidates"][1:])
    corrected = client.post(
        f"{_path(q2['_id'])}/correct",
        json={"codes": [other], "note": "second fits"},
        headers=headers | {"If-Match": "1"},
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["labels"] == [other] and labeled.get_label(q2["_id"])["labels"] == [other]
    assert labeled.events_for([q2["_id"]])[0]["note"] == "second fits"

    rejected = client.post(
        f"{_path(q3['_id'])}/reject", json={"reason": "not_math"}, headers=headers | {"If-Match": "1"}
    )
    assert rejected.status_code == 200 and labeled.get_label(q3["_id"])["decision"]["status"] == "rejected"
    assert labeled.get_label(q3["_id"])["labels"] == []

    # they left the queue, and the history shows each step
    remaining = {row["id"] for row in _queue(client, headers, status="needs_review")["items"]}
    assert not remaining & {q1["_id"], q2["_id"], q3["_id"]}
    history = client.get(_path(q2["_id"]), headers=headers).json()["history"]
    assert [h["action"] for h in history] == ["correct"] and history[0]["after"]["labels"] == [other]


def test_the_reviewer_recorded_is_the_login_never_a_field_of_the_request(client, labeled):
    headers = login(client, "admin") | {"X-Requested-With": "mathlabel", "If-Match": "1"}
    doc = labeled.find_labels({"problem_id": "q4"})[0]
    forged = client.post(f"{_path(doc['_id'])}/accept", json={"reviewer": "someone-else"}, headers=headers)
    assert forged.status_code == 422  # unknown fields are refused, not ignored
    assert client.post(f"{_path(doc['_id'])}/accept", json={}, headers=headers).json()["review"]["by"] == "admin"


def test_a_stale_version_gets_409_with_the_current_document(client, labeled):
    headers = login(client, "reviewer") | {"X-Requested-With": "mathlabel"}
    doc = labeled.find_labels({"problem_id": "q5"})[0]
    first = client.post(f"{_path(doc['_id'])}/accept", json={}, headers=headers | {"If-Match": "1"})
    assert first.status_code == 200
    second = client.post(f"{_path(doc['_id'])}/reject", json={"reason": "other"}, headers=headers | {"If-Match": "1"})
    assert second.status_code == 409
    body = second.json()
    assert body["current"]["version"] == 2 and body["current"]["status"] == "verified"
    assert "reviewer" in body["detail"]
    assert labeled.get_label(doc["_id"])["decision"]["status"] == "verified"  # the first review stands
    assert len(labeled.events_for([doc["_id"]])) == 1


def test_refusals_a_viewer_a_foreign_code_a_missing_version_another_origin_and_oversized_bodies(client, labeled):
    doc = labeled.find_labels({"problem_id": "q6"})[0]
    url = f"{_path(doc['_id'])}/correct"
    viewer = login(client, "viewer") | {"X-Requested-With": "mathlabel", "If-Match": "1"}
    assert client.post(url, json={"codes": ["9수01-01"]}, headers=viewer).status_code == 403
    reviewer = login(client, "reviewer") | {"X-Requested-With": "mathlabel"}
    assert client.post(url, json={"codes": ["9수01-01"]}, headers=reviewer).status_code == 428
    foreign = client.post(url, json={"codes": ["K.CC.A.1"]}, headers=reviewer | {"If-Match": "1"})
    assert foreign.status_code == 422 and "K.CC.A.1" in foreign.json()["detail"]
    assert client.post(url, json={"codes": ["x"] * 11}, headers=reviewer | {"If-Match": "1"}).status_code == 422
    assert (
        client.post(
            url, json={"codes": ["9수01-01"], "note": "n" * 2001}, headers=reviewer | {"If-Match": "1"}
        ).status_code
        == 422
    )
    assert (
        client.post(f"{_path('no-such@doc')}/accept", json={}, headers=reviewer | {"If-Match": "1"}).status_code == 404
    )
    assert labeled.get_label(doc["_id"])["version"] == 1  # nothing was written

    # the cookie of a logged-in browser, sent by a page of another origin
    token = reviewer["Authorization"].removeprefix("Bearer ")
    client.cookies.set("_token", token)
    try:
        cross = client.post(
            url,
            json={"codes": ["9수01-01"]},
            headers={"If-Match": "1", "Origin": "https://evil.example", "X-Requested-With": "mathlabel"},
        )
        assert cross.status_code == 403
        bare = client.post(url, json={"codes": ["9수01-01"]}, headers={"If-Match": "1"})
        assert bare.status_code == 403  # no custom header: a form post from anywhere
        same = client.post(
            url,
            json={"codes": ["9수01-01"]},
            headers={"If-Match": "1", "X-Requested-With": "mathlabel", "Origin": "http://testserver"},
        )
        assert same.status_code == 200 and same.json()["labels"] == ["9수01-01"]
        assert client.get(f"{API}/me").json()["user"] == "reviewer"  # reads work with the cookie alone
    finally:
        client.cookies.clear()


def test_bulk_accept_writes_current_versions_and_reports_the_rest(client, labeled):
    headers = login(client, "reviewer") | {"X-Requested-With": "mathlabel"}
    docs = {d["problem_id"]: d for d in labeled.find_labels()}
    client.post(f"{_path(docs['q1']['_id'])}/accept", json={}, headers=headers | {"If-Match": "1"})
    items = [{"id": docs[p]["_id"], "version": 1} for p in ("q1", "q2", "q3")] + [{"id": "gone@x", "version": 1}]
    response = client.post(f"{API}/labels/bulk-accept", json={"items": items}, headers=headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert sorted(result["accepted"]) == sorted([docs["q2"]["_id"], docs["q3"]["_id"]])
    assert result["conflicts"] == [{"id": docs["q1"]["_id"], "version": 2}] and result["missing"] == ["gone@x"]
    assert labeled.count_labels({"decision.status": "verified"}) == 3
    too_many = [{"id": f"d{i}", "version": 1} for i in range(501)]
    assert client.post(f"{API}/labels/bulk-accept", json={"items": too_many}, headers=headers).status_code == 422


def test_standards_search_by_code_and_by_words(client, labeled):
    headers = login(client, "viewer")
    listed = client.get(f"{API}/curricula", headers=headers).json()
    assert {"kr-2022", "us-ccss"} <= {c["id"] for c in listed} and all(c["name"] for c in listed)
    by_code = client.get(f"{API}/standards", params={"curriculum": "kr-2022", "q": "[9수01-0"}, headers=headers).json()
    assert by_code and all(row["code"].startswith("9수01-0") for row in by_code)
    by_words = client.get(
        f"{API}/standards", params={"curriculum": "kr-2022", "q": "소인수분해"}, headers=headers
    ).json()
    assert any("소인수분해" in row["text"] for row in by_words[:3])
    english = client.get(f"{API}/standards", params={"curriculum": "us-ccss", "q": "K.CC"}, headers=headers).json()
    assert english and english[0]["curriculum"] == "us-ccss"
    unknown = client.get(f"{API}/standards", params={"curriculum": "xx-1999", "q": "x"}, headers=headers)
    assert unknown.status_code == 422


def test_on_demand_labeling_stores_documents_like_a_batch(client, labeled):
    headers = login(client, "reviewer") | {"X-Requested-With": "mathlabel"}
    body = {
        "curriculum": "kr-2022",
        "source": "worksheet-7",
        "problems": [
            {"id": "1", "text": "두 자연수의 최대공약수를 구하시오."},
            {"id": "2", "text": "$3x - 2 = 10$ 을 푸시오."},
        ],
    }
    response = client.post(f"{API}/label", json=body, headers=headers)
    assert response.status_code == 200, response.text
    docs = response.json()["documents"]
    assert [d["problem_key"] for d in docs] == ["worksheet-7#1", "worksheet-7#2"]
    assert all(d["candidates"] and d["status"] in {"auto_accepted", "needs_review"} for d in docs)
    assert labeled.count_labels({"run_id": "on-demand"}) == 2
    again = client.post(f"{API}/label", json=body, headers=headers).json()["documents"]
    assert [d["version"] for d in again] == [1, 1] and labeled.count_labels({"run_id": "on-demand"}) == 2
    viewer = login(client, "viewer") | {"X-Requested-With": "mathlabel"}
    assert client.post(f"{API}/label", json=body, headers=viewer).status_code == 403
    bad = body | {"problems": [{"id": "1", "text": "x", "secret": 1}]}
    assert client.post(f"{API}/label", json=bad, headers=headers).status_code == 422


def test_a_page_problem_serves_its_crop_and_regions_through_the_api(client, labeled, clean_objects):
    image = Image.new("RGB", (120, 60), "white")
    data = io.BytesIO()
    image.save(data, format="PNG")
    clean_objects.write_bytes("processed/2026-12-02/scan.png.crops/p0001-1.png", data.getvalue())
    doc_id = "scan.png#p1-1@test"
    labeled.upsert_labels(
        [
            {
                "_id": doc_id,
                "problem_id": "scan.png#p1-1",
                "problem_key": "scan.png#p1-1",
                "curriculum": "kr-2022",
                "input": {
                    "text": "x+1=2",
                    "ocr": {"text": "x+1=2", "confidence": 0.91},
                    "regions": [{"cls": "formula", "box": [20, 28, 80, 48], "text": "x+1=2"}],
                    "page": {
                        "page": 1,
                        "box": [10, 20, 130, 80],
                        "number": 1,
                        "crop": clean_objects.uri("processed/2026-12-02/scan.png.crops/p0001-1.png"),
                    },
                },
                "candidates": [],
                "labels": [],
                "decision": {"status": "needs_review", "reasons": ["no candidate standard found"]},
            }
        ]
    )
    headers = login(client, "viewer")
    view = client.get(_path(doc_id), headers=headers).json()
    assert view["source"] == "page" and view["page"]["ocr_text"] == "x+1=2"
    assert view["page"]["regions"][0]["box"] == [18, 16, 78, 36]  # in the crop's pixels (padded by 8)
    assert "processed/" not in json.dumps(view) and "file:" not in json.dumps(view)
    crop = client.get(f"/mathlabel/{view['page']['crop_url']}", headers=headers)
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/png" and crop.content == data.getvalue()
    clean_objects.delete("processed/2026-12-02/scan.png.crops/p0001-1.png")
    assert client.get(f"/mathlabel/{view['page']['crop_url']}", headers=headers).status_code == 404  # gone: not a 500
    assert _queue(client, headers, source="page")["total"] == 1


def test_the_openapi_document_and_the_page_are_served_to_a_login(client, labeled):
    headers = login(client, "viewer")
    spec = client.get(f"{API}/openapi.json", headers=headers).json()
    assert {"/api/v1/queue", "/api/v1/labels/{doc_id}/accept", "/api/v1/label"} <= set(spec["paths"])
    docs = client.get(f"{API}/docs", headers=headers).text
    assert "swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
    page = client.get("/mathlabel/", headers=headers)
    assert page.status_code == 200 and "<html" in page.text.lower() and "cdn" not in page.text.lower()
    assert client.get("/mathlabel/static/../app.py", headers=headers).status_code == 404


def test_a_forced_rerun_of_the_batch_never_overwrites_a_review(client, labeled, clean_objects, seeded_graph):
    headers = login(client, "reviewer") | {"X-Requested-With": "mathlabel"}
    doc = labeled.find_labels({"problem_id": "q2"})[0]
    other = doc["candidates"][1]["code"]
    response = client.post(f"{_path(doc['_id'])}/correct", json={"codes": [other]}, headers=headers | {"If-Match": "1"})
    assert response.status_code == 200
    clean_objects.write_bytes("incoming/set.jsonl", _jsonl(RECORDS))
    cfg = batch_config(get_settings(), "run-forced", force=True)
    index = CurriculumIndex(seeded_graph, "kr-2022")
    run_batch(claim_files(objects := clean_objects, cfg.run_id), objects=objects, labels=labeled, index=index, cfg=cfg)
    kept = labeled.get_label(doc["_id"])
    assert (kept["decision"]["status"], kept["labels"], kept["version"]) == ("verified", [other], 2)
    relabeled = labeled.find_labels({"problem_id": "q3"})[0]
    assert relabeled["run_id"] == "run-forced" and relabeled["version"] == 2  # the others were labeled again


def test_a_new_champions_label_of_a_reviewed_problem_stays_out_of_the_queue(
    client, labeled, clean_objects, seeded_graph
):
    from dataclasses import replace

    headers = login(client, "reviewer") | {"X-Requested-With": "mathlabel", "If-Match": "1"}
    doc = labeled.find_labels({"problem_id": "q1"})[0]
    assert client.post(f"{_path(doc['_id'])}/accept", json={}, headers=headers).status_code == 200
    clean_objects.write_bytes("incoming/set.jsonl", _jsonl(RECORDS))
    cfg = replace(batch_config(get_settings(), "run-new-champion"), model_version="text-labeler-v9")
    index = CurriculumIndex(seeded_graph, "kr-2022")
    run_batch(claim_files(clean_objects, cfg.run_id), objects=clean_objects, labels=labeled, index=index, cfg=cfg)
    new = labeled.get_label(doc["_id"].replace(doc["model_version"], "text-labeler-v9"))
    assert new is not None and new["current"] is False and new["superseded_by"] == doc["_id"]  # stored beside it
    queued = {row["problem_id"] for row in _queue(client, headers, status="needs_review")["items"]}
    assert "q1" not in queued and queued  # the other problems' new labels are in the queue


SAMPLE = Path(__file__).resolve().parents[2] / "labeling" / "samples" / "kr2022_sample.jsonl"
SAMPLE_RUNS = ("health-1", "health-2", "health-3", "health-4")


@pytest.fixture
def sample_runs(clean_objects, clean_labels, seeded_graph):
    """The shipped sample labeled by four batch runs (the later three find every problem labeled and skip it)."""
    from plugins.mathlabel_review.app import workspace

    workspace.cache_clear()
    index = CurriculumIndex(seeded_graph, "kr-2022")
    summaries = []
    for run_id in SAMPLE_RUNS:
        clean_objects.write_bytes("incoming/kr2022_sample.jsonl", SAMPLE.read_bytes())
        cfg = batch_config(get_settings(), run_id)
        summaries.append(run_batch(claim_files(clean_objects, cfg.run_id), objects=clean_objects,
                                   labels=clean_labels, index=index, cfg=cfg))  # fmt: skip
    yield summaries
    workspace.cache_clear()


def test_the_health_route_gives_runs_their_baseline_agreement_and_the_queue(client, sample_runs, clean_labels):
    first, *_, last = sample_runs
    assert first["baseline"] is None and last["baseline"]["runs"] == list(SAMPLE_RUNS[:3])  # finish_run's baseline
    headers = login(client, "reviewer") | {"X-Requested-With": "mathlabel", "If-Match": "1"}
    queued = _queue(client, headers, status="needs_review", limit=2)["items"]
    kept, changed = (clean_labels.get_label(row["id"]) for row in queued)
    assert client.post(f"{_path(kept['_id'])}/accept", json={}, headers=headers).status_code == 200
    other = {"codes": [changed["candidates"][1]["code"]]}
    assert client.post(f"{_path(changed['_id'])}/correct", json=other, headers=headers).status_code == 200

    response = client.get(f"{API}/health", params={"limit": 3}, headers=login(client, "viewer"))
    assert response.status_code == 200, response.text
    health = response.json()
    assert [r["run_id"] for r in health["runs"]] == list(SAMPLE_RUNS[1:])  # the last three, newest last
    assert all(r["problems"] == first["labeled"] for r in health["runs"]) and first["labeled"] > 100
    assert health["runs"][-1]["needs_review_rate"] == last["needs_review_rate"]
    assert health["latest_baseline"]["runs"] == list(SAMPLE_RUNS[:3])  # read beyond the runs shown
    (model,) = health["agreement"]
    assert (model["reviews"], model["kept_top1"], model["agreement"]) == (2, 1, 0.5)
    assert model["model_version"] == kept["model_version"] and model["curriculum"] == "kr-2022"
    queue = health["queue"]
    assert queue["size"] == clean_labels.count_labels({"decision.status": "needs_review", "current": {"$ne": False}})
    assert queue["by_run"] == {"health-1": queue["size"]} and queue["oldest_age_seconds"] >= 0

    # Each run's report links from the page; the last one compares the run with its baseline.
    report = client.get(f"{API}/runs/health-4/report", headers=login(client, "viewer"))
    assert report.status_code == 200 and "script-src" not in report.headers["content-security-policy"]
    assert "Against the baseline" in report.text and "health-1" in report.text and "needs review" in report.text
    assert "No baseline yet" in client.get(f"{API}/runs/health-1/report", headers=headers).text
    assert client.get(f"{API}/runs/nothing/report", headers=headers).status_code == 404
    client.cookies.set("_token", login(client, "viewer")["Authorization"].removeprefix("Bearer "))  # the UI's login
    page = client.get("/mathlabel/health", follow_redirects=False)
    assert page.status_code == 200 and "health.js" in page.text and "cdn" not in page.text.lower()


def test_the_health_route_reads_well_before_any_run(client, clean_objects, clean_labels):
    from plugins.mathlabel_review.app import workspace

    workspace.cache_clear()
    response = client.get(f"{API}/health", headers=login(client, "viewer"))
    workspace.cache_clear()
    assert response.status_code == 200, response.text
    health = response.json()
    assert (health["runs"], health["latest_baseline"], health["agreement"]) == ([], None, [])
    assert health["queue"] == {"size": 0, "by_run": {}, "oldest_created_at": None, "oldest_age_seconds": None}
