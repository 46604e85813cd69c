"""The run report: totals, agreement with provided labels, confidence histogram, review load, time per stage, and
the lists a person acts on: the problems that need review, those whose chosen label disagrees with the record's own
labels, and what was quarantined, why and where.

Written as JSON (for machines) and as one self-contained HTML page with an inline SVG chart (for people; no
scripts, fonts or styles are fetched).
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime
from typing import Any

from labeling.quality import psi, run_measures

BINS = 10
# Problems each labeling task lists in each of the report's lists (and quarantined records per file): XCom carries
# small data, and a chunk may hold thousands. The counts cover the rest; the label store holds every document.
LISTED_PER_CHUNK = 50


def histogram(scores: list[float], bins: int = BINS) -> list[dict[str, Any]]:
    """Counts of top-candidate scores in equal bins over [0, 1]."""
    counts = [0] * bins
    for score in scores:
        counts[min(int(score * bins), bins - 1)] += 1
    return [{"from": round(i / bins, 2), "to": round((i + 1) / bins, 2), "count": c} for i, c in enumerate(counts)]


def _listed(results: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """The items each chunk result lists under ``key``, with the file they come from."""
    return [{**item, "file": r.get("file", "")} for r in results for item in r.get(key) or []]


def summarize(
    run_id: str,
    files: list[dict[str, Any]],
    results: list[dict[str, Any]],
    stage_seconds: dict[str, float],
    *,
    quarantine: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Totals over the files and chunk results of one run, and its lists (``quarantine``: from ``finish_run``)."""
    labeled = sum(r["labeled"] for r in results)
    skipped = sum(r["skipped"] for r in results)
    provided = sum(r["with_provided_labels"] for r in results)
    hits = sum(r["top1_agreements"] for r in results)
    needs_review = sum(r["needs_review"] for r in results)
    stored = labeled + skipped
    scores = [s for r in results for s in r.get("top_scores", [])]
    confidences = [c for r in results for c in r.get("ocr_confidences", [])]
    auto = sum(r.get("auto_accepted", 0) for r in results)
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
        "auto_accepted": auto,
        "auto_accept_rate": round(auto / stored, 4) if stored else None,
        "curricula": sorted({r["curriculum"] for r in results if r.get("curriculum")}),
        "ocr_problems": len(confidences),
        "ocr_confidence_mean": round(sum(confidences) / len(confidences), 4) if confidences else None,
        "label_seconds": round(sum(r.get("seconds", 0.0) for r in results), 3),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "with_provided_labels": provided,
        "top1_agreements": hits,
        "top1_agreement": round(hits / provided, 4) if provided else None,
        "disagreements_total": provided - hits,
        "listed_per_chunk": LISTED_PER_CHUNK,
        "review": _listed(results, "review"),
        "disagreements": _listed(results, "disagreements"),
        "quarantine": quarantine or [],
        "histogram": histogram(scores),
        "stage_seconds": {
            "prepare": round(sum(f.get("seconds", 0.0) for f in files), 3),
            "label": round(sum(r.get("seconds", 0.0) for r in results), 3),
            **stage_seconds,
        },
    }


def _step(peak: int) -> int:
    """A round tick step (1, 2 or 5 times a power of ten) giving at most 5 ticks up to ``peak``."""
    step = 10 ** max(0, math.floor(math.log10(peak / 5))) if peak > 5 else 1
    for factor in (1, 2, 5, 10):
        if peak / (step * factor) <= 5:
            return step * factor
    return step * 10


def _bar_chart(bins: list[dict[str, Any]], width: int = 560, height: int = 240) -> str:
    """Bars with a counted y axis and a labelled x axis; every label lies inside the canvas."""
    left, right, top, bottom = 48, 12, 20, 44  # room for the tick labels, the counts above the bars, the axis titles
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((b["count"] for b in bins), default=0)
    step = _step(max(peak, 1))
    y_max = max(step, math.ceil(peak / step) * step)  # the axis reaches at least the tallest bar
    base = top + plot_h
    bar = plot_w / len(bins)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="histogram of the chosen label\'s score" '
             'font-family="sans-serif">']  # fmt: skip
    for tick in range(0, y_max + 1, step):
        y = base - plot_h * tick / y_max
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#e3e3e3"/>'
            f'<text x="{left - 6}" y="{y + 3.5:.1f}" font-size="10" text-anchor="end">{tick}</text>'
        )
    for i, b in enumerate(bins):
        h = plot_h * b["count"] / y_max
        x = left + i * bar
        parts.append(f'<rect x="{x + 2:.1f}" y="{base - h:.1f}" width="{bar - 4:.1f}" height="{h:.1f}" fill="#4a7bd0">'
                     f'<title>{b["from"]:.1f}–{b["to"]:.1f}: {b["count"]}</title></rect>')  # fmt: skip
        if b["count"]:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{base - h - 4:.1f}" font-size="10" text-anchor="middle">'
                         f'{b["count"]}</text>')  # fmt: skip
    for i in range(len(bins) + 1):
        edge = bins[i]["from"] if i < len(bins) else bins[-1]["to"]
        parts.append(f'<text x="{left + i * bar:.1f}" y="{base + 14}" font-size="10" text-anchor="middle">'
                     f"{edge:.1f}</text>")  # fmt: skip
    parts.append(
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#333"/>'
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#333"/>'
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" font-size="11" text-anchor="middle">'
        "score of the chosen label (top candidate)</text>"
        f'<text x="12" y="{top + plot_h / 2:.1f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">problems</text></svg>'
    )
    return "".join(parts)


