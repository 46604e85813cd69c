"""When a newly trained model becomes the champion: one decision type for the text labeler and the layout detector."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from stores.registry import ModelRef, ModelRegistry

CHAMPION = "champion"
# Between curriculum ids in a champion alias: MLflow allows only letters, digits, "_" and "-" in alias names, and the
# ids themselves hold single dashes (kr-2022), so "--" keeps the alias readable and the ids apart.
_ALIAS_SEPARATOR = "--"
_ALIAS_NAME = re.compile(r"^[\w\-]+$")


def champion_alias(curricula: list[str], base: str = CHAMPION) -> str:
    """The alias of the text labeler's champion for exactly these curricula, in the order given (the model's
    ``curricula`` tag order): ``champion-kr-2022``, ``champion-kr-2022--kr-2015``.

    Raises:
        ValueError: no curricula, or an id MLflow would refuse in an alias name.
    """
    if not curricula:
        raise ValueError("a champion alias needs at least one curriculum")
    alias = f"{base}-{_ALIAS_SEPARATOR.join(curricula)}"
    if not _ALIAS_NAME.match(alias) or any(not c or _ALIAS_SEPARATOR in c for c in curricula):
        raise ValueError(f"curricula {curricula!r} cannot name an MLflow alias (letters, digits, '_', single '-')")
    return alias


@dataclass
class Decision:
    promote: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def decide_text_labeler(challenger: dict[str, Any], champion: dict[str, Any] | None, *, margin: float) -> Decision:
    """Promote when there is no champion yet, or when the challenger beats it by ``margin`` top-1 on the hold-out
    and is not below it on any curriculum (both scored on the same frozen hold-out)."""
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


def decide_layout_detector(result: dict[str, Any], champion: ModelRef | None, *, margin: float) -> Decision:
    """Whether a newly trained detector (``train_layout_detector``'s result) should replace ``champion``, by
    validation mAP50; only validation on the same dataset version is comparable."""
    ours = float(result["metrics"].get("mAP50", 0.0))
    if champion is None:
        return Decision(True, [f"no champion yet; mAP50 {ours:.3f}"])
    if champion.tags.get("dataset_version") != result["dataset_version"]:
        return Decision(False, [
            f"champion v{champion.version} was validated on dataset {champion.tags.get('dataset_version')!r}, this "
            f"one on {result['dataset_version']!r}: not comparable; promote by hand if wanted"
        ])  # fmt: skip
    theirs = float(champion.tags.get("mAP50") or 0.0)
    verb = "beats" if ours > theirs + margin else "does not beat"
    return Decision(ours > theirs + margin, [
        f"mAP50 {ours:.3f} {verb} champion v{champion.version}'s {theirs:.3f} by more than {margin:g}"
    ])  # fmt: skip


def make_champion(
    registry: ModelRegistry, name: str, version: str, curricula: list[str] | None = None, base: str = CHAMPION
) -> str:
    """Point the champion alias at ``version`` and return the alias: the champion of ``curricula`` (the text labeler,
    one champion per curricula set), or the one ``base`` (the layout detector, which reads every curriculum)."""
    alias = champion_alias(curricula, base) if curricula else base
    registry.set_alias(name, alias, version)
    return alias


def promote_if_better(registry: ModelRegistry, name: str, result: dict[str, Any], margin: float) -> Decision:
    """Make the layout detector version ``result`` registered the champion when ``decide_layout_detector`` says so
    against the current champion (none: it is promoted)."""
    decision = decide_layout_detector(result, registry.by_alias(name, CHAMPION), margin=margin)
    if decision.promote:
        make_champion(registry, name, result["registered_version"])
    return decision


def comparison_markdown(challenger: dict[str, Any], champion: dict[str, Any] | None, decision: Decision) -> str:
    """What the approver of a text labeler sees in the Airflow UI."""
    rows = ["| metric | challenger | champion |", "|---|---|---|"]
    for key in ("n", "top1", "top3", "top10", "mrr", "auto_accepted_rate", "auto_accepted_top1"):
        rows.append(f"| {key} | {challenger.get(key)} | {champion.get(key) if champion else '—'} |")
    for cid, ours in sorted(challenger.get("per_curriculum", {}).items()):
        theirs = (champion or {}).get("per_curriculum", {}).get(cid, {})
        rows.append(f"| top-1 {cid} | {ours['top1']} | {theirs.get('top1', '—')} |")
    verdict = "meets" if decision.promote else "does not meet"
    return "\n".join([f"The challenger {verdict} the promotion policy:", *[f"- {r}" for r in decision.reasons], "",
                      *rows])  # fmt: skip
