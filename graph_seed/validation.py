"""Strict validation of a loaded curriculum: every problem found, each naming file, row and value."""

from __future__ import annotations

from graph_seed.codes import is_valid_code
from graph_seed.errors import CurriculumValidationError, SourceProblem
from graph_seed.models import Curriculum


def problems(curriculum: Curriculum) -> list[SourceProblem]:
    """Everything wrong with ``curriculum``: bad or duplicate codes, empty texts, edges to unknown codes."""
    found: list[SourceProblem] = []
    first: dict[str, tuple[str, int]] = {}
    for s in curriculum.standards:
        if not is_valid_code(s.code, curriculum.id):
            found.append(SourceProblem(s.file, s.row, s.code, f"code does not match the {curriculum.id} pattern"))
        elif s.code in first:
            where = first[s.code]
            found.append(SourceProblem(s.file, s.row, s.code, f"duplicate code (first at {where[0]}:{where[1]})"))
        else:
            first[s.code] = (s.file, s.row)
        if not s.text.strip():
            found.append(SourceProblem(s.file, s.row, s.code, "empty standard text"))
    for e in curriculum.edges:
        for code in (e.source_code, e.target_code):
            if code not in first:
                found.append(SourceProblem(e.file, e.row, code, f"{e.kind} edge to an unknown code"))
        if e.source_code == e.target_code:
            found.append(SourceProblem(e.file, e.row, e.source_code, f"{e.kind} edge from a standard to itself"))
    for t in curriculum.terms:
        if not t.name.strip():
            found.append(SourceProblem(t.file, t.row, t.name, "empty term"))
        for code in t.standards:
            if code not in first:
                found.append(SourceProblem(t.file, t.row, code, f"term {t.name!r} linked to an unknown code"))
    return found


def validate(curriculum: Curriculum) -> Curriculum:
    """Return ``curriculum`` unchanged, or raise CurriculumValidationError listing every problem."""
    found = problems(curriculum)
    if found:
        raise CurriculumValidationError(curriculum.id, found)
    return curriculum