def _link(key: str | None) -> str:
    """An object-store key as a link relative to ``reports/`` (the report's own folder)."""
    if not key:
        return ""
    e = html.escape
    return f'<a href="../{e(key, quote=True)}"><code>{e(key)}</code></a>'


def _more(shown: int, total: int, what: str, where: str) -> str:
    """The line that says a list is cut short, and where the rest is."""
    if total <= shown:
        return ""
    return f"<p>{shown} of {total} {what} listed; {html.escape(where)}</p>"


def _table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>{cells}</table>"


def _review_section(summary: dict[str, Any]) -> str:
    e = html.escape
    listed, total = summary.get("review", []), summary["needs_review"]
    link = summary.get("review_url")
    queue = f'<p><a href="{e(link)}">Review this run\'s labels</a> (its queue on the review page)</p>' if link else ""
    if not total:
        return f"<h2>Needs review</h2>{queue}<p>No problem needs review.</p>"
    rows = [
        [
            f"<code>{e(item['problem_id'])}</code>",
            f"<code>{e(item['doc_id'])}</code>",
            e(item.get("file", "")),
            "<ul>" + "".join(f"<li>{e(reason)}</li>" for reason in item.get("reasons", [])) + "</ul>",
            "<br>".join(f"<code>{e(c['code'])}</code> {c['score']:.2f}" for c in item.get("candidates", [])),
        ]
        for item in listed
    ]
    where = (
        f"each labeling task lists at most {summary.get('listed_per_chunk', LISTED_PER_CHUNK)}; the label store "
        f"holds them all (decision needs_review), e.g. `mathlabel labels list --run {summary['run_id']} "
        "--status needs_review --limit 0` for those labeled in this run"
    )
    return (
        f"<h2>Needs review ({total})</h2>{queue}"
        + _more(len(listed), total, "problems are", where)
        + _table(["problem", "label document", "file", "reasons", "top candidates (score)"], rows)
    )


def _disagreement_section(summary: dict[str, Any]) -> str:
    e = html.escape
    listed, total = summary.get("disagreements", []), summary.get("disagreements_total", 0)
    if not summary["with_provided_labels"]:
        return "<h2>Disagreements with provided labels</h2><p>No record carried labels.</p>"
    if not total:
        return "<h2>Disagreements with provided labels</h2><p>Every chosen label is among the record's labels.</p>"
    rows = [
        [
            f"<code>{e(item['problem_id'])}</code>",
            f"<code>{e(item['doc_id'])}</code>",
            e(item.get("file", "")),
            ", ".join(f"<code>{e(code)}</code>" for code in item.get("provided", [])),
            f"<code>{e(item.get('chosen') or '–')}</code>",
            f"{item.get('score', 0.0):.2f}",
        ]
        for item in listed
    ]
    where = f"each labeling task lists at most {summary.get('listed_per_chunk', LISTED_PER_CHUNK)}"
    return (
        f"<h2>Disagreements with provided labels ({total})</h2>"
        + _more(len(listed), total, "disagreements are", where)
        + _table(["problem", "label document", "file", "provided", "chosen", "score"], rows)
    )


def _quarantine_section(summary: dict[str, Any]) -> str:
    e = html.escape
    entries = summary.get("quarantine", [])
    if not entries:
        return "<h2>Quarantined</h2><p>Nothing was quarantined.</p>"
    rows = []
    for item in entries:
        where = [f"file: {_link(item['file_key'])}" if item.get("file_key") else "",
                 f"records: {_link(item['rejected_key'])}" if item.get("rejected_key") else "",
                 f"reasons: {_link(item.get('error_key'))}"]  # fmt: skip
        archive = item["file"].lower().endswith(".zip")  # its records are the members the claim refused
        records = "".join(
            (f"<li>member <code>{e(str(r.get('id')))}</code>" if archive else f"<li>record {e(str(r.get('record')))}"
             + (f" (id <code>{e(str(r['id']))}</code>)" if r.get("id") is not None else ""))  # unparsable: no id
            + f": {e(str(r.get('reason')))}</li>"
            for r in item.get("records", [])
        )  # fmt: skip
        more = item.get("records_total", 0) - len(item.get("records", []))
        if more > 0:
            records += f"<li>{more} more in {_link(item.get('error_key'))}</li>"
        rows.append([e(item["file"]), e(item.get("reason") or ""), "<br>".join(w for w in where if w),
                     f"<ul>{records}</ul>" if records else "–"])  # fmt: skip
    return "<h2>Quarantined</h2>" + _table(["file", "reason", "where", "records"], rows)


