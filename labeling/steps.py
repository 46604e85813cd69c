"""What the steps of a labeling run hand each other: the run's config, the chunk files, and each step's result."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from labeling.index import curriculum_id
from labeling.intake import Filing
from labeling.schemas import Problem
from stores.objects import ObjectStore, join


@dataclass
class BatchConfig:
    run_id: str
    run_date: str  # YYYY-MM-DD, names the processed/ and quarantine/ folders
    curriculum: str  # normalised on construction: `kr`, `kr-2022,kr-2015` and ` kr-2015, kr-2022` are one id
    model_version: str  # the cold start's (labeling.model_version): a run's labeler carries its own
    top_k: int
    auto_accept_score: float
    max_text_chars: int
    chunk_size: int = 500
    force: bool = False
    pages_per_chunk: int = 8
    min_ocr_confidence: float = 0.8
    defaults: dict[str, Any] = field(default_factory=dict)  # school/grade/course for problems that give none

    def __post_init__(self) -> None:
        # The content hash and the stored document both carry it: one spelling, or a re-run labels everything again.
        self.curriculum = curriculum_id(self.curriculum)

    @property
    def processing(self) -> str:
        return join("processing", self.run_id)

    def chunk_prefix(self, name: str) -> str:
        return join(self.processing, "chunks", name)

    def filing(self, objects: ObjectStore) -> Filing:
        return Filing(objects, self.run_id, self.run_date)


@dataclass
class Prepared:
    """A claimed file after validation: where its chunks are, or why it was quarantined."""

    name: str
    key: str
    status: str  # prepared | quarantined | asset (an image a record file of the run names; filed with that file)
    read: int = 0
    quarantined: int = 0
    chunks: list[str] = field(default_factory=list)
    destination: str = ""
    error: str | None = None
    error_key: str | None = None
    seconds: float = 0.0
    pages: int = 0
    owner: str = ""  # for an asset: the record file that names it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ChunkResult:
    chunk: str
    file: str
    labeled: int = 0
    skipped: int = 0
    with_provided_labels: int = 0
    top1_agreements: int = 0
    needs_review: int = 0
    auto_accepted: int = 0
    top_scores: list[float] = field(default_factory=list)
    ocr_confidences: list[float] = field(default_factory=list)  # of the problems read off images in this chunk
    model_version: str = ""
    curriculum: str = ""
    seconds: float = 0.0
    pages: int = 0  # pages read (layout + OCR) in this chunk
    ocr_seconds: float = 0.0
    quarantined: int = 0  # pages or image records nothing could be read from
    error_key: str | None = None
    # For the report, at most LISTED_PER_CHUNK of each (XCom carries small data); the counts above cover the rest.
    review: list[dict[str, Any]] = field(default_factory=list)  # problems that need review: why, and the candidates
    disagreements: list[dict[str, Any]] = field(default_factory=list)  # provided labels that the chosen one is not

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Item:
    """A problem ready to rank: from a text record, an image record (OCR'd) or a page (one of its problems)."""

    record: int
    problem: Problem
    content_hash: str
    vision: dict[str, Any] | None = None


def quarantine(filing: Filing, key: str, name: str, reason: str) -> Prepared:
    """Quarantine a whole claimed input with its reason: the prepare step's result for it."""
    destination, error_key = filing.quarantine(key, name, reason)
    return Prepared(name=name, key=key, status="quarantined", destination=destination, error=reason,
                    error_key=error_key)  # fmt: skip


def check_course(
    metadata: dict[str, Any], courses: set[str], curriculum: str, where: str = "metadata defaults"
) -> None:
    """A course given for problems (``metadata_defaults``' result) must be one of the target curricula's
    (``CurriculumIndex.courses``), or every standard would be weighed as off-band. Raises ``ValueError``."""
    course = metadata.get("course")
    if course is not None and course not in courses:
        raise ValueError(f"{where}: course {course!r} is not in {curriculum} (one of {', '.join(sorted(courses))})")


def write_chunks(objects: ObjectStore, prefix: str, rows: list[dict[str, Any]], size: int) -> list[str]:
    """Write the rows a label task takes, ``size`` to a chunk file under ``prefix``; returns their keys."""
    chunks = []
    for number, start in enumerate(range(0, len(rows), size)):
        body = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows[start : start + size])
        chunk = join(prefix, f"{number:05d}.jsonl")
        objects.write_bytes(chunk, body.encode())
        chunks.append(chunk)
    return chunks
