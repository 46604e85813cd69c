"""MongoDB's query language, the part the project uses, as SQLite over JSON documents: the embedded label store's
queries. Pure functions returning SQL text and parameters; ``EmbeddedLabelStore`` says what is supported."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any

_COMPARISONS = MappingProxyType({"$ne": "IS NOT", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="})
COLUMNS = frozenset({"_id", "created_at"})  # kept in columns of their own, not in the JSON document
_REGEX_FLAGS = MappingProxyType({"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE})
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|[0-9]+))*")


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$date": value.isoformat()}
    raise TypeError(f"cannot store {type(value).__name__} in a label document")


def decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$date" in obj:
        return datetime.fromisoformat(obj["$date"])
    return obj


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, ensure_ascii=False, default=_encode, separators=(",", ":"))


def document(row: tuple) -> dict[str, Any]:
    doc_id, created_at, body = row
    return {"_id": doc_id, "created_at": datetime.fromisoformat(created_at)} | json.loads(body, object_hook=decode)


def json_path(field: str) -> str:
    """The JSON path of a dotted field; a numeric part is an array index, as in MongoDB (``candidates.0.score``)."""
    if not _FIELD.fullmatch(field):
        raise ValueError(f"label store: unsupported field name {field!r}")
    return "$" + "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in field.split("."))


def field_sql(field: str, value: Any = None, generated: Mapping[str, str] = MappingProxyType({})) -> str:
    """A field's SQL: its own column, the generated column that holds ``json_extract`` of it (``generated``: field →
    column; not for a datetime, which is compared by its ISO text), or ``json_extract`` itself."""
    if field in COLUMNS:
        return field
    if field in generated and not isinstance(value, datetime):
        return generated[field]
    suffix = '."$date"' if isinstance(value, datetime) else ""
    return f"json_extract(doc, '{json_path(field)}{suffix}')"


def sort_sql(field: str) -> str:
    """A field's sort key: a datetime sorts by its ISO text, anything else by its value."""
    if field in COLUMNS:
        return field
    return f"coalesce({field_sql(field, datetime.min)}, {field_sql(field)})"


def after_sql(column: str, descending: bool, value: Any, doc_id: str) -> tuple[str, list[Any]]:
    """The rows after (``value``, ``doc_id``) in the order of the sort expression ``column`` then ``_id``, NULL
    first (last when ``descending``) as MongoDB orders a missing value: ``stores.labels._after_filter`` in SQL."""
    if value is None:
        if descending:
            return f"({column} IS NULL AND _id < ?)", [doc_id]
        return f"(({column} IS NULL AND _id > ?) OR {column} IS NOT NULL)", [doc_id]
    value = param("cursor", value)
    if descending:
        return f"({column} < ? OR ({column} = ? AND _id < ?) OR {column} IS NULL)", [value, value, doc_id]
    return f"({column} > ? OR ({column} = ? AND _id > ?))", [value, value, doc_id]


def count_json_values(groups: Iterable[tuple[Any, int]]) -> dict[Any, int]:
    """``count_values`` from (``json_extract`` of a field, documents) groups, by ``json_each``'s rule: an array's (or
    object's) scalar elements count once per document, null and nested arrays or objects are left out. A string that
    reads as a JSON array or object counts as one (``json_extract`` returns both as text)."""
    out: dict[Any, int] = {}
    for value, n in groups:
        values = [value]
        if isinstance(value, str) and value.startswith(("[", "{")):
            try:
                parsed = json.loads(value)
            except ValueError:
                parsed = value
            if isinstance(parsed, list | dict):
                elements = parsed.values() if isinstance(parsed, dict) else parsed
                values = list({int(e) if isinstance(e, bool) else e for e in elements
                               if e is not None and not isinstance(e, list | dict)})  # fmt: skip
        for one in values:
            if one is not None:
                out[one] = out.get(one, 0) + n
    return out


@lru_cache(maxsize=64)
def _pattern(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def regexp(pattern: str, flags: int, value: Any) -> bool:
    return isinstance(value, str) and _pattern(pattern, flags).search(value) is not None


def _regex_sql(field: str, pattern: Any, options: Any) -> tuple[str, list[Any]]:
    """``$regex``: a string field that matches, or an array with a string element that does (MongoDB's rule)."""
    if not isinstance(pattern, str) or not isinstance(options, str) or set(options) - set(_REGEX_FLAGS):
        raise ValueError(f"label store: $regex on {field!r} takes a string pattern and $options of {_REGEX_FLAGS!r}")
    flags = int(sum(_REGEX_FLAGS[o] for o in set(options)))
    try:
        _pattern(pattern, flags)
    except re.error as exc:
        raise ValueError(f"label store: bad $regex on {field!r}: {exc}") from exc
    if field in COLUMNS:
        return f"mathlabel_regexp(?, ?, {field})", [pattern, flags]
    each = f"SELECT 1 FROM json_each(doc, '{json_path(field)}') AS e WHERE e.type = 'text' AND "
    each += "mathlabel_regexp(?, ?, e.value)"
    return f"EXISTS ({each})", [pattern, flags]


def param(field: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise ValueError(f"label store: {field!r} can only be compared with a scalar, not {type(value).__name__}")


def where_sql(query: dict[str, Any], generated: Mapping[str, str] = MappingProxyType({})) -> tuple[str, list[Any]]:
    """The WHERE clause of a MongoDB query, and its parameters; a query it cannot answer as MongoDB raises.
    ``generated`` (field → column) names the generated columns that hold a field's ``json_extract``."""
    clauses, params = ["1"], []
    for field, condition in query.items():
        if field.startswith("$"):
            raise ValueError(f"label store: unsupported query operator {field!r}")
        ops = (
            condition
            if isinstance(condition, dict) and condition and all(k.startswith("$") for k in condition)
            else {"$eq": condition}
        )
        for op, value in ops.items():
            probe = value[0] if op in {"$in", "$nin"} and value else value
            column = field_sql(field, probe, generated)
            if op == "$eq":
                clauses.append(f"{column} IS ?")
                params.append(param(field, value))
            elif op in _COMPARISONS:
                clauses.append(f"{column} {_COMPARISONS[op]} ?")
                params.append(param(field, value))
            elif op in {"$in", "$nin"}:
                values = [param(field, v) for v in value]
                marks = ", ".join("?" * len(values))
                inside = f"({column} IN ({marks}){' OR ' + column + ' IS NULL' if None in values else ''})"
                clauses.append(inside if op == "$in" else f"NOT {inside}")
                params.extend(values)
            elif op == "$regex":
                clause, values = _regex_sql(field, value, ops.get("$options", ""))
                clauses.append(clause)
                params.extend(values)
            elif op == "$options" and "$regex" in ops:
                continue
            elif op == "$exists":
                clauses.append(f"json_type(doc, '{json_path(field)}') IS {'NOT ' if value else ''}NULL")
            else:
                raise ValueError(f"label store: unsupported query operator {op!r} on {field!r}")
    return " AND ".join(clauses), params