# The measures a run is compared on with its trailing baseline (labeling.quality.MEASURES), as the report names them.
BASELINE_MEASURES = (
    ("needs_review_rate", "needs review", "share"),
    ("auto_accept_rate", "auto-accepted", "share"),
    ("quarantine_rate", "quarantined", "share"),
    ("ocr_confidence_mean", "mean OCR confidence", "number"),
    ("problems_per_second", "problems per second", "number"),
)


def _baseline_section(summary: dict[str, Any]) -> str:
    """This run's measures beside the pooled runs before it of the same curricula and model (``finish_run`` stores
    them as ``summary["baseline"]``; a report without the key, written before it existed, has no section)."""
    if "baseline" not in summary:
        return ""
    e = html.escape
    base = summary["baseline"]
    if not base:
        return ("<h2>Against the baseline</h2><p>No baseline yet: fewer than three earlier runs of these curricula "
                "with this model.</p>")  # fmt: skip
    now = run_measures(summary)

    def shown(value: Any, kind: str) -> str:
        if value is None:
            return "–"
        return f"{value:.1%}" if kind == "share" else f"{value:.2f}" if kind == "number" else str(value)

    rows = []
    for key, name, kind in BASELINE_MEASURES:
        ours, theirs = now.get(key), base.get(key)
        if ours is not None and theirs is not None:
            diff = ours - theirs
            change = f"{diff * 100:+.1f} points" if kind == "share" else f"{diff:+.2f}"
        else:
            change = "–"
        rows.append([e(name), shown(ours, kind), shown(theirs, kind), change])
    runs = base.get("runs") or []
    shift = psi(base.get("histogram") or [], now["histogram"])
    if shift is not None:  # whether it is more than chance at these run sizes: the quality gate's section says
        rows.append(["top-1 score distribution (PSI)", f"{shift:.3f}", "0 (same shape)", "–"])
    return (
        f"<h2>Against the baseline</h2><p>The baseline pools the {len(runs)} runs before this one with its curricula "
        f"and model ({base.get('problems', 0)} problems): "
        + ", ".join(f"<code>{e(str(r))}</code>" for r in runs)
        + ".</p>"
        + _table(["measure", "this run", "baseline", "change"], rows)
    )


GATE_STATUS = {
    "passed": "passed: no measure moved past its threshold",
    "breached": "BREACHED",
    "no_baseline": "not judged",
    "too_small": "not judged",
}


def _gate_section(summary: dict[str, Any]) -> str:
    """The quality gate's verdict (``labeling.gate``: the ``quality_gate`` task writes it into the report)."""
    verdict = summary.get("quality_gate")
    if not verdict:
        return ""
    e = html.escape
    head = f"<h2>Quality gate: {e(GATE_STATUS.get(verdict['status'], verdict['status']))}</h2>"
    if verdict.get("note"):
        head += f"<p>{e(verdict['note'])}</p>"
    rows = []
    for name, m in (verdict.get("measures") or {}).items():
        cells = [m.get("value"), m.get("baseline"), m.get("change"), m.get("threshold")]
        shown = ["–" if v is None else f"{v:.4g}" for v in cells]
        rows.append([f"<b>{e(name)}</b>" if m.get("breached") else e(name), *shown, "yes" if m.get("breached") else ""])
    alert = verdict.get("alert")
    tail = f"<p>Alert: {e(str(alert.get('note', '')))}</p>" if alert else ""
    table = _table(["measure", "this run", "baseline (PSI: by chance)", "change", "allowed", "breached"], rows)
    return head + (table if rows else "") + tail


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
    if summary.get("left_for_next_run"):  # a drop bigger than one run may claim (labeling.max_files_per_run)
        rows.append(("left in incoming/ for the next run", summary["left_for_next_run"]))
    stuck = summary.get("stuck") or []
    if stuck:  # inputs in the folder of a run Airflow says is still running
        waiting = ", ".join(f"{s['file']} (run {s['run_id']})" for s in stuck[:20])
        rows.append(("waiting on a run still alive", f"{len(stuck)}: {waiting}{' …' if len(stuck) > 20 else ''}"))
    table = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in rows)
    files = "".join(
        f"<tr><td>{e(f['name'])}</td><td>{e(f['status'])}</td><td>{f['read']}</td><td>{f['quarantined']}</td>"
        f"<td>{e(f.get('destination') or '')}</td><td>{e(f.get('error') or '')}</td></tr>"
        for f in summary["files"]
    )
    return (
        '<!doctype html><html lang="en"><meta charset="utf-8">'
        f"<title>mathlabel run {e(summary['run_id'])}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1em}"
        "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
        "td ul{margin:0;padding-left:1.2em}</style>"
        f"<h1>Labeling run {e(summary['run_id'])}</h1><table>{table}</table>"
        + _gate_section(summary)
        + _baseline_section(summary)
        + f"<h2>Confidence of the chosen label</h2>{_bar_chart(summary['histogram'])}"
        + _review_section(summary)
        + _disagreement_section(summary)
        + _quarantine_section(summary)
        + "<h2>Files</h2><table><tr><th>file</th><th>status</th><th>read</th><th>quarantined</th>"
        f"<th>moved to</th><th>error</th></tr>{files}</table></html>"
    )
