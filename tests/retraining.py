"""What the retraining tests share: MathCAMPS problems of six standards (real problems, not text we wrote) and a
model registry without text-labeler champions."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

CODES = ["4.MD.A.2", "3.MD.D.8", "5.NF.A.1", "3.NBT.A.2", "2.NBT.B.6", "6.EE.A.1"]
PER_CODE = 30


def mathcamps_problems() -> list[dict]:
    """``PER_CODE`` MathCAMPS training problems of each of ``CODES``, with their labels."""
    from mathlabel.config import PROJECT_ROOT

    rows = [json.loads(line) for line in (PROJECT_ROOT / "benchmarks/data/mathcamps_train.jsonl").open()]
    picked: list[dict] = []
    for code in CODES:
        picked += [r for r in rows if r["labels"] == [code]][:PER_CODE]
    return picked


@contextlib.contextmanager
def registry_without(settings, monkeypatch, aliases: tuple[str, ...]) -> Iterator:
    """The MLflow registry with none of the text labeler's ``aliases``, before and after; a small hold-out is enough
    for the tests (``training.min_holdout`` 5)."""
    from mathlabel.clients import model_registry
    from mathlabel.config import get_settings
    from training.registry import MODEL_NAME

    monkeypatch.setenv("MATHLABEL_TRAINING__MIN_HOLDOUT", "5")
    get_settings.cache_clear()
    models = model_registry(settings)

    def clear() -> None:
        for alias in aliases:
            if models.by_alias(MODEL_NAME, alias):
                models.delete_alias(MODEL_NAME, alias)

    clear()
    try:
        yield models
    finally:
        clear()
        monkeypatch.delenv("MATHLABEL_TRAINING__MIN_HOLDOUT")
        get_settings.cache_clear()
