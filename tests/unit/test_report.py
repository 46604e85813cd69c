import re
from xml.etree import ElementTree

from labeling.report import LISTED_PER_CHUNK, histogram, render_html, summarize

SVG = "http://www.w3.org/2000/svg"


def test_histogram_bins_cover_zero_to_one_inclusive():
    bins = histogram([0.0, 0.05, 0.55, 0.99, 1.0])
    assert [b["count"] for b in bins] == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert (bins[0]["from"], bins[-1]["to"]) == (0.0, 1.0)


def test_summary_and_page_say_what_happened_to_every_file():
    files = [
        {"name": "a.jsonl", "key": "processing/r/a.jsonl", "status": "processed", "read": 3, "quarantined": 1,
         "destination": "processed/d/a.jsonl", "error": None, "seconds": 0.1},
        {"name": "<b>.txt", "key": "processing/r/<b>.txt", "status": "quarantined", "read": 0, "quarantined": 0,
         "destination": "quarantine/d/<b>.txt", "error": "unsupported file type .txt", "seconds": 0.0},
    ]  # fmt: skip
    results = [{"chunk": "c", "labeled": 1, "skipped": 1, "with_provided_labels": 2, "top1_agreements": 1,
                "needs_review": 1, "top_scores": [0.9, 0.3], "model_version": "m", "seconds": 0.2}]  # fmt: skip
    summary = summarize("r", files, results, {})
    assert (summary["read"], summary["labeled"], summary["skipped"], summary["quarantined"]) == (3, 1, 1, 1)
    assert summary["top1_agreement"] == 0.5 and summary["needs_review_rate"] == 0.5
    page = render_html(summary)
    assert "&lt;b&gt;.txt" in page and "<b>.txt" not in page  # file names are escaped
    assert "unsupported file type .txt" in page and "<svg" in page and "50.0% of 2" in page


def _section(page: str, title: str) -> str:
    """The HTML of the page's section whose heading starts with ``title``."""
    start = page.index(f"<h2>{title}")
    end = page.find("<h2>", start + 4)
    return page[start : end if end > 0 else None]


def test_the_page_lists_what_needs_review_what_disagrees_and_what_was_quarantined():
    error_key, rejected_key = "quarantine/d/a.jsonl.error.json", "quarantine/d/a.jsonl.rejected.jsonl"
    files = [{"name": "a.jsonl", "key": "processing/r/a.jsonl", "status": "processed", "read": 3, "quarantined": 1,
              "destination": "processed/d/a.jsonl", "error": None, "error_key": error_key}]  # fmt: skip
    candidates = [{"code": "9수01-02", "score": 0.41}, {"code": "9수01-01", "score": 0.3}]
    reasons = ["top score 0.41 is below the auto-accept threshold 0.60"]
    ids = {"problem_id": "p-1", "doc_id": "p-1@m"}
    review = {**ids, "reasons": reasons, "candidates": candidates}
    disagreement = {**ids, "provided": ["9수01-01"], "chosen": "9수01-02", "score": 0.41}
    results = [{"chunk": "c", "file": "a.jsonl", "labeled": 2, "skipped": 0, "with_provided_labels": 1,
                "top1_agreements": 0, "needs_review": 1, "top_scores": [0.41, 0.9], "model_version": "m",
                "review": [review], "disagreements": [disagreement]}]  # fmt: skip
    record = {"record": 3, "id": "p-3", "reason": "labels not in the target curriculum: 9수99-99"}
    quarantine = [{"file": "a.jsonl", "reason": "1 of 3 records failed validation", "file_key": None,
                   "error_key": error_key, "rejected_key": rejected_key, "records": [record],
                   "records_total": 1}]  # fmt: skip

    summary = summarize("r", files, results, {}, quarantine=quarantine)
    page = render_html(summary)

    assert summary["review"][0]["file"] == "a.jsonl" and summary["disagreements_total"] == 1
    review = _section(page, "Needs review")
    assert "p-1@m" in review and "top score 0.41 is below the auto-accept threshold" in review
    assert "<code>9수01-02</code> 0.41" in review and "<code>9수01-01</code> 0.30" in review
    disagreements = _section(page, "Disagreements")
    assert all(text in disagreements for text in ("p-1@m", "<code>9수01-01</code>", "<code>9수01-02</code>", "0.41"))
    quarantined = _section(page, "Quarantined")
    assert "labels not in the target curriculum: 9수99-99" in quarantined and "<code>p-3</code>" in quarantined
    assert 'href="../quarantine/d/a.jsonl.rejected.jsonl"' in quarantined
    assert 'href="../quarantine/d/a.jsonl.error.json"' in quarantined
    assert "Review this run" not in page  # no review page configured, no link

    summary["review_url"] = "http://airflow.example/mathlabel/?run_id=r&status=any"
    linked = _section(render_html(summary), "Needs review")
    assert '<a href="http://airflow.example/mathlabel/?run_id=r&amp;status=any">Review this run' in linked


def test_a_chunk_lists_a_bounded_number_of_problems_and_the_page_counts_the_rest():
    from labeling.batch import ChunkResult, _count
    from labeling.schemas import Problem

    result = ChunkResult(chunk="c", file="big.jsonl", model_version="m")
    for i in range(LISTED_PER_CHUNK + 7):
        doc = {"_id": f"p-{i}@m", "labels": ["9수01-02"], "candidates": [{"code": "9수01-02", "score": 0.3}],
               "decision": {"status": "needs_review", "reasons": ["low score"]}}  # fmt: skip
        _count(result, Problem(id=f"p-{i}", text="t", labels=["9수01-01"]), doc)

    assert result.needs_review == LISTED_PER_CHUNK + 7 and len(result.review) == LISTED_PER_CHUNK
    assert len(result.disagreements) == LISTED_PER_CHUNK
    summary = summarize("r", [], [result.to_dict()], {})
    assert summary["disagreements_total"] == LISTED_PER_CHUNK + 7
    page = render_html(summary)
    assert f"{LISTED_PER_CHUNK} of {LISTED_PER_CHUNK + 7} problems are listed" in _section(page, "Needs review")
    assert f"{LISTED_PER_CHUNK} of {LISTED_PER_CHUNK + 7} disagreements" in _section(page, "Disagreements")


