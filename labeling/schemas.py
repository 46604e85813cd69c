"""Problem records (input) and label documents (output), as ARCHITECTURE.md's data contracts define them."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from graph_seed.codes import normalize_code

SCHOOLS = {
    "초등학교": "초등학교", "초": "초등학교", "elementary": "초등학교",
    "중학교": "중학교", "중": "중학교", "middle": "중학교",
    "고등학교": "고등학교", "고": "고등학교", "high": "고등학교",
}  # fmt: skip
MAX_GRADE = {"초등학교": 6, "중학교": 3, "고등학교": 3}
Status = Literal["auto_accepted", "needs_review", "verified", "rejected"]


class Problem(BaseModel):
    """One problem record from a JSONL line or CSV row. Unknown fields are kept out, not silently stored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = Field(min_length=1, max_length=200)
    text: str | None = None
    image: str | None = None
    school: str | None = None
    grade: int | None = None  # 0 = kindergarten (us-ccss "K"); its range is checked by labeling.validation
    course: str | None = None
    unit: str | None = None
    labels: list[str] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("text", "image", "school", "course", "unit", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("grade", mode="before")
    @classmethod
    def _grade_from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().removesuffix("학년")
            if value.upper() == "K":
                return 0
            return int(value) if value.isdigit() else (value or None)
        return value

    @field_validator("school")
    @classmethod
    def _known_school(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Unknown values stay as given: the validation suite reports them with the record.
        return SCHOOLS.get(value.lower(), value)

    @field_validator("labels", mode="before")
    @classmethod
    def _split_labels(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            value = [part for part in value.replace(";", ",").split(",") if part.strip()]
        return [normalize_code(code) for code in value]

    @model_validator(mode="after")
    def _grade_within_school(self) -> Problem:
        if self.school in MAX_GRADE and self.grade is not None and not 1 <= self.grade <= MAX_GRADE[self.school]:
            raise ValueError(f"grade {self.grade} does not exist in {self.school}")
        return self

    @property
    def metadata(self) -> dict[str, Any]:
        return {"school": self.school, "grade": self.grade, "course": self.course, "unit": self.unit}

    def content_hash(self, curriculum: str, image_sha: str | None = None) -> str:
        """Hash of everything that decides the label: re-labeling is skipped when it is unchanged. ``image_sha``
        is the hash of the image's bytes for a problem read off an image (its path alone says nothing)."""
        payload = {"text": self.text, "image": self.image, "metadata": self.metadata, "curriculum": curriculum}
        if image_sha:
            payload["image_sha"] = image_sha
        return hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()).hexdigest()

    def query_text(self) -> str:
        """What the retriever reads: the text, without the number it is printed under, plus the unit name the content
        team gave, if any."""
        return " ".join(part for part in (strip_problem_number(self.text or ""), self.unit) if part)

    def with_defaults(self, defaults: dict[str, Any]) -> Problem:
        """This problem with ``defaults`` (``metadata_defaults``) filling the metadata it does not give; as it is
        when the result would not be valid (a record's own school with a default grade that school lacks)."""
        update = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        if not update:
            return self
        try:
            return Problem.model_validate({**self.model_dump(), **update})
        except ValueError:
            return self


# A problem's printed number: "1. ", "12) ", "(2) ", "① ", "문제 3. ", "Q4: ". Not "1.5 L" (no space after the dot)
# nor a ratio "3 : 4".
_PROBLEM_NUMBER = re.compile(
    r"^\s*(?:(?:문제|문항)\s*)?(?:\d{1,3}[.)]\s+|\(\d{1,3}\)\s*|[①-⑳]\s*)|^\s*Q\d{1,3}[.:)]?\s+"
)


def strip_problem_number(text: str) -> str:
    """``text`` without the number a worksheet prints before a problem (the page reader removes it from pages)."""
    return _PROBLEM_NUMBER.sub("", text, count=1)


def metadata_defaults(school: str | None = None, grade: int | str | None = None, course: str | None = None) -> dict:
    """School, grade and course for the problems of a run that give none of their own (a page has none), checked.

    Raises:
        ValueError: an unknown school, or a grade outside 0-12 or outside the school's grades. A course is checked
            against the curriculum by the caller (``CurriculumIndex.courses``).
    """
    try:
        given = Problem(id="defaults", text="-", school=school, grade=grade, course=course)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = f"{error['loc'][0]} {error['input']!r}: " if error["loc"] else ""
        raise ValueError(f"metadata defaults: {field}{error['msg'].removeprefix('Value error, ')}") from exc
    if given.school is not None and given.school not in MAX_GRADE:
        raise ValueError(f"metadata defaults: unknown school {school!r} (use one of {', '.join(MAX_GRADE)})")
    if given.grade is not None and not 0 <= given.grade <= 12:
        raise ValueError(f"metadata defaults: grade {grade!r} is not 0 (K) to 12")
    found = {"school": given.school, "grade": given.grade, "course": given.course}
    return {k: v for k, v in found.items() if v is not None}


def problem_key(source: str | None, problem_id: str) -> str:
    """A problem's identity: ``<source>#<id>``, its id within the problem set ``source`` (the input's name in the
    drop folder), so two sets that reuse an id stay apart. The id alone without a source, and as it is when it
    already names its source (a page problem's ``<file>#p<page>-<k>``)."""
    if not source or problem_id.startswith(f"{source}#"):
        return problem_id
    return f"{source}#{problem_id}"


def stored_problem_key(doc: dict[str, Any]) -> str:
    """The ``problem_key`` of a stored label document; computed, as on loading, for one written before it had one."""
    return doc.get("problem_key") or problem_key(doc.get("batch_id"), doc["problem_id"])


def safe_run_id(run_id: str) -> str:
    """A run id usable as one folder name in any object store (no ':' or '+'), as label documents store it."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def label_doc_id(key: str, model_version: str) -> str:
    """The natural key of a label document: one per (problem key, labeling model version)."""
    return f"{key}@{model_version}"


# ------------------------------------------------------------------------------------------- label documents

METADATA = ("school", "grade", "course", "unit")


class StoredModel(BaseModel):
    """A part of a label document: fields it does not name are kept, so documents of other versions load and are
    written back whole."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class CandidateDoc(StoredModel):
    """A ranked standard as a label document keeps it: ``Candidate.to_doc`` plus its graph context."""

    code: str
    score: float
    curriculum: str | None = None
    text: str | None = None
    breadcrumbs: list[str] = Field(default_factory=list)
    prerequisites: list[str] = Field(default_factory=list)
    related: list[str] = Field(default_factory=list)
    via: str | None = None  # a graph neighbour of a ranked candidate: how it was reached


class LabeledInput(StoredModel):
    """What was labeled: the text, and for a problem read off an image its OCR output, regions and page."""

    text: str | None = None
    image: str | None = None
    ocr: dict[str, Any] | None = None
    regions: list[dict[str, Any]] = Field(default_factory=list)
    page: dict[str, Any] | None = None


class Decision(StoredModel):
    """Who or what decided the label, and why; ``reason_kinds`` names the kind of each reason (review queue)."""

    status: Status
    reasons: list[str] = Field(default_factory=list)
    reason_kinds: list[str] = Field(default_factory=list)


class Verification(StoredModel):
    """A reviewer's confirmation of a problem's labels: who, when, from where, and what they looked at."""

    by: str = Field(min_length=1, max_length=200)
    at: datetime
    source_uri: str | None = None
    record: int | None = None
    based_on: str | None = None  # the label document the reviewer saw
    note: str | None = Field(default=None, max_length=2000)


class LabelDocument(StoredModel):
    """One label document, the same shape for a machine label and a verification (ARCHITECTURE.md's contract).

    A machine label has ``model_version``, run and batch ids, candidates and the labeler's decision; a verification
    has ``verification``, the decision ``verified`` and ``current`` (False once a later verification of the problem
    supersedes it). ``problem_key`` is the problem's identity (``problem_key``; computed on loading when a document
    of an older version lacks it), ``problem_id`` the record's own id. ``margin`` is how far the chosen candidate's
    score is ahead of the next one's (the review queue's uncertainty; computed on loading too). ``to_doc`` gives the
    stored dict with the fields that were set, so a document loads and is written back as it was.
    """

    id: str = Field(alias="_id", min_length=1)
    problem_id: str = Field(min_length=1, max_length=400)  # the record's own id, as its problem set gives it
    problem_key: str | None = None  # the problem's identity (``problem_key``); set on loading an older document
    curriculum: str | None = None
    content_hash: str | None = None
    input: LabeledInput = Field(default_factory=LabeledInput)
    metadata: dict[str, Any] = Field(default_factory=dict)
    candidates: list[CandidateDoc] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list)
    provided_labels: list[str] = Field(default_factory=list)
    decision: Decision
    margin: float | None = None
    # a machine label
    model_version: str | None = None
    batch_id: str | None = None
    run_id: str | None = None
    source_uri: str | None = None
    record: int | None = None
    llm: dict[str, Any] | None = None
    model_versions: dict[str, Any] | None = None
    graph_version: str | None = None
    # a verification
    verification: Verification | None = None
    current: bool | None = None
    superseded_by: str | None = None
    superseded_at: datetime | None = None
    # the store's
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @model_validator(mode="before")
    @classmethod
    def _older_shapes(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        given = data.get("input") or {}
        if "metadata" not in data and any(k in given for k in METADATA):  # verifications kept it in ``input``
            data["metadata"] = {k: given.get(k) for k in METADATA}
        if not data.get("problem_key") and data.get("problem_id"):
            data["problem_key"] = problem_key(data.get("batch_id"), data["problem_id"])
        if "margin" not in data and data.get("candidates"):
            data["margin"] = score_margin([c.get("score") or 0.0 for c in data["candidates"]])
        return data

    @property
    def source(self) -> Literal["text", "page"]:
        """``page`` for a problem read off an image (a page or an image record), else ``text``."""
        return "page" if self.input.page else "text"

    def to_doc(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_unset=True)


def score_margin(scores: list[float]) -> float:
    """How far the first score is ahead of the second (of 0 when alone; 0 without any): small is uncertain."""
    if not scores:
        return 0.0
    return round(float(scores[0]) - float(scores[1] if len(scores) > 1 else 0.0), 4)
