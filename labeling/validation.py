"""The data contract of problem records, as a Great Expectations suite run on each file's parsed records.

``ingest.parse_file`` checks syntax and types (JSON, CSV, pydantic); this suite checks the contract: ids present and
unique, text or image present, known metadata values, size limits, and provided labels that exist in the target
curricula. A record failing any expectation is quarantined with the expectation's reason; the rest go on.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from labeling.schemas import SCHOOLS

MAX_ID_CHARS = 200
MAX_UNIT_CHARS = 200


@functools.cache
def ge_context():
    """One ephemeral Great Expectations context per process: building one costs seconds, and every suite of the
    process (each file of a run, each mapped task run in the same process) validates through it."""
    import os

    # Offline: no usage analytics leave the machine; no progress bars in task logs.
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


@functools.cache
def _batch_definition():
    """The context's whole-dataframe batch definition, which every validation of the process reuses."""
    asset = ge_context().data_sources.add_pandas("problems").add_dataframe_asset("records")
    return asset.add_batch_definition_whole_dataframe("file")


@dataclass
class ProblemSuite:
    """The suite of one run's curricula (Great Expectations is imported on first use, never at DAG parse)."""

    max_text_chars: int
    known_codes: set[str]
    known_courses: set[str]

    @property
    def context(self):
        """The process's Great Expectations context, shared by every suite."""
        return ge_context()

    @cached_property
    def suite(self):
        import great_expectations as gx

        x = gx.expectations
        suite = gx.ExpectationSuite(name="problem_records")
        for expectation in (
            x.ExpectColumnValuesToNotBeNull(column="id"),
            x.ExpectColumnValuesToBeUnique(column="id"),
            x.ExpectColumnValueLengthsToBeBetween(column="id", min_value=1, max_value=MAX_ID_CHARS),
            x.ExpectColumnValuesToNotBeNull(column="content"),
            x.ExpectColumnValueLengthsToBeBetween(column="text", max_value=self.max_text_chars),
            x.ExpectColumnValuesToBeInSet(column="school", value_set=sorted(set(SCHOOLS.values()))),
            x.ExpectColumnValuesToBeBetween(column="grade", min_value=0, max_value=12),
            x.ExpectColumnValuesToBeInSet(column="course", value_set=sorted(self.known_courses)),
            x.ExpectColumnValueLengthsToBeBetween(column="unit", max_value=MAX_UNIT_CHARS),
            x.ExpectColumnValuesToBeInSet(column="unknown_labels", value_set=[""]),
        ):
            suite.add_expectation(expectation)
        return suite

    def frame(self, records: list[dict[str, Any]]):
        import pandas as pd

        rows = []
        for r in records:
            unknown = [code for code in r.get("labels") or [] if code not in self.known_codes]
            rows.append(
                {
                    "id": r.get("id"),
                    "content": r.get("text") or r.get("image") or None,
                    "text": r.get("text"),
                    "school": r.get("school"),
                    "grade": r.get("grade"),
                    "course": r.get("course"),
                    "unit": r.get("unit"),
                    "unknown_labels": ",".join(unknown),
                }
            )
        frame = pd.DataFrame(rows, columns=["id", "content", "text", "school", "grade", "course", "unit",
                                            "unknown_labels"])  # fmt: skip
        return frame.astype({"grade": "Float64"})

    def failures(self, records: list[dict[str, Any]]) -> dict[int, list[str]]:
        """Index of each failing record → the reasons, in the words a person fixing the file needs."""
        if not records:
            return {}
        frame = self.frame(records)
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
        result = batch.validate(self.suite, result_format="COMPLETE")
        out: dict[int, list[str]] = {}
        for item in result.results:
            if item.success:
                continue
            config = item.expectation_config
            column = config.kwargs.get("column")
            for index in item.result.get("unexpected_index_list") or []:
                value = frame.at[index, column]
                out.setdefault(int(index), []).append(_reason(config.type, column, value, config.kwargs))
        return out


def _plain(value: Any) -> Any:
    """numpy scalars and whole floats as a person writes them (14, not np.float64(14.0))."""
    value = value.item() if hasattr(value, "item") else value
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _reason(kind: str, column: str, value: Any, kwargs: dict[str, Any]) -> str:
    value = _plain(value)
    if column == "unknown_labels":
        return f"labels not in the target curriculum: {value}"
    if column == "content":
        return "record has neither text nor image"
    if kind == "expect_column_values_to_be_unique":
        return f"duplicate {column} {value!r}"
    if kind == "expect_column_values_to_not_be_null":
        return f"{column} is missing"
    if kind == "expect_column_value_lengths_to_be_between":
        return f"{column} has {len(str(value))} characters; the limit is {kwargs.get('max_value')}"
    if kind == "expect_column_values_to_be_in_set":
        return f"unknown {column} {value!r}"
    if kind == "expect_column_values_to_be_between":
        return f"{column} {value!r} is outside {_plain(kwargs.get('min_value'))}–{_plain(kwargs.get('max_value'))}"
    return f"{column} {value!r} fails {kind}"


def read_file(name: str, data: bytes, suite: ProblemSuite):
    """Parse a file and apply the suite: good problems and rejected records with reasons.

    Raises:
        IngestError: the file as a whole cannot be read.
    """
    from labeling.ingest import parse_file

    parsed = parse_file(name, data)
    parsed.reject(suite.failures([problem.model_dump() for _, problem in parsed.problems]))
    return parsed
