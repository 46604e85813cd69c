"""What every loader shares: reading source files with their row numbers, hashing them, finishing with validation."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph_seed.errors import CurriculumValidationError, GraphSeedError, SourceProblem
from graph_seed.models import Curriculum
from graph_seed.validation import problems, validate


def files_hash(paths: list[Path]) -> str:
    """SHA-256 over the relative names and bytes of the source files, in a stable order.

    Names are taken relative to the files' common folder, so the same files hash alike wherever they lie
    (the package's data folder, or a copy downloaded from the object store).
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise GraphSeedError("files_hash needs at least one file")
    root = Path(os.path.commonpath([p.parent for p in paths]))
    digest = hashlib.sha256()
    for name, path in sorted((p.relative_to(root).as_posix(), p) for p in paths):
        data = path.read_bytes()
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class Row:
    """One CSV record: its values (stripped, '' when absent) and where it came from."""

    file: str  # relative to the data root, e.g. "kr-2022/standards_k12_combined.csv"
    row: int  # 1-based line number of the record's first line; the header is line 1
    values: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")

    def problem(self, value: str, reason: str) -> SourceProblem:
        return SourceProblem(self.file, self.row, value, reason)


@dataclass
class Sources:
    """The files one loader reads under ``data_root``; remembers them all for ``files_hash``."""

    curriculum: str
    data_root: Path
    read: list[Path] = field(default_factory=list)

    def path(self, relative: str) -> Path:
        path = self.data_root / relative
        if not path.is_file():
            raise GraphSeedError(f"{self.curriculum}: source file missing: {relative} (under {self.data_root})")
        self.read.append(path)
        return path

    def csv(self, relative: str, required: list[str]) -> list[Row]:
        """Rows of a UTF-8 CSV file (a BOM is allowed); raises GraphSeedError naming missing columns."""
        path = self.path(relative)
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = [name.strip() for name in next(reader, [])]
            missing = [name for name in required if name not in header]
            if missing:
                raise GraphSeedError(
                    f"{self.curriculum}: {relative}: missing required column(s): {', '.join(missing)}"
                    f" (found: {', '.join(header) or 'no header'})"
                )
            rows: list[Row] = []
            line = reader.line_num
            for record in reader:
                start, line = line + 1, reader.line_num
                if not any(value.strip() for value in record):
                    continue
                values = {name: (record[i].strip() if i < len(record) else "") for i, name in enumerate(header)}
                rows.append(Row(relative, start, values))
        return rows

    def json(self, relative: str, required: list[str]) -> dict[str, Any]:
        """A JSON object; raises GraphSeedError when it does not parse or lacks a required key."""
        path = self.path(relative)
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise GraphSeedError(f"{self.curriculum}: {relative}: not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise GraphSeedError(f"{self.curriculum}: {relative}: expected a JSON object")
        missing = [key for key in required if key not in data]
        if missing:
            raise GraphSeedError(f"{self.curriculum}: {relative}: missing required key(s): {', '.join(missing)}")
        return data

    def hash(self) -> str:
        return files_hash(self.read)


def finish(curriculum: Curriculum, found: list[SourceProblem]) -> Curriculum:
    """Validate ``curriculum``; problems the loader found in its side files are reported first, with the rest."""
    if found:
        raise CurriculumValidationError(curriculum.id, found + problems(curriculum))
    return validate(curriculum)
