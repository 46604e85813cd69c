"""Where curriculum source files come from: the data shipped in ``graph_seed/data`` or the object store.

Sources: ``shipped`` (the project's own files), ``auto`` (per curriculum, the object store's ``curriculum/<id>/``
folder when it holds files, else the shipped files: what scheduled runs use), or any object-store prefix whose
``<id>/`` folders hold a curriculum's complete set of files.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from graph_seed import DATA_DIR
from graph_seed.errors import GraphSeedError
from stores.objects import ObjectStore, join

SHIPPED = "shipped"
AUTO = "auto"
DROP_PREFIX = "curriculum"


def root_for(objects: ObjectStore | None, source: str, curriculum_id: str, workdir: Path) -> Path:
    """The data root (the folder holding ``<curriculum_id>/``) to load ``curriculum_id`` from.

    Object-store files are copied under ``workdir`` with their paths relative to the prefix.
    """
    if source == SHIPPED:
        return DATA_DIR
    prefix = DROP_PREFIX if source == AUTO else source.strip("/")
    keys = objects.list(join(prefix, curriculum_id)) if objects is not None else []
    if not keys:
        if source == AUTO:
            return DATA_DIR
        where = objects.uri(join(prefix, curriculum_id)) if objects is not None else f"{prefix}/{curriculum_id}"
        raise GraphSeedError(f"{curriculum_id}: no source files under {where}")
    for key in keys:
        target = workdir / PurePosixPath(key).relative_to(prefix) if prefix else workdir / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(objects.read_bytes(key))
    return workdir
