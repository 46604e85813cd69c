"""Where curriculum source files come from: the data shipped in ``graph_seed/data`` or an object-store prefix."""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath

from graph_seed import DATA_DIR
from graph_seed.errors import GraphSeedError
from stores.objects import ObjectStore

SHIPPED = "shipped"


def materialize(objects: ObjectStore | None, source: str, workdir: Path | None = None) -> Path:
    """The data root (the folder holding ``kr-2022/``, ``us-ccss/``…) for ``source``.

    ``shipped`` is the project's own data; anything else is an object-store prefix (e.g. ``curriculum/``) whose
    files are copied into ``workdir`` with their relative paths.
    """
    if source == SHIPPED:
        return DATA_DIR
    if objects is None:
        raise GraphSeedError(f"source {source!r} needs an object store")
    prefix = source.strip("/")
    keys = objects.list(prefix)
    if not keys:
        raise GraphSeedError(f"no curriculum files under {objects.uri(prefix) if prefix else 'the store root'}")
    root = Path(workdir or tempfile.mkdtemp(prefix="curriculum-"))
    for key in keys:
        relative = PurePosixPath(key).relative_to(prefix) if prefix else PurePosixPath(key)
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(objects.read_bytes(key))
    return root
