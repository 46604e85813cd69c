"""The run report: totals, agreement with provided labels, confidence histogram, review load, time per stage.

Written as JSON (for machines) and as one self-contained HTML page with an inline SVG chart (for people; no
scripts, fonts or styles are fetched).
"""

from __future__ import annotations

import html
from typing import Any

BINS = 10


def histogram(scores: list[float], bins: int = BINS) -> list[dict[str, Any]]:
    """Counts of top-candidate scores in equal bins over [0, 1]."""
    counts = [0] * bins
    for score in scores:
        counts[min(int(score * bins), bins - 1)] += 1
    return [{"from": round(i / bins, 2), "to": round((i + 1) / bins, 2), "count": c} for i, c in enumerate(counts)]


def summarize(
    run_id: str, files: list[dict[str, Any]], results: list[dict[str, Any]], stage_seconds: dict[str, float]
) -> dict[str, Any]:
    """Totals over the files and chunk results of one run."""
    labeled = sum(r["labeled"] for r in results)
    skipped = sum(r["skipped"] for r in results)
    provided = sum(r["with_provided_labels"] for r in results)
    hits = sum(r["top1_agreements"] for r in results)
    needs_review = sum(r["needs_review"] for r in results)
    stored = labeled + skipped
    scores = [s for r in results for s in r.get("top_scores", [])]
    return {
        "run_id": run_id,
        "files": files,
        "files_total": len(files),
        "files_processed": sum(f["status"] == "processed" for f in files),
        "files_quarantined": sum(f["status"] == "quarantined" for f in files),
        "unfinished": [f["key"] for f in files if f["status"] == "unfinished"],
        "model_versions": sorted({r["model_version"] for r in results if r.get("model_version")}),
        "read": sum(f["read"] for f in files),
        "labeled": labeled,
        "skipped": skipped,
        "quarantined": sum(f["quarantined"] for f in files) + sum(r.get("quarantined", 0) for r in results),
        "pages_read": sum(r.get("pages", 0) for r in results),
        "seconds_per_page": (
            round(sum(r.get("ocr_seconds", 0.0) for r in results) / pages, 3)
            if (pages := sum(r.get("pages", 0) for r in results))
            else None
        ),
        "needs_review": needs_review,
        "needs_review_rate": round(needs_review / stored, 4) if stored else None,
        "with_provided_labels": provided,
        "top1_agreements": hits,
        "top1_agreement": round(hits / provided, 4) if provided else None,
        "histogram": histogram(scores),
        "stage_seconds": {
            "prepare": round(sum(f.get("seconds", 0.0) for f in files), 3),
            "label": round(sum(r.get("seconds", 0.0) for r in results), 3),
            **stage_seconds,
        },
    }


def _bar_chart(bins: list[dict[str, Any]], width: int = 520, height: int = 180) -> str:
    peak = max((b["count"] for b in bins), default=0) or 1
    bar = width / len(bins)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 30}" role="img" '
             'aria-label="confidence histogram">']  # fmt: skip
    for i, b in enumerate(bins):
        h = round(height * b["count"] / peak)
        x = round(i * bar + 2)
        parts.append(f'<rect x="{x}" y="{height - h}" width="{round(bar - 4)}" height="{h}" fill="#4a7bd0">'
                     f'<title>{b["from"]:.1f}–{b["to"]:.1f}: {b["count"]}</title></rect>')  # fmt: skip
        parts.append(f'<text x="{x + bar / 2 - 2:.0f}" y="{height + 14}" font-size="10" text-anchor="middle">'
                     f'{b["from"]:.1f}</text>')  # fmt: skip
        if b["count"]:
            parts.append(f'<text x="{x + bar / 2 - 2:.0f}" y="{height - h - 3}" font-size="10" '
                         f'text-anchor="middle">{b["count"]}</text>')  # fmt: skip
    parts.append(f'<text x="{width / 2:.0f}" y="{height + 28}" font-size="11" text-anchor="middle">'
                 "top-candidate score</text></svg>")  # fmt: skip
    return "".join(parts)


def render_html(summary: dict[str, Any]) -> str:
    """One page a reviewer can open from the object store."""
    e = html.escape
    agreement = summary["top1_agreement"]
    rows = [
        ("files", f"{summary['files_total']} ({summary['files_processed']} processed, "
                  f"{summary['files_quarantined']} quarantined, {len(summary['unfinished'])} unfinished)"),
        ("problems read", summary["read"]),
        ("labeled now", summary["labeled"]),
        ("already labeled, skipped", summary["skipped"]),
        ("quarantined records", summary["quarantined"]),
        ("needs review", f"{summary['needs_review']} ({(summary['needs_review_rate'] or 0):.1%})"),
        ("top-1 agreement with provided labels",
         f"{agreement:.1%} of {summary['with_provided_labels']}" if agreement is not None else "no labels provided"),
        ("model versions", ", ".join(summary["model_versions"]) or "–"),
        ("seconds per stage", ", ".join(f"{k} {v:.2f}" for k, v in summary["stage_seconds"].items())),
    ]  # fmt: skip
    table = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in rows)
    files = "".join(
        f"<tr><td>{e(f['name'])}</td><td>{e(f['status'])}</td><td>{f['read']}</td><td>{f['quarantined']}</td>"
        f"<td>{e(f.get('destination') or '')}</td><td>{e(f.get('error') or '')}</td></tr>"
        for f in summary["files"]
    )
    return (
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        f"<title>mathlabel run {e(summary['run_id'])}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}</style>"
        f"<h1>Labeling run {e(summary['run_id'])}</h1><table>{table}</table>"
        f"<h2>Confidence of the chosen label</h2>{_bar_chart(summary['histogram'])}"
        "<h2>Files</h2><table><tr><th>file</th><th>status</th><th>read</th><th>quarantined</th>"
        f"<th>moved to</th><th>error</th></tr>{files}</table></html>"
    )
