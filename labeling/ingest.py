"""Reading drop-folder files into problem records, separating good records from bad ones.

A file-level failure (unknown type, undecodable bytes, no header, no records) raises ``IngestError``; a bad
record becomes a ``RejectedRecord`` and never takes the good records beside it down.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from pydantic import ValidationError

from labeling.errors import IngestError
from labeling.schemas import Problem

SUPPORTED = (".jsonl", ".csv")


@dataclass
class RejectedRecord:
    record: int  # 1-based line (JSONL) or row (CSV, header is row 1) number
    id: str | None
    reason: str
    raw: str

    def to_doc(self) -> dict[str, Any]:
        return {"record": self.record, "id": self.id, "reason": self.reason}


@dataclass
class ParsedFile:
    name: str
    problems: list[tuple[int, Problem]] = field(default_factory=list)
    rejected: list[RejectedRecord] = field(default_factory=list)
    raw: dict[int, str] = field(default_factory=dict)  # record number → its original line, for quarantine
    # record number → the problem set a record says it comes from (its optional ``source`` field; verified labels)
    sources: dict[int, str] = field(default_factory=dict)
    # record number → the curriculum a record says its labels are standards of (its optional ``curriculum`` field)
    curricula: dict[int, str] = field(default_factory=dict)

    @property
    def read(self) -> int:
        return len(self.problems) + len(self.rejected)

    def reject(self, failures: dict[int, list[str]]) -> None:
        """Move the problems at these positions (of ``problems``) to ``rejected`` with their reasons."""
        kept = []
        for position, (record, problem) in enumerate(self.problems):
            if position in failures:
                reason = "; ".join(failures[position])
                self.rejected.append(RejectedRecord(record, problem.id, reason, self.raw.get(record, "")))
            else:
                kept.append((record, problem))
        self.problems = kept
        self.rejected.sort(key=lambda r: r.record)


def _explain(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "record"
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def _decode(name: str, data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp949"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise IngestError(f"{name}: not valid UTF-8 or CP949 text")


def jsonl_lines(text: str) -> list[str]:
    """The lines of JSONL text, split on "\\n" only (a "\\r" before it dropped), as JSON Lines says.

    Not ``str.splitlines``: it also splits on \\x0b, \\x0c, \\x1c-\\x1e, U+0085, U+2028 and U+2029, and the last three
    may stand unescaped in a JSON string (``json.dumps(..., ensure_ascii=False)`` writes them so).
    """
    lines = text.split("\n")
    if lines[-1] == "":  # the newline that ends the last line starts no line of its own
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _jsonl_records(name: str, text: str) -> list[tuple[int, Any, str]]:
    records = []
    for number, line in enumerate(jsonl_lines(text), start=1):
        if not line.strip():
            continue
        try:
            records.append((number, json.loads(line), line))
        except json.JSONDecodeError as exc:
            records.append((number, exc, line))
    return records


def _csv_records(name: str, text: str) -> list[tuple[int, Any, str]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "id" not in [f.strip() for f in reader.fieldnames]:
        raise IngestError(f"{name}: CSV header must name an 'id' column (found {reader.fieldnames})")
    records = []
    for row in reader:
        number = reader.line_num
        clean = {(k or "").strip(): v for k, v in row.items() if k is not None}
        if None in row:  # more cells than header columns
            clean["__extra__"] = row[None]
        records.append((number, clean, ",".join(str(v) for v in row.values())))
    return records


def parse_file(name: str, data: bytes) -> ParsedFile:
    """Parse one input file: syntax and types. The data contract is ``labeling.validation.ProblemSuite``.

    Args:
        name: the file's name (its suffix decides the format).
        data: the file's bytes.

    Raises:
        IngestError: the file as a whole cannot be read.
    """
    suffix = PurePosixPath(name).suffix.lower()
    if suffix not in SUPPORTED:
        raise IngestError(f"{name}: unsupported file type {suffix or '(none)'}; expected one of {', '.join(SUPPORTED)}")
    if not data.strip():
        raise IngestError(f"{name}: file is empty")
    text = _decode(name, data)
    raw_records = _jsonl_records(name, text) if suffix == ".jsonl" else _csv_records(name, text)
    parsed = ParsedFile(name=name)
    for number, value, raw in raw_records:
        parsed.raw[number] = raw
        record_id = value.get("id") if isinstance(value, dict) else None
        record_id = str(record_id) if record_id not in (None, "") else None

        def reject(reason: str, number: int = number, record_id: str | None = record_id, raw: str = raw) -> None:
            parsed.rejected.append(RejectedRecord(number, record_id, reason, raw))

        if isinstance(value, json.JSONDecodeError):
            reject(f"invalid JSON: {value.msg} at column {value.colno}")
        elif not isinstance(value, dict):
            reject(f"expected a JSON object, got {type(value).__name__}")
        elif "__extra__" in value:
            reject("row has more cells than the header has columns")
        else:
            try:
                parsed.problems.append((number, Problem.model_validate(value)))
            except ValidationError as exc:
                reject(_explain(exc))
                continue
            if isinstance(value.get("source"), str | int) and str(value["source"]).strip():
                parsed.sources[number] = str(value["source"]).strip()
            if str(value.get("curriculum") or "").strip():  # kept whatever its type: a reader refuses what it can't use
                parsed.curricula[number] = str(value["curriculum"]).strip()
    if not parsed.problems and not parsed.rejected:
        raise IngestError(f"{name}: no records found")
    return parsed
