"""The drop folder's intake: claiming under retries, settling, archives and runs that died, on the embedded store.

Filing under processed/ and quarantine/ is tested through its callers: tests/integration/test_batch.py (problem
files) and test_verified_and_snapshot.py (verified labels)."""

import json

import pytest

from labeling.intake import claim_files

pytestmark = pytest.mark.integration

DATA = '{"id": "c-1", "text": "삼각형의 세 내각의 크기의 합을 구하시오."}\n'.encode()


def test_a_retried_claim_returns_what_the_first_attempt_moved(clean_objects):
    objects = clean_objects
    objects.write_bytes("incoming/a.jsonl", b"{}")
    assert claim_files(objects, "run-1") == ["processing/run-1/a.jsonl"]
    objects.write_bytes("incoming/b.jsonl", b"{}")
    assert claim_files(objects, "run-1") == ["processing/run-1/a.jsonl", "processing/run-1/b.jsonl"]
    assert claim_files(objects, "run-2") == []  # another run never takes this run's files


def test_a_broken_zip_is_quarantined_with_the_reason(clean_objects):
    objects = clean_objects
    objects.write_bytes("incoming/broken.zip", b"PK\x03\x04 this is not a zip")
    run_id, run_date = "run-badzip", "2026-11-22"
    assert claim_files(objects, run_id, run_date=run_date) == []
    error = json.loads(objects.read_bytes(f"quarantine/{run_date}/broken.zip.error.json"))
    assert "unusable zip archive" in error["reason"]


def test_files_still_being_written_wait_for_the_next_run(clean_objects):
    objects = clean_objects
    objects.write_bytes("incoming/fresh.jsonl", DATA)
    assert claim_files(objects, "run-settle", settle_seconds=60) == []
    assert objects.list("incoming") == ["incoming/fresh.jsonl"]
    assert claim_files(objects, "run-settle", settle_seconds=0) == ["processing/run-settle/fresh.jsonl"]


def test_inputs_of_a_run_that_died_are_taken_over_by_a_later_run(clean_objects, settings):
    import os

    objects = clean_objects
    objects.write_bytes("processing/dead-run/set.jsonl", DATA)
    objects.write_bytes("processing/dead-run/chunks/set.jsonl/00000.jsonl", b"{}")
    objects.write_bytes("processing/live-run/other.jsonl", DATA)
    hours_ago = os.path.getmtime(settings.var_path / "objects" / "processing" / "dead-run" / "set.jsonl") - 7 * 3600
    for path in (settings.var_path / "objects" / "processing" / "dead-run").rglob("*"):
        if path.is_file():
            os.utime(path, (hours_ago, hours_ago))
    assert claim_files(objects, "new-run", orphan_after_seconds=6 * 3600) == ["processing/new-run/set.jsonl"]
    assert objects.list("processing/dead-run") == []
    assert objects.list("processing/live-run") == ["processing/live-run/other.jsonl"]  # still in use: left alone
