"""The training-data contract, as a Great Expectations suite run on a snapshot before anything is trained on it.

No empty texts, known codes only, a minimum of examples per label, no problem with conflicting labels (the same id,
or the same text and metadata, labeled differently), no leakage between training and the frozen hold-out (by id or
by content), and enough hold-out problems to judge a challenger. A failed check stops the run with a report that
names the check, how many problems fail it, some of their ids, and what to add to pass it. ``validate_and_freeze``
freezes a candidate hold-out only when the snapshot passes.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from stores.objects import ObjectStore
from training.snapshot import Snapshot, content_key, freeze_holdout, read_jsonl, record_key

EXAMPLES = 10  # ids quoted per failed check
LABELS_NAMED = 20  # labels named in a failure's reason; the report's "needs" has them all


@dataclass
class SnapshotReport:
    ok: bool
    train: int
    holdout: int
    failures: list[dict[str, Any]] = field(default_factory=list)
    holdout_key: str | None = None  # the frozen hold-out, once the snapshot passed (validate_and_freeze)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        if self.ok:
            return f"snapshot valid: {self.train} training and {self.holdout} hold-out problems"
        lines = [f"snapshot invalid ({len(self.failures)} failed check(s)); nothing is trained on it, and no "
                 "new hold-out is frozen:"]  # fmt: skip
        for f in self.failures:
            examples = f" (e.g. {', '.join(map(str, f['examples']))})" if f["examples"] else ""
            lines.append(f"- {f['check']}: {f['reason']}{examples}")
        return "\n".join(lines)


def frame(train: list[dict[str, Any]], holdout: list[dict[str, Any]], known_codes: set[str]):
    """One row per training problem with the columns the expectations read."""
    import pandas as pd

    by_id: dict[str, set[tuple[str, ...]]] = {}
    by_content: dict[str, set[tuple[str, ...]]] = {}
    counts: dict[str, int] = {}
    for row in train:
        labels = tuple(sorted(row.get("labels") or []))
        by_id.setdefault(record_key(row), set()).add(labels)
        by_content.setdefault(content_key(row), set()).add(labels)
        for code in labels:
            counts[code] = counts.get(code, 0) + 1
    held_ids = {record_key(r) for r in holdout}
    held_content = {content_key(r) for r in holdout}
    rows = []
    for row in train:
        labels = sorted(row.get("labels") or [])
        content, key = content_key(row), record_key(row)
        conflict = ""
        if len(by_id[key]) > 1:
            conflict = "id labeled " + " and ".join("+".join(ls) for ls in sorted(by_id[key]))
        elif len(by_content[content]) > 1:
            conflict = "same text labeled " + " and ".join("+".join(ls) for ls in sorted(by_content[content]))
        leak = "id in the hold-out" if key in held_ids else ("text in the hold-out" if content in held_content
                                                             else "")  # fmt: skip
        rows.append(
            {
                "id": key,
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


def verified_needed(min_holdout: int, holdout_share: float) -> int:
    """About how many verified problems give a hold-out of ``min_holdout``: the least a first model needs."""
    return math.ceil(min_holdout / holdout_share)


@functools.cache
def _snapshot_batches():
    """The whole-dataframe batch definition of snapshots, in the process's one Great Expectations context."""
    from labeling.validation import ge_context

    return (
        ge_context()
        .data_sources.add_pandas("snapshot")
        .add_dataframe_asset("train")
        .add_batch_definition_whole_dataframe("all")
    )


def validate_snapshot(
    train: list[dict[str, Any]],
    holdout: list[dict[str, Any]],
    known_codes: set[str],
    *,
    min_examples_per_label: int = 2,
    min_train: int = 1,
    min_holdout: int = 1,
    manifest: dict[str, Any] | None = None,
) -> SnapshotReport:
    """Run the suite on a snapshot's rows; ``manifest`` (the snapshot's) lets a failure say how much to add."""
    import great_expectations as gx

    batch_definition = _snapshot_batches()
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
        failure = _failure(check, data, item.result, min_examples_per_label, min_train)
        if check == "examples per label":
            failure.update(_too_few_examples(train, min_examples_per_label, manifest))
        failures.append(failure)
    if len(holdout) < min_holdout:
        failures.append(_small_holdout(len(holdout), min_holdout, manifest))
    return SnapshotReport(ok=not failures, train=len(train), holdout=len(holdout), failures=failures)


