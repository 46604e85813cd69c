from labeling.report import histogram, render_html, summarize


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