def test_every_count_of_the_chart_lies_inside_the_canvas_under_a_counted_axis():
    scores = [0.95] * 42 + [0.55] * 18 + [0.35] * 6
    result = {"labeled": 66, "skipped": 0, "with_provided_labels": 0, "top1_agreements": 0, "needs_review": 0,
              "top_scores": scores}  # fmt: skip
    page = render_html(summarize("r", [], [result], {}))
    svg = ElementTree.fromstring(re.search(r"<svg.*?</svg>", page, re.S).group(0))
    width, height = float(svg.get("width")), float(svg.get("height"))
    texts = svg.findall(f"{{{SVG}}}text")
    for text in texts:  # y is the baseline: the glyphs sit between y - font-size and y
        x, y, size = float(text.get("x")), float(text.get("y")), float(text.get("font-size"))
        assert 0 <= x <= width and size <= y <= height, f"{text.text!r} at ({x}, {y}) is outside {width}x{height}"
    labels = [t.text for t in texts]
    assert "42" in labels  # the tallest bar's count is drawn
    ticks = [int(t.text) for t in texts if t.get("text-anchor") == "end"]
    assert ticks[0] == 0 and ticks[-1] >= 42  # the y axis counts problems, up to the tallest bar at least
    assert "problems" in labels and any("score" in (label or "") for label in labels)  # both axes are named
    for bar in svg.findall(f"{{{SVG}}}rect"):
        assert 0 <= float(bar.get("y")) <= height


def test_the_page_says_what_was_left_for_the_next_run_and_what_waits_on_a_live_run():
    summary = summarize("r", [], [], {})
    assert "next run" not in render_html(summary) and "still alive" not in render_html(summary)
    summary |= {"left_for_next_run": 600, "stuck": [{"run_id": "manual__x", "file": "a.jsonl"}]}
    page = render_html(summary)
    assert "<th>left in incoming/ for the next run</th><td>600</td>" in page
    assert "a.jsonl (run manual__x)" in page


def test_the_page_compares_the_run_with_its_trailing_baseline_when_the_summary_carries_one():
    results = [{"chunk": "c", "labeled": 10, "skipped": 0, "with_provided_labels": 0, "top1_agreements": 0,
                "needs_review": 6, "auto_accepted": 4, "top_scores": [0.95] * 10, "model_version": "m",
                "curriculum": "kr-2022", "seconds": 2.0}]  # fmt: skip
    summary = summarize("now", [], results, {})
    assert "Against the baseline" not in render_html(summary)  # a report from before baselines: no section
    summary["baseline"] = None
    assert "No baseline yet" in _section(render_html(summary), "Against the baseline")
    summary["baseline"] = {"runs": ["r1", "r2", "r3"], "problems": 300, "needs_review_rate": 0.2,
                           "auto_accept_rate": 0.8, "quarantine_rate": 0.0, "ocr_confidence_mean": None,
                           "problems_per_second": 4.0, "histogram": [30] * 10}  # fmt: skip
    section = _section(render_html(summary), "Against the baseline")
    assert "<code>r1</code>, <code>r2</code>, <code>r3</code>" in section and "300 problems" in section
    cells = re.findall(r"<tr><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td><td>(.*?)</td></tr>", section)
    rows = {name: (ours, theirs, change) for name, ours, theirs, change in cells}
    assert rows["needs review"] == ("60.0%", "20.0%", "+40.0 points")
    assert rows["problems per second"] == ("5.00", "4.00", "+1.00")
    assert rows["mean OCR confidence"] == ("–", "–", "–")  # no page read: nothing to compare
    assert float(rows["top-1 score distribution (PSI)"][0]) > 1  # every score in the top bin against a flat one


def test_the_page_shows_the_quality_gates_verdict_with_the_breached_measure_marked():
    results = [
        {
            "chunk": "c",
            "labeled": 30,
            "skipped": 0,
            "with_provided_labels": 0,
            "top1_agreements": 0,
            "needs_review": 30,
            "top_scores": [0.2] * 30,
            "model_version": "m",
            "curriculum": "kr-2022",
        }
    ]
    summary = summarize("english", [], results, {})
    assert "Quality gate" not in render_html(summary)  # not judged yet (the gate runs after the report)
    summary["quality_gate"] = {
        "status": "breached", "breaches": ["score_psi"], "alert": {"sent": True, "note": "sent"},
        "measures": {
            "needs_review_rate": {"value": 1.0, "baseline": 1.0, "change": 0.0, "threshold": 0.2, "breached": False},
            "score_psi": {"value": 2.9, "baseline": 0.36, "change": 2.54, "threshold": 0.25, "breached": True},
        },
    }  # fmt: skip
    section = _section(render_html(summary), "Quality gate: BREACHED")
    assert "<td><b>score_psi</b></td><td>2.9</td><td>0.36</td><td>2.54</td><td>0.25</td><td>yes</td>" in section
    assert "<td>needs_review_rate</td>" in section and "Alert: sent" in section
