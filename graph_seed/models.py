"""The validated curriculum model every loader produces and the seeder writes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Standard(BaseModel):
    """One achievement standard with its place in the hierarchy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(min_length=1)
    text: str = Field(min_length=1)
    school_level: str  # 초등학교 / 중학교 / 고등학교
    group: str  # grade band (초1-2, 중1-3) or high-school course (공통수학1)
    group_kind: str  # "GradeBand" or "Course"
    grade_group: str  # 초1-2 … 중1-3, 고공통, 고선택
    domain: str  # 영역, e.g. 수와 연산, or a course's area, e.g. 다항식
    domain_order: int
    content_element: str | None = None  # 내용 요소 group, when the source gives one
    order: int


class Curriculum(BaseModel):
    """A whole curriculum, validated: unique codes, every code matching its pattern, no empty text."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    source_hash: str
    standards: list[Standard]

    @property
    def version(self) -> str:
        """The graph version label documents record: ``<curriculum>@<hash prefix>``."""
        return f"{self.id}@{self.source_hash[:12]}"
