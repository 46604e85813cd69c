"""The validated curriculum model every loader produces and the seeder writes.

Loaders fill these from source files and record where each item came from (``file``, ``row``), so that
``graph_seed.validation.validate`` can name the file, row and value of anything wrong.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

GroupKind = Literal["GradeBand", "Course"]
EdgeKind = Literal["PREREQUISITE_OF", "RELATED_TO"]
EdgeSource = Literal["official", "coherence-map", "heuristic", "sequence"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AchievementLevel(_Model):
    """성취수준: what a student at level A…E (or A…C) can do for one standard."""

    level: str
    text: str


class Standard(_Model):
    """One achievement standard with its place in the hierarchy."""

    code: str  # canonical spelling (graph_seed.codes.normalize_code)
    text: str  # validated non-empty by graph_seed.validation
    school_level: str  # 초등학교 / 중학교 / 고등학교 / elementary / middle / high
    group: str  # grade band (초1-2, 중1-3, Grade 4) or course (공통수학1)
    group_kind: GroupKind
    grade_group: str  # 초1-2 … 중1-3, 고공통, 고선택; K…8, HS
    domain: str  # 영역 (수와 연산) or a course's area (다항식) or a CCSS domain
    domain_order: int = 0
    content_element: str | None = None  # 내용 요소 group, or a CCSS cluster
    order: int = 0  # position inside its group
    explanation: str | None = None  # 성취기준 해설
    considerations: str | None = None  # 적용 시 고려 사항
    achievement_levels: list[AchievementLevel] = Field(default_factory=list)
    cluster_class: str | None = None  # us-ccss: major / supporting / additional
    flags: dict[str, bool] = Field(default_factory=dict)  # e.g. us-ccss widely_applicable_prerequisite
    file: str = ""
    row: int = 0


class Edge(_Model):
    """A directed edge between two standards of the same curriculum (RELATED_TO is stored once per pair)."""

    kind: EdgeKind
    source_code: str  # for PREREQUISITE_OF: the prerequisite
    target_code: str  # ... and the standard that builds on it
    source: EdgeSource
    confidence: float = Field(ge=0.0, le=1.0)
    note: str | None = None
    file: str = ""
    row: int = 0


class Term(_Model):
    """용어와 기호: a term or symbol introduced in a grade band."""

    name: str
    kind: str  # 용어 / 기호
    group: str  # the grade band that introduces it
    domain: str | None = None
    description: str | None = None
    standards: list[str] = Field(default_factory=list)  # codes whose text or explanation uses the term
    file: str = ""
    row: int = 0


class Curriculum(BaseModel):
    """A whole curriculum. Build it with a loader; it is only written after ``validate`` passes."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    source_hash: str
    standards: list[Standard]
    edges: list[Edge] = Field(default_factory=list)
    terms: list[Term] = Field(default_factory=list)
    core_ideas: dict[str, list[str]] = Field(default_factory=dict)  # 영역 name → 핵심 아이디어

    @property
    def version(self) -> str:
        """The graph version label documents record: ``<curriculum>@<hash prefix>``."""
        return f"{self.id}@{self.source_hash[:12]}"
