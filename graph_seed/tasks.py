"""The steps of the curriculum_graph_seed DAG, as plain functions (the DAG's task bodies call these)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from graph_seed.errors import CurriculumValidationError, GraphSeedError
from graph_seed.loaders import load_curriculum
from graph_seed.seed import is_current, mark_seeded, verify, write
from graph_seed.sources import SHIPPED, materialize

log = logging.getLogger(__name__)


def _load_all(stores: Any, curricula: list[str], source: str) -> list:
    workdir = Path(tempfile.mkdtemp(prefix="curriculum-")) if source != SHIPPED else None
    try:
        root = materialize(stores.objects, source, workdir)
        loaded, errors = [], []
        for cid in curricula:
            try:
                loaded.append(load_curriculum(cid, root))
            except CurriculumValidationError as exc:
                errors.append(str(exc))
        if errors:
            raise GraphSeedError("validation failed; nothing was written:\n" + "\n".join(errors))
        return loaded
    finally:
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def validate_sources(stores: Any, curricula: list[str], source: str, force: bool = False) -> list[dict[str, Any]]:
    """Load and validate every requested curriculum; report which differ from what the graph holds."""
    plans = []
    for curriculum in _load_all(stores, curricula, source):
        changed = force or not is_current(stores.graph, curriculum)
        log.info("%s valid: %d standards, %d edges, changed=%s",
                 curriculum.version, len(curriculum.standards), len(curriculum.edges), changed)  # fmt: skip
        plans.append({"curriculum": curriculum.id, "version": curriculum.version, "changed": changed})
    return plans


def write_sources(stores: Any, plans: list[dict[str, Any]], source: str) -> list[str]:
    """Write the changed curricula (loaded again: XCom carries ids, not data). Returns their ids."""
    wanted = [p["curriculum"] for p in plans if p["changed"]]
    for curriculum in _load_all(stores, wanted, source):
        write(stores.graph, curriculum)
        log.info("wrote %s", curriculum.version)
    return wanted


def verify_sources(stores: Any, written: list[str], source: str) -> dict[str, str]:
    """Check the graph against each validated model, then record the source hashes; returns id → version."""
    versions = {}
    for curriculum in _load_all(stores, written, source):
        verify(stores.graph, curriculum)
        mark_seeded(stores.graph, curriculum)
        versions[curriculum.id] = curriculum.version
    return versions
