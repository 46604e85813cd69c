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


# ------------------------------------------------------------------------------ claims that cannot collide


@pytest.fixture(scope="module")
def moto_endpoint():
    from tests.moto_server import moto_server

    with moto_server("aws_intake_claims") as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    """An empty object store of each kind: the local folder, and S3 through moto's server."""
    from stores.objects import LocalObjectStore, S3ObjectStore

    if request.param == "local":
        store = LocalObjectStore(tmp_path / "objects")
        store.ensure_layout()
        return store
    import boto3

    client = boto3.client("s3", endpoint_url=request.getfixturevalue("moto_endpoint"), region_name="us-east-1")
    bucket = f"claims-{abs(hash(str(tmp_path))) % 10**8}"
    client.create_bucket(Bucket=bucket)
    return S3ObjectStore(client, bucket=bucket, prefix="mathlabel")


def test_two_runs_claiming_at_once_take_each_file_exactly_once(store):
    import threading

    rounds, files = 20, 10
    for round_ in range(rounds):
        dropped = {f"incoming/r{round_}-{n}.jsonl": f'{{"id": "r{round_}-{n}"}}\n'.encode() for n in range(files)}
        for key, data in dropped.items():
            store.write_bytes(key, data)
        runs = [f"run-{round_}-a", f"run-{round_}-b"]
        start = threading.Barrier(len(runs))
        results: dict[str, list[str]] = {}
        errors: list[BaseException] = []

        def claimant(run_id: str, start=start, results=results, errors=errors) -> None:
            start.wait()
            try:
                results[run_id] = claim_files(store, run_id)
            except BaseException as exc:  # a lost race must be skipped, never raised
                errors.append(exc)

        threads = [threading.Thread(target=claimant, args=(run_id,)) for run_id in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        taken = [key.split("/", 2)[2] for run_id in runs for key in results[run_id]]
        assert sorted(taken) == sorted(key.removeprefix("incoming/") for key in dropped)  # each once, none lost
        for run_id in runs:  # what a run returns is what its folder holds, bytes intact
            assert store.list(f"processing/{run_id}") == results[run_id]
            for key in results[run_id]:
                assert store.read_bytes(key) == dropped["incoming/" + key.split("/", 2)[2]]
        assert store.list("incoming") == []
    assert store.list("processing/.claims") == []  # no claim marker outlives its claim


# ------------------------------------------------------------------------------------ the drop folder's boundary


def test_links_in_the_drop_folder_are_quarantined_never_read(tmp_path):
    import os

    from stores.objects import LocalObjectStore

    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "secret.jsonl").write_bytes(DATA)
    (outside / "folder" / "inner.jsonl").write_bytes(DATA)
    objects = LocalObjectStore(tmp_path / "objects")
    objects.ensure_layout()
    objects.write_bytes("incoming/good.jsonl", DATA)
    objects.write_bytes("incoming/sub/good.csv", b"id,text\nc-2,x\n")
    incoming = tmp_path / "objects" / "incoming"
    os.symlink(outside / "secret.jsonl", incoming / "secret.jsonl")
    os.symlink(outside / "folder", incoming / "folder")
    os.symlink("/etc/hostname", incoming / "sub" / "hostname.csv")
    (incoming / "verified").mkdir()
    os.symlink(outside / "secret.jsonl", incoming / "verified" / "labels.jsonl")
    run_date = "2026-11-23"

    claimed = claim_files(objects, "run-links", run_date=run_date)

    assert claimed == ["processing/run-links/good.jsonl", "processing/run-links/sub/good.csv"]
    assert os.listdir(incoming / "sub") == [] and sorted(os.listdir(incoming)) == ["sub", "verified"]
    assert os.listdir(incoming / "verified") == []
    records = {
        "secret.jsonl": str(outside / "secret.jsonl"),
        "folder": str(outside / "folder"),
        "sub/hostname.csv": "/etc/hostname",
        "verified/labels.jsonl": str(outside / "secret.jsonl"),
    }
    for name, target in records.items():
        error = json.loads(objects.read_bytes(f"quarantine/{run_date}/{name}.error.json"))
        assert error["file"] == name and error["run_id"] == "run-links"
        assert f"a symbolic link (to {target!r}) is never followed" in error["reason"]
        assert error["records"] == []
    # nothing behind a link was read, copied or moved: the store holds the good files and the records, no more
    quarantined = [f"quarantine/{run_date}/{name}.error.json" for name in records]
    marker = ["processing/.runs/run-links.json"]  # the run's id, while it holds files: a later run asks of it
    assert objects.list("") == sorted(claimed + quarantined + marker)
    assert (outside / "secret.jsonl").read_bytes() == DATA and (outside / "folder" / "inner.jsonl").exists()


