"""Loaders: source files in, one validated ``Curriculum`` out, or an error naming file, row and value.

Each loader takes ``data_root``, the folder that contains ``kr-2022/``, ``kr-2015/`` and ``us-ccss/`` (the package's
``graph_seed/data`` by default, or a copy downloaded from the object store), reads only its own files, hashes them all
into ``source_hash``, and returns ``graph_seed.validation.validate(curriculum)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from graph_seed import DATA_DIR
from graph_seed.errors import GraphSeedError
from graph_seed.loaders.common import files_hash
from graph_seed.loaders.kr2015 import load_kr2015
from graph_seed.loaders.kr2022 import load_kr2022
from graph_seed.loaders.us_ccss import load_us_ccss
from graph_seed.models import Curriculum

LOADERS: dict[str, Callable[[Path], Curriculum]] = {
    "kr-2022": load_kr2022,
    "kr-2015": load_kr2015,
    "us-ccss": load_us_ccss,
}


def load_curriculum(curriculum_id: str, data_root: Path = DATA_DIR) -> Curriculum:
    """Load one curriculum by id from ``data_root``.

    Raises:
        GraphSeedError: the id is unknown (the message lists the known ones), or a loader failed.
    """
    try:
        loader = LOADERS[curriculum_id]
    except KeyError:
        raise GraphSeedError(f"unknown curriculum {curriculum_id!r}; known: {', '.join(sorted(LOADERS))}") from None
    return loader(data_root)


__all__ = ["LOADERS", "files_hash", "load_curriculum", "load_kr2015", "load_kr2022", "load_us_ccss"]
