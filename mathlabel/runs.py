"""A labeling run's collaborators, built from the settings and the run's Params in this one place.

The ``batch_labeling`` DAG's tasks and ``mathlabel label`` both start here, so a run is wired once: its stores
(passed in: Airflow connections on the DAG's side, the settings on the CLI's), the curriculum index, the labeler
(which carries its version, the label documents' model version), the LLM judge, the page reader and the batch config.
Each is built on first use, so a task builds only what its step needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from labeling.batch import finish_run, label_chunk, prepare_file, run_batch
from labeling.index import CurriculumIndex
from labeling.intake import RunAlive, claim_run
from labeling.schemas import metadata_defaults, safe_run_id
from labeling.steps import BatchConfig, ChunkResult, Prepared, check_course
from mathlabel.clients import Stores, llm_judge, page_reader
from mathlabel.config import Settings

if TYPE_CHECKING:
    from labeling.evaluate import VersionedLabeler
    from labeling.llm import Judge
    from labeling.vision import PageReader


def batch_config(
    settings: Settings,
    run_id: str,
    curriculum: str | None = None,
    force: bool = False,
    chunk_size: int | None = None,
    defaults: dict[str, Any] | None = None,
) -> BatchConfig:
    """The batch settings of one run, from the settings and its Params (None: the configured default).
    ``defaults``: ``metadata_defaults(...)``, the metadata of problems that give none (pages never do)."""
    labeling = settings.labeling
    return BatchConfig(
        run_id=safe_run_id(run_id),
        run_date=datetime.now(UTC).strftime("%Y-%m-%d"),
        curriculum=curriculum or labeling.curriculum,
        model_version=labeling.model_version,
        top_k=labeling.top_k,
        auto_accept_score=labeling.auto_accept_score,
        max_text_chars=labeling.max_text_chars,
        chunk_size=chunk_size or labeling.chunk_size,
        force=force,
        pages_per_chunk=labeling.pages_per_chunk,
        min_ocr_confidence=settings.ocr.min_confidence,
        defaults=dict(defaults or {}),
    )


@dataclass(frozen=True)
class RunParams:
    """What a run is asked for: the DAG's Params or the CLI's options; None means the configured default."""

    curriculum: str | None = None
    force: bool = False
    chunk_size: int | None = None
    school: str | None = None
    grade: int | None = None
    course: str | None = None
    selector: str = ""  # a file or sub-folder of incoming/; "" = all of it
    settle_seconds: float | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RunParams:
        """From the DAG's Params, where an empty form field is None."""
        given = {name: params.get(name) for name in ("curriculum", "chunk_size", "school", "grade", "course")}
        return cls(force=bool(params.get("force")), selector=params.get("selector") or "",
                   settle_seconds=params.get("settle_seconds"), **given)  # fmt: skip


class LabelingRun:
    """One labeling run: its collaborators, and its steps over them (claim, prepare, label, finish)."""

    def __init__(self, settings: Settings, run_id: str, params: RunParams, stores: Stores) -> None:
        self.settings = settings
        self.run_id = run_id
        self.params = params
        self.stores = stores

    @cached_property
    def cfg(self) -> BatchConfig:
        """Raises ``ValueError``: a metadata Param (school, grade) is not valid."""
        p = self.params
        defaults = metadata_defaults(p.school, p.grade, p.course)
        return batch_config(self.settings, self.run_id, p.curriculum, p.force, p.chunk_size, defaults)

    @cached_property
    def index(self) -> CurriculumIndex:
        """The target curricula, with the verified labels the cold start indexes (read from the read replica)."""
        return CurriculumIndex(self.stores.graph, self.cfg.curriculum, labels=self.stores.labels.reader())

    @cached_property
    def labeler(self) -> VersionedLabeler:
        """The registry's champion for the run's curricula, else the cold start; its version is the model version."""
        from training.registry import labeler_from_settings

        return labeler_from_settings(self.index, self.settings, self.stores.registry)

    @cached_property
    def judge(self) -> Judge | None:
        return llm_judge(self.settings, self.index)

    def page_reader(self) -> PageReader:
        """Layout + OCR, built by the label step only when a chunk holds pages or image records."""
        return page_reader(self.settings)

    def check(self) -> None:
        """Check the Params before anything is claimed. Raises ``ValueError`` naming the bad value."""
        if self.cfg.defaults.get("course"):
            check_course(self.cfg.defaults, self.index.courses, self.cfg.curriculum)

    def describe(self) -> str:
        """Which labeler and LLM the run labels with, for the task log."""
        said = f"labeling with {self.labeler.version}; " + (
            f"LLM {self.judge.version}" if self.judge else "no LLM configured"
        )
        examples = self.index.examples if self.labeler.version == self.settings.labeling.model_version else {}
        if examples:  # the cold start
            count = sum(map(len, examples.values()))
            said += f"\ncold start with {count} verified examples of {len(examples)} standards"
        return said

    def claim(self, run_alive: RunAlive | None = None) -> list[str]:
        """Claim at most ``labeling.max_files_per_run`` files; ``run_alive`` (the scheduler's word on a run id) lets
        the inputs of a run that is over be taken over at once."""
        labeling = self.settings.labeling
        settle = labeling.settle_seconds if self.params.settle_seconds is None else self.params.settle_seconds
        claim = claim_run(self.stores.objects, self.cfg.run_id, self.params.selector, settle_seconds=settle,
                          orphan_after_seconds=labeling.orphan_after_seconds, run_date=self.cfg.run_date,
                          max_files=labeling.max_files_per_run, run_alive=run_alive, run_name=self.run_id)  # fmt: skip
        return claim.files

    def label_tasks(self, chunks: list[str]) -> list[list[str]]:
        """``chunks`` in at most ``labeling.max_label_tasks`` groups, in order: one mapped label task each."""
        tasks = max(1, self.settings.labeling.max_label_tasks)
        size = -(-len(chunks) // tasks) or 1
        return [chunks[start : start + size] for start in range(0, len(chunks), size)]

    def prepare(self, key: str) -> Prepared:
        suite = self.index.suite(self.cfg.max_text_chars)
        return prepare_file(key, objects=self.stores.objects, suite=suite, cfg=self.cfg)

    def label(self, chunk: str) -> ChunkResult:
        return label_chunk(chunk, objects=self.stores.objects, labels=self.stores.labels, index=self.index,
                           cfg=self.cfg, labeler=self.labeler, judge=self.judge, reader=self.page_reader)  # fmt: skip

    def finish(self, prepared: list[dict[str, Any]], results: list[dict[str, Any]]) -> dict[str, Any]:
        """File the inputs and write the report; reads no Params, so it runs when they were bad, too."""
        # Not self.cfg: the report is written even when bad Params made the run fail before it had a config.
        review_url = self.settings.labeling.review_url
        gate = self.settings.quality_gate  # the report's baseline is the one the quality gate judges the run by
        return finish_run(self.stores.objects, self.run_id, prepared, results, review_url=review_url,
                          baseline_window=gate.window, baseline_min_runs=gate.min_runs)  # fmt: skip

    def run(self, keys: list[str]) -> dict[str, Any]:
        """Prepare, label and finish the claimed ``keys`` in-process (``mathlabel label``)."""
        return run_batch(keys, objects=self.stores.objects, labels=self.stores.labels, index=self.index, cfg=self.cfg,
                         labeler=self.labeler, judge=self.judge, reader=self.page_reader)  # fmt: skip