# ------------------------------------------------------------------------------------- quarantine records


def test_a_name_quarantined_twice_in_a_day_keeps_both_records_side_by_side(store):
    run_date = "2026-11-24"
    for run_id in ("run-1", "run-2"):  # the same broken archive, dropped twice
        store.write_bytes("incoming/broken.zip", b"PK\x03\x04 this is not a zip")
        assert claim_files(store, run_id, run_date=run_date) == []
    day = f"quarantine/{run_date}"
    assert store.list(day) == [f"{day}/broken.1.zip", f"{day}/broken.1.zip.error.json",
                               f"{day}/broken.zip", f"{day}/broken.zip.error.json"]  # fmt: skip
    first, second = (json.loads(store.read_bytes(f"{day}/{n}.error.json")) for n in ("broken.zip", "broken.1.zip"))
    assert (first["run_id"], second["run_id"]) == ("run-1", "run-2")
    assert first["file"] == second["file"] == "broken.zip"


def test_rejected_records_of_a_name_are_kept_per_run_and_rewritten_on_a_retry(store):
    from labeling.ingest import ParsedFile, RejectedRecord
    from labeling.intake import Filing

    run_date, day = "2026-11-24", "quarantine/2026-11-24"
    keys = []
    for run_id, raw in (("run-1", "not json"), ("run-2", "{broken"), ("run-2", "{broken")):
        parsed = ParsedFile("set.jsonl", rejected=[RejectedRecord(2, None, "not JSON", raw)])
        keys.append(Filing(store, run_id, run_date).quarantine_records("set.jsonl", parsed))
    assert keys == [f"{day}/set.jsonl.error.json", f"{day}/set.1.jsonl.error.json", f"{day}/set.1.jsonl.error.json"]
    assert store.read_bytes(f"{day}/set.jsonl.rejected.jsonl") == b"not json\n"
    assert store.read_bytes(f"{day}/set.1.jsonl.rejected.jsonl") == b"{broken\n"
    assert Filing(store, "run-2", run_date).quarantine_base("set.jsonl") == f"{day}/set.1.jsonl"


# ------------------------------------------------------------------------------- drops of any size, crashed runs


def test_a_drop_of_5000_files_is_claimed_a_bounded_batch_a_run_and_nothing_is_lost_or_duplicated(clean_objects):
    from labeling.intake import claim_run

    objects = clean_objects
    dropped = {f"incoming/f{n:05d}.jsonl" for n in range(5000)}
    for key in dropped:
        objects.write_bytes(key, DATA)
    seen: list[str] = []
    for run in range(10):
        claim = claim_run(objects, f"run-{run}", max_files=500)
        assert len(claim.files) == 500 and claim.left_for_next_run == 4500 - 500 * run
        seen += [key.split("/", 2)[2] for key in claim.files]
        for key in claim.files:  # the run files what it claimed
            objects.move(key, key.replace(f"processing/run-{run}/", "processed/"))
    assert sorted(seen) == sorted(key.removeprefix("incoming/") for key in dropped)  # each file exactly once
    assert objects.list("incoming") == [] and claim_run(objects, "run-10", max_files=500).files == []


