"""The steps of the curriculum_graph_seed DAG, as plain functions (the DAG's task bodies call these)."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from graph_seed.errors import GraphSeedError
from graph_seed.loaders import load_curriculum
from graph_seed.models import Curriculum
from graph_seed.seed import is_current, mark_seeded, verify, write
from graph_seed.sources import root_for

log = logging.getLogger(__name__)


def load_sources(objects: Any, curricula: list[str], source: str) -> list[Curriculum]:
    """Load and validate each curriculum from ``source``; raise one GraphSeedError listing every failure."""
    workdir = Path(tempfile.mkdtemp(prefix="curriculum-"))
    try:
        loaded, errors = [], []
        for cid in curricula:
            try:
                loaded.append(load_curriculum(cid, root_for(objects, source, cid, workdir / cid)))
            except GraphSeedError as exc:
                errors.append(str(exc))
        if errors:
            raise GraphSeedError("validation failed; nothing was written:\n" + "\n".join(errors))
        return loaded
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def validate_sources(stores: Any, curricula: list[str], source: str, force: bool = False) -> list[dict[str, Any]]:
    """Load and validate every requested curriculum; report which differ from what the graph holds."""
    plans = []
    for curriculum in load_sources(stores.objects, curricula, source):
        changed = force or not is_current(stores.graph, curriculum)
        log.info("%s valid: %d standards, %d edges, changed=%s",
                 curriculum.version, len(curriculum.standards), len(curriculum.edges), changed)  # fmt: skip
        plans.append({"curriculum": curriculum.id, "version": curriculum.version, "changed": changed})
    return plans


def write_sources(stores: Any, plans: list[dict[str, Any]], source: str) -> list[str]:
    """Write the changed curricula (loaded again: XCom carries ids, not data). Returns their ids."""
    wanted = [p["curriculum"] for p in plans if p["changed"]]
    for curriculum in load_sources(stores.objects, wanted, source):
        write(stores.graph, curriculum)
        log.info("wrote %s", curriculum.version)
    return wanted


def verify_sources(stores: Any, written: list[str], source: str) -> dict[str, str]:
    """Check the graph against each validated model, then record the source hashes; returns id → version."""
    versions = {}
    for curriculum in load_sources(stores.objects, written, source):
        verify(stores.graph, curriculum)
        mark_seeded(stores.graph, curriculum)
        versions[curriculum.id] = curriculum.version
    return versions