def _too_few_examples(train: list[dict[str, Any]], minimum: int, manifest: dict[str, Any] | None) -> dict[str, Any]:
    """Each label with too few training examples, and how many more it needs."""
    counts: dict[str, int] = {}
    for row in train:
        for code in row.get("labels") or []:
            counts[code] = counts.get(code, 0) + 1
    needs = {code: minimum - n for code, n in sorted(counts.items(), key=lambda kv: (kv[1], kv[0])) if n < minimum}
    named = [f"{code} (has {counts[code]}, needs {more} more)" for code, more in list(needs.items())[:LABELS_NAMED]]
    if len(needs) > LABELS_NAMED:
        named.append(f"and {len(needs) - LABELS_NAMED} more labels (all under needs)")
    share = (manifest or {}).get("holdout", {}).get("share")
    chance = f"; about 1 in {round(1 / share)} new problems is kept for the hold-out, not trained on" if share else ""
    reason = (
        f"{len(needs)} labels have fewer than {minimum} training examples: verify more problems labeled with each: "
        f"{', '.join(named)}{chance}; or lower training.min_examples_per_label"
    )
    return {"reason": reason, "needs": needs}


def _small_holdout(size: int, minimum: int, manifest: dict[str, Any] | None) -> dict[str, Any]:
    """Why the hold-out is too small to judge a challenger, and how many verified problems to add."""
    failure: dict[str, Any] = {"check": "hold-out size", "count": size, "examples": [], "needed": minimum}
    held = (manifest or {}).get("holdout", {})
    if not held.get("share") or manifest.get("verified") is None:
        failure["reason"] = (
            f"the hold-out has {size} problems, needs {minimum} to judge a challenger: verify more problems, "
            "or lower training.min_holdout"
        )
        return failure
    share, verified = held["share"], manifest["verified"]
    in_all = verified_needed(minimum, share)
    # New problems join the hold-out at the share's rate; the shortfall in all, if larger, covers unlucky hashes.
    add = max(math.ceil((minimum - size) / share), in_all - verified, 0)
    failure["add_verified"] = add
    enough = f"with holdout_share {share}, that is about {in_all} verified problems in all (there are {verified})"
    if held.get("frozen"):
        todo = f"verify about {add} more, then run" if add else "there are enough now: run"
        failure["reason"] = (
            f"the frozen hold-out v{held['version']} has {size} problems, needs {minimum} to judge a challenger: "
            f"{enough}; {todo} with new_holdout=true to freeze a bigger one, or lower training.min_holdout"
        )
    else:
        failure["reason"] = (
            f"the hold-out has {size} problems, needs {minimum} to judge a challenger: {enough}; verify about {add} "
            "more, or lower training.min_holdout / raise training.holdout_share"
        )
    return failure


def validate_and_freeze(
    objects: ObjectStore,
    snap: Snapshot,
    known_codes: set[str],
    *,
    min_examples_per_label: int = 2,
    min_holdout: int = 1,
) -> SnapshotReport:
    """Validate a snapshot; only when it passes, freeze its candidate hold-out (``report.holdout_key`` names the
    frozen one), so a failed run leaves no hold-out version behind."""
    report = validate_snapshot(
        read_jsonl(objects, snap.train_key),
        read_jsonl(objects, snap.holdout_key),
        known_codes,
        min_examples_per_label=min_examples_per_label,
        min_holdout=min_holdout,
        manifest=snap.manifest,
    )
    if report.ok:
        report.holdout_key = freeze_holdout(objects, snap)
    return report


def _failure(check: str, data, result: dict[str, Any], min_examples: int, min_train: int) -> dict[str, Any]:
    if check == "enough training problems":
        return {"check": check, "reason": f"{len(data)} training problems; at least {min_train} needed",
                "count": len(data), "examples": []}  # fmt: skip
    rows = data.loc[result.get("unexpected_index_list") or []]
    reason = {
        "non-empty text": "problems without text",
        "known codes": "labels not in the target curriculum: "
        + ", ".join(sorted({c for v in rows["unknown_labels"] for c in v.split(",") if c})),
        "examples per label": f"labels with fewer than {min_examples} training examples",  # detailed by the caller
        "no conflicting labels": "problems labeled two ways: " + "; ".join(sorted(set(rows["conflict"]))[:3]),
        "no leakage into the hold-out": "training problems also in the hold-out",
    }[check]
    return {"check": check, "reason": reason, "count": len(rows), "examples": list(rows["id"][:EXAMPLES])}
