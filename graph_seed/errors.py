"""The one base exception of the graph_seed package."""

from __future__ import annotations

from dataclasses import dataclass


class GraphSeedError(Exception):
    """Seeding failed."""


@dataclass(frozen=True)
class SourceProblem:
    """One thing wrong with a source file, located precisely enough to fix it."""

    file: str
    row: int
    value: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.row}: {self.reason} ({self.value!r})"


class CurriculumValidationError(GraphSeedError):
    """A curriculum's source files are invalid; nothing of it was written."""

    def __init__(self, curriculum: str, problems: list[SourceProblem]) -> None:
        self.curriculum = curriculum
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"curriculum {curriculum}: {len(problems)} validation error(s):\n{lines}")
