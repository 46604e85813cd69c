"""The training-data contract, as a Great Expectations suite run on a snapshot before anything is trained on it.

No empty texts, known codes only, a minimum of examples per label, no problem with conflicting labels (the same id,
or the same text and metadata, labeled differently), no leakage between training and the frozen hold-out (by id or
by content), and enough hold-out problems to judge a challenger. A failed check stops the run with a report that
names the check, how many problems fail it and some of their ids.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from training.snapshot import content_key

EXAMPLES = 10  # ids quoted per failed check


@dataclass
class SnapshotReport:
    ok: bool
    train: int
    holdout: int
    failures: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.ok:
            return f"snapshot valid: {self.train} training and {self.holdout} hold-out problems"
        lines = [f"snapshot invalid ({len(self.failures)} failed check(s)); nothing is trained on it:"]
        lines += [f"- {f['check']}: {f['reason']} (e.g. {', '.join(map(str, f['examples']))})" for f in self.failures]
        return "\n".join(lines)


def frame(train: list[dict[str, Any]], holdout: list[dict[str, Any]], known_codes: set[str]):
    """One row per training problem with the columns the expectations read."""
    import pandas as pd

    by_id: dict[str, set[tuple[str, ...]]] = {}
    by_content: dict[str, set[tuple[str, ...]]] = {}
    counts: dict[str, int] = {}
    for row in train:
        labels = tuple(sorted(row.get("labels") or []))
        by_id.setdefault(row["id"], set()).add(labels)
        by_content.setdefault(content_key(row), set()).add(labels)
        for code in labels:
            counts[code] = counts.get(code, 0) + 1
    held_ids = {r["id"] for r in holdout}
    held_content = {content_key(r) for r in holdout}
    rows = []
    for row in train:
        labels = sorted(row.get("labels") or [])
        content = content_key(row)
        conflict = ""
        if len(by_id[row["id"]]) > 1:
            conflict = "id labeled " + " and ".join("+".join(ls) for ls in sorted(by_id[row["id"]]))
        elif len(by_content[content]) > 1:
            conflict = "same text labeled " + " and ".join("+".join(ls) for ls in sorted(by_content[content]))
        leak = "id in the hold-out" if row["id"] in held_ids else ("text in the hold-out" if content in held_content
                                                                     else "")  # fmt: skip
        rows.append(
            {
                "id": row["id"],
                "text": (row.get("text") or "").strip() or None,
                "unknown_labels": ",".join(c for c in labels if c not in known_codes),
                "fewest_examples": min((counts[c] for c in labels), default=0),
                "rarest_label": min(labels, key=lambda c: counts[c]) if labels else "",
                "conflict": conflict,
                "leak": leak,
            }
        )
    columns = ["id", "text", "unknown_labels", "fewest_examples", "rarest_label", "conflict", "leak"]
    return pd.DataFrame(rows, columns=columns)


def validate_snapshot(
    train: list[dict[str, Any]],
    holdout: list[dict[str, Any]],
    known_codes: set[str],
    *,
    min_examples_per_label: int = 2,
    min_train: int = 1,
    min_holdout: int = 1,
) -> SnapshotReport:
    import os

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch_definition = (
        context.data_sources.add_pandas("snapshot")
        .add_dataframe_asset("train")
        .add_batch_definition_whole_dataframe("all")
    )
    x = gx.expectations
    checks = {
        "non-empty text": x.ExpectColumnValuesToNotBeNull(column="text"),
        "known codes": x.ExpectColumnValuesToBeInSet(column="unknown_labels", value_set=[""]),
        "examples per label": x.ExpectColumnValuesToBeBetween(
            column="fewest_examples", min_value=min_examples_per_label
        ),
        "no conflicting labels": x.ExpectColumnValuesToBeInSet(column="conflict", value_set=[""]),
        "no leakage into the hold-out": x.ExpectColumnValuesToBeInSet(column="leak", value_set=[""]),
        "enough training problems": x.ExpectTableRowCountToBeBetween(min_value=min_train),
    }
    suite = gx.ExpectationSuite(name="training_snapshot")
    for expectation in checks.values():
        suite.add_expectation(expectation)
    data = frame(train, holdout, known_codes)
    result = batch_definition.get_batch(batch_parameters={"dataframe": data}).validate(suite, result_format="COMPLETE")
    by_key = {(e.expectation_type, getattr(e, "column", None)): name for name, e in checks.items()}
    failures = []
    for item in result.results:
        if item.success:
            continue
        config = item.expectation_config
        check = by_key[(config.type, config.kwargs.get("column"))]
        failures.append(_failure(check, data, item.result, min_examples_per_label, min_train))
    if len(holdout) < min_holdout:
        failures.append(
            {
                "check": "hold-out size",
                "reason": f"{len(holdout)} hold-out problems; at least {min_holdout} are "
                "needed to judge a challenger (verify more problems, or freeze a new hold-out version)",
                "count": len(holdout),
                "examples": [],
            }
        )
    return SnapshotReport(ok=not failures, train=len(train), holdout=len(holdout), failures=failures)


def _failure(check: str, data, result: dict[str, Any], min_examples: int, min_train: int) -> dict[str, Any]:
    if check == "enough training problems":
        return {"check": check, "reason": f"{len(data)} training problems; at least {min_train} needed",
                "count": len(data), "examples": []}  # fmt: skip
    rows = data.loc[result.get("unexpected_index_list") or []]
    reason = {
        "non-empty text": "problems without text",
        "known codes": "labels not in the target curriculum: "
        + ", ".join(sorted({c for v in rows["unknown_labels"] for c in v.split(",") if c})),
        "examples per label": f"labels with fewer than {min_examples} examples: "
        + ", ".join(sorted(set(rows["rarest_label"]))),
        "no conflicting labels": "problems labeled two ways: " + "; ".join(sorted(set(rows["conflict"]))[:3]),
        "no leakage into the hold-out": "training problems also in the hold-out",
    }[check]
    return {"check": check, "reason": reason, "count": len(rows), "examples": list(rows["id"][:EXAMPLES])}
