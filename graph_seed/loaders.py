"""Loaders: source files in, one validated ``Curriculum`` out, or an error naming file, row and value."""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Callable
from pathlib import Path

from graph_seed import DATA_DIR
from graph_seed.codes import is_valid_code, normalize_code
from graph_seed.errors import CurriculumValidationError, GraphSeedError, SourceProblem
from graph_seed.models import Curriculum, Standard

_AREA_NUMBER = re.compile(r"^\((\d+)\)\s*")


def files_hash(paths: list[Path]) -> str:
    """SHA-256 over the names and bytes of the source files, in a stable order."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_kr2022(data_dir: Path = DATA_DIR / "kr-2022") -> Curriculum:
    """Load the 2022 revised curriculum's 435 standards from ``standards_k12_combined.csv``.

    Raises:
        CurriculumValidationError: listing every bad row (duplicate or malformed code, empty text).
    """
    source = data_dir / "standards_k12_combined.csv"
    if not source.is_file():
        raise GraphSeedError(f"kr-2022 source file missing: {source}")
    problems: list[SourceProblem] = []
    standards: list[Standard] = []
    seen: dict[str, int] = {}
    order_in_group: dict[str, int] = {}
    with source.open(encoding="utf-8-sig", newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=2):
            raw_code = (row.get("code") or "").strip()
            code = normalize_code(raw_code, "kr-2022")
            text = (row.get("content") or "").strip()
            where = (source.name, row_number)
            if not is_valid_code(code, "kr-2022"):
                problems.append(SourceProblem(*where, raw_code, "code does not match the kr-2022 pattern"))
                continue
            if code in seen:
                problems.append(SourceProblem(*where, raw_code, f"duplicate code (first on row {seen[code]})"))
                continue
            if not text:
                problems.append(SourceProblem(*where, raw_code, "empty standard text"))
                continue
            seen[code] = row_number
            grade_group = row["grade_group"].strip()
            is_course = row["school_level"].strip() == "고등학교"
            group = row["subject"].strip() if is_course else grade_group
            area = row["area"].strip()
            match = _AREA_NUMBER.match(area)
            order_in_group[group] = order_in_group.get(group, 0) + 1
            standards.append(
                Standard(
                    code=code,
                    text=text,
                    school_level=row["school_level"].strip(),
                    group=group,
                    group_kind="Course" if is_course else "GradeBand",
                    grade_group=grade_group,
                    domain=_AREA_NUMBER.sub("", area),
                    domain_order=int(match.group(1)) if match else 0,
                    content_element=(row.get("content_element") or "").strip() or None,
                    order=order_in_group[group],
                )
            )
    if problems:
        raise CurriculumValidationError("kr-2022", problems)
    return Curriculum(
        id="kr-2022",
        name="2022 개정 수학과 교육과정 (교육부 고시 제2022-33호 [별책 8])",
        source_hash=files_hash([source]),
        standards=standards,
    )


LOADERS: dict[str, Callable[[], Curriculum]] = {"kr-2022": load_kr2022}


def load_curriculum(curriculum_id: str) -> Curriculum:
    """Load one shipped curriculum by id."""
    try:
        loader = LOADERS[curriculum_id]
    except KeyError:
        raise GraphSeedError(f"unknown curriculum {curriculum_id!r}; known: {', '.join(sorted(LOADERS))}") from None
    return loader()