def test_an_archive_over_the_bound_waits_for_its_members_and_is_filed_with_the_last(clean_objects):
    import io
    import zipfile

    from labeling.intake import Filing, claim_run, release

    objects = clean_objects
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(1100):
            archive.writestr(f"m{n:04d}.jsonl", DATA)
    objects.write_bytes("incoming/big.zip", buffer.getvalue())
    members = []
    for run in range(3):
        claim = claim_run(objects, f"zip-{run}", max_files=500, run_date="2026-11-24", run_alive=lambda _: False)
        assert len(claim.files) == min(500, 1100 - 500 * run)
        assert claim.left_for_next_run == max(0, 600 - 500 * run)
        members += claim.files
        for key in claim.files:
            objects.move(key, key.replace(f"processing/zip-{run}/", "processed/2026-11-24/"))
        filed = release(Filing(objects, f"zip-{run}", "2026-11-24"))
        # the archive is filed only with its last member; until then a run holds it, and the next takes it over
        assert filed == (["processed/2026-11-24/big.zip"] if run == 2 else [])
    assert len(set(members)) == 1100 and objects.list("incoming") == [] and objects.list("processing") == []


def test_a_crashed_run_is_taken_over_at_once_and_a_live_run_is_left_alone_and_reported(clean_objects):
    from labeling.intake import claim_run

    objects = clean_objects
    for run in ("crashed", "gone", "live"):
        objects.write_bytes(f"incoming/{run}.jsonl", DATA)
        claim_run(objects, f"run-{run}", run_name=f"{run}__2026-11-24T00:00:00+00:00")
    objects.write_bytes("processing/run-crashed/chunks/crashed.jsonl/00000.jsonl", b"{}")
    states = {"crashed__2026-11-24T00:00:00+00:00": "failed", "live__2026-11-24T00:00:00+00:00": "running"}
    asked = []

    def run_alive(run_id):
        asked.append(run_id)
        return states.get(run_id) in {"queued", "running"}  # "gone": Airflow knows no such run

    claim = claim_run(objects, "run-next", orphan_after_seconds=6 * 3600, run_alive=run_alive)
    assert claim.files == ["processing/run-next/crashed.jsonl", "processing/run-next/gone.jsonl"]
    assert claim.stuck == [{"run_id": "live__2026-11-24T00:00:00+00:00", "file": "live.jsonl"}]
    assert objects.list("processing/run-live") == ["processing/run-live/live.jsonl"]
    assert objects.list("processing/.runs") == ["processing/.runs/run-live.json", "processing/.runs/run-next.json"]
    assert "crashed__2026-11-24T00:00:00+00:00" in asked
    # without the scheduler's word (the CLI), a run's fresh folder still waits orphan_after_seconds
    objects.write_bytes("processing/cli__x/set.jsonl", DATA)
    claim = claim_run(objects, "run-later", orphan_after_seconds=6 * 3600)
    assert claim.files == [] and {"run_id": "cli__x", "file": "set.jsonl"} in claim.stuck


def test_a_run_report_says_what_was_left_for_the_next_run_and_what_is_stuck(clean_objects):
    from labeling.batch import finish_run
    from labeling.intake import claim_run

    objects = clean_objects
    objects.write_bytes("processing/run-live/set.jsonl", DATA)
    claim_run(objects, "run-live", run_name="live")
    for n in range(3):
        objects.write_bytes(f"incoming/f{n}.jsonl", DATA)
    claim = claim_run(objects, "run-now", max_files=2, run_alive=lambda run_id: True)
    assert len(claim.files) == 2
    summary = finish_run(objects, "run-now", [], [])
    assert summary["left_for_next_run"] == 1 and summary["stuck_files"] == 1
    report = json.loads(objects.read_bytes(summary["report"]))
    assert report["stuck"] == [{"run_id": "live", "file": "set.jsonl"}]
