"""The steps of nightly retraining after the snapshot: train, evaluate on the frozen hold-out, decide, register.

``python -m training.nightly train --snapshot <prefix> --curriculum <id>`` is the training entry point: the DAG runs it
as a local subprocess (compute ``local``) or on the GPU instance through SSM Run Command (compute ``ec2``), with the
same ``MATHLABEL_*`` settings. It logs the model, its parameters and metrics to an MLflow run, keeps the model file
under ``models/text-labeler/<snapshot>/`` in the object store, and writes a small result file there that the DAG reads.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from posixpath import join
from typing import Any

from labeling.evaluate import evaluate
from labeling.index import CurriculumIndex
from labeling.schemas import Problem
from stores.objects import ObjectStore
from training.snapshot import problems, read_jsonl

log = logging.getLogger(__name__)

MODELS = "models/text-labeler"


def result_key(snapshot_prefix: str) -> str:
    return join(MODELS, snapshot_prefix.rstrip("/").rsplit("/", 1)[-1], "result.json")


def train_from_snapshot(objects: ObjectStore, index: CurriculumIndex, snapshot_prefix: str, tracking_uri: str) -> dict:
    """Train the text labeler on a snapshot, log it to MLflow (not yet registered) and write the result file."""
    import tempfile
    from pathlib import Path

    import joblib

    from training.registry import log_text_labeler
    from training.text_labeler import train_text_labeler

    manifest = json.loads(objects.read_bytes(join(snapshot_prefix, "manifest.json")))
    rows = read_jsonl(objects, join(snapshot_prefix, "train.jsonl"))
    started = time.perf_counter()
    model = train_text_labeler(problems(rows), index.standards)
    seconds = round(time.perf_counter() - started, 2)
    ref = log_text_labeler(
        model,
        curricula=index.curricula,
        metrics={"snapshot_problems": len(rows)},
        tracking_uri=tracking_uri,
        register=False,
        tags={"snapshot": snapshot_prefix, "snapshot_sha256": manifest["train"]["sha256"]},
    )
    folder = join(MODELS, snapshot_prefix.rstrip("/").rsplit("/", 1)[-1])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "text_labeler.joblib"
        joblib.dump(model, path)
        objects.write_bytes(join(folder, "text_labeler.joblib"), path.read_bytes())
    result = {
        "run_id": ref.tags["run_id"],
        "model_uri": f"runs:/{ref.tags['run_id']}/model",
        "object_key": join(folder, "text_labeler.joblib"),
        "snapshot": snapshot_prefix,
        "examples": model.meta["examples"],
        "train_seconds": seconds,
    }
    objects.write_bytes(result_key(snapshot_prefix), json.dumps(result, indent=2).encode())
    log.info("trained the text labeler on %d problems in %.1fs (MLflow run %s)", len(rows), seconds, result["run_id"])
    return result


def holdout_metrics(labeler: Any, index: CurriculumIndex, rows: list[dict[str, Any]], auto_accept_score: float) -> dict:
    """Overall metrics on the hold-out, and top-1/top-3 per curriculum of the gold labels (one ranking for both)."""

    def curricula(problem: Problem) -> set[str]:
        return {index.by_code[c]["curriculum"] for c in problem.labels if c in index.by_code}

    scores = evaluate(labeler, problems(rows), auto_accept_score=auto_accept_score, standards=index.by_code,
                      groups=curricula)  # fmt: skip
    scores.pop("problems_per_second", None)
    return {**scores, "per_curriculum": scores.pop("per_group")}


@dataclass
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide(challenger: dict[str, Any], champion: dict[str, Any] | None, *, margin: float) -> Decision:
    """Promote when there is no champion yet, or when the challenger beats it by ``margin`` top-1 on the hold-out
    and is not below it on any curriculum."""
    if champion is None:
        return Decision(True, ["no champion yet: the first model becomes champion"])
    reasons = []
    gain = challenger["top1"] - champion["top1"]
    if gain < margin:
        reasons.append(f"top-1 {challenger['top1']:.4f} vs champion {champion['top1']:.4f}: gain {gain:+.4f} "
                       f"is below the margin {margin:.4f}")  # fmt: skip
    for cid, theirs in champion.get("per_curriculum", {}).items():
        ours = challenger.get("per_curriculum", {}).get(cid)
        if ours is None or ours["top1"] < theirs["top1"]:
            reasons.append(f"{cid}: top-1 {ours['top1'] if ours else 'n/a'} is below the champion's {theirs['top1']}")
    if reasons:
        return Decision(False, reasons)
    return Decision(True, [f"top-1 {challenger['top1']:.4f} beats the champion's {champion['top1']:.4f} by "
                           f"{gain:+.4f} (margin {margin:.4f}), and no curriculum is worse"])  # fmt: skip


def comparison_markdown(challenger: dict[str, Any], champion: dict[str, Any] | None, decision: Decision) -> str:
    """What the approver sees in the Airflow UI."""
    rows = ["| metric | challenger | champion |", "|---|---|---|"]
    for key in ("n", "top1", "top3", "top10", "mrr", "auto_accepted_rate", "auto_accepted_top1"):
        rows.append(f"| {key} | {challenger.get(key)} | {champion.get(key) if champion else '—'} |")
    for cid, ours in sorted(challenger.get("per_curriculum", {}).items()):
        theirs = (champion or {}).get("per_curriculum", {}).get(cid, {})
        rows.append(f"| top-1 {cid} | {ours['top1']} | {theirs.get('top1', '—')} |")
    verdict = "meets" if decision.promote else "does not meet"
    return "\n".join([f"The challenger {verdict} the promotion policy:", *[f"- {r}" for r in decision.reasons], "",
                      *rows])  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    import argparse

    from mathlabel.clients import build_stores
    from mathlabel.config import get_settings

    parser = argparse.ArgumentParser(prog="python -m training.nightly", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train the text labeler on a snapshot")
    train.add_argument("--snapshot", required=True, help="snapshot folder in the object store")
    train.add_argument("--curriculum", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = get_settings()
    stores = build_stores(settings)
    index = CurriculumIndex(stores.graph, args.curriculum)
    result = train_from_snapshot(stores.objects, index, args.snapshot, settings.mlflow_tracking_uri)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
