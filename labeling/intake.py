"""The drop folder's intake: what has settled is claimed, and every input is filed under ``processed/`` or
``quarantine/`` (with an ``.error.json`` saying why), for problem files and verified-label files alike.

``incoming/`` is the drop folder and ``incoming/verified/`` the reviewers' (ARCHITECTURE.md, data contracts). A
labeling run claims its files into ``processing/<run_id>/`` (moved, so no two runs share one) and takes over the
inputs of runs that died; the verified-label import reads its files where they are, as importing them twice changes
nothing. Both file an input under ``processed/<date>/`` or ``quarantine/<date>/`` (``verified/`` below both for
verified labels), and nothing there is overwritten: a different file of the same name gets a suffixed name.
"""

from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from labeling.errors import IngestError, LabelingError
from labeling.ingest import ParsedFile
from stores.errors import StoreError
from stores.objects import ObjectStore, check_key, join

log = logging.getLogger(__name__)
INCOMING = "incoming"
VERIFIED = "verified"  # the reviewers' area: incoming/verified/, filed under processed|quarantine/<date>/verified/
VERIFIED_DROP = join(INCOMING, VERIFIED)  # nightly_retraining imports them; labeling runs leave them
MAX_ZIP_BYTES = 512 * 1024 * 1024  # uncompressed; a larger archive is quarantined, not unpacked
ZIP_MEMBERS = ".d"  # an archive's members are labeled as files under "<archive>.d/"


def free_key(objects: ObjectStore, key: str, data: bytes | None = None) -> str:
    """``key``, or a suffixed variant when a different object already sits there: nothing is overwritten."""
    if not objects.exists(key) or (data is not None and objects.read_bytes(key) == data):
        return key
    path = PurePosixPath(key)
    for n in range(1, 10_000):
        candidate = str(path.with_name(f"{path.stem}.{n}{path.suffix}"))
        if not objects.exists(candidate) or (data is not None and objects.read_bytes(candidate) == data):
            return candidate
    raise LabelingError(f"too many files named {path.name} in {path.parent}")


def settled(objects: ObjectStore, keys: list[str], settle_seconds: float) -> list[str]:
    """The ``keys`` unchanged for ``settle_seconds``: the others may still be copied in and wait for the next run."""
    now = time.time()
    out = []
    for key in keys:
        if settle_seconds and now - objects.modified(key) < settle_seconds:
            log.info("%s changed in the last %.0fs; left for the next run", key, settle_seconds)
            continue
        out.append(key)
    return out


@dataclass(frozen=True)
class Filing:
    """Where one run files the inputs of one area of the drop folder (``""``: problem files; ``verified``)."""

    objects: ObjectStore
    run_id: str
    run_date: str  # YYYY-MM-DD, names the processed/ and quarantine/ folders
    area: str = ""

    def quarantine_base(self, name: str) -> str:
        return join("quarantine", self.run_date, self.area, name)

    def error(
        self,
        name: str,
        reason: str,
        records: list[dict[str, Any]] | None = None,
        *,
        base: str | None = None,
        source: str | None = None,
    ) -> str:
        """Write ``<base>.error.json`` (by default beside the input's quarantine) and return its key: the input (its
        path under ``incoming/``), the run, where it came from (by default where it was dropped), why, the records."""
        dropped = join(self.area, name)
        error = {"file": dropped, "run_id": self.run_id, "source": source or self.objects.uri(join(INCOMING, dropped)),
                 "reason": reason, "records": records or []}  # fmt: skip
        key = f"{base or self.quarantine_base(name)}.error.json"
        self.objects.write_bytes(key, json.dumps(error, ensure_ascii=False, indent=2).encode())
        return key

    def quarantine(self, key: str, name: str, reason: str) -> tuple[str, str]:
        """Move a whole input to quarantine with its ``.error.json``; returns both keys."""
        data = self.objects.read_bytes(key)
        target = free_key(self.objects, self.quarantine_base(name), data)
        error_key = self.error(name, reason, base=target)
        self.objects.move(key, target)
        log.error("quarantined file %s: %s", join(self.area, name), reason)
        return target, error_key

    def quarantine_records(self, name: str, parsed: ParsedFile, source: str | None = None) -> str:
        """Write the rejected records of an input (``<name>.rejected.<ext>``, as they were written) and why
        (``<name>.error.json``, whose key is returned) in its quarantine folder; the good records go on."""
        base = self.quarantine_base(name)
        lines = "".join(rejected.raw.rstrip("\n") + "\n" for rejected in parsed.rejected)
        self.objects.write_bytes(f"{base}.rejected{PurePosixPath(name).suffix}", lines.encode())
        for rejected in parsed.rejected:
            log.warning("%s record %d (id=%s) quarantined: %s", name, rejected.record, rejected.id, rejected.reason)
        reason = f"{len(parsed.rejected)} of {parsed.read} records failed validation"
        return self.error(name, reason, [r.to_doc() for r in parsed.rejected], source=source)

    def file(self, key: str, name: str, data: bytes | None = None) -> str:
        """Move an input whose results are stored (its bytes: ``data``) to ``processed/<date>/``; returns where."""
        data = self.objects.read_bytes(key) if data is None else data
        target = free_key(self.objects, join("processed", self.run_date, self.area, name), data)
        self.objects.move(key, target)
        return target


# ---------------------------------------------------------------------------------------------------- claim


def claim_files(
    objects: ObjectStore,
    run_id: str,
    selector: str = "",
    *,
    settle_seconds: float = 0.0,
    orphan_after_seconds: float = 0.0,
    run_date: str | None = None,
) -> list[str]:
    """Move files from ``incoming/`` (or the part ``selector`` names) into ``processing/<run_id>/``.

    Files modified within the last ``settle_seconds`` are left for the next run (they may still be copied in).
    With ``orphan_after_seconds``, inputs of another run whose processing folder has been idle that long (the run
    died) are taken over, so nothing claimed is ever stranded. Zip archives are unpacked into ``<archive>.d/`` and
    their members claimed as files. Returns every file in the run's processing folder, so a retried claim also
    returns what an earlier attempt of the same run moved; a file another run claimed first is left to that run.
    """
    claimed = join("processing", run_id)
    run_date = run_date or datetime.now(UTC).strftime("%Y-%m-%d")
    if orphan_after_seconds:
        _adopt_orphans(objects, run_id, orphan_after_seconds, time.time())
    # verified labels are imported by nightly_retraining, not problems to label
    dropped = [key for key in objects.list(join(INCOMING, selector)) if not key.startswith(VERIFIED_DROP + "/")]
    for key in settled(objects, dropped, settle_seconds):
        target = join(claimed, PurePosixPath(key).relative_to(INCOMING).as_posix())
        try:
            objects.move(key, target)
            log.info("claimed %s", key)
        except StoreError as exc:
            log.warning("could not claim %s (another run may have it): %s", key, exc)
    return claimed_files(objects, run_id, run_date)


def claimed_files(objects: ObjectStore, run_id: str, run_date: str) -> list[str]:
    """Unpack the zip archives in ``processing/<run_id>/`` and return the files there: what the run labels.

    ``claim_files`` ends with it; ``mathlabel label`` writes its file straight into the run's folder and calls it,
    so its paths under ``processed/`` and ``quarantine/`` are those of the same file dropped into ``incoming/``.
    """
    claimed = join("processing", run_id)
    for key in objects.list(claimed):
        if key.lower().endswith(".zip") and not key.startswith(join(claimed, "chunks")):
            _unpack(Filing(objects, run_id, run_date), key, claimed)
    return [key for key in objects.list(claimed) if not key.startswith(join(claimed, "chunks") + "/")]


def _unpack(filing: Filing, key: str, claimed: str) -> None:
    """Expand a claimed zip into ``<archive>.d/`` beside it, then file the archive itself under processed/.

    A member whose path is unsafe (absolute, or climbing out with ``..``) is never written: it is listed with its
    reason in ``quarantine/<date>/<archive>.error.json`` (with a copy of the archive) and the other members go on.
    """
    objects = filing.objects
    name = PurePosixPath(key).relative_to(claimed).as_posix()
    data = objects.read_bytes(key)
    refused: list[dict[str, Any]] = []
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = [
                m for m in archive.infolist() if not m.is_dir() and not PurePosixPath(m.filename).name.startswith(".")
            ]
            if sum(m.file_size for m in members) > MAX_ZIP_BYTES:
                raise IngestError(f"{name}: archive expands beyond {MAX_ZIP_BYTES // 2**20} MiB")
            safe = []
            for number, member in enumerate(members, start=1):
                try:
                    safe.append((member, join(claimed, name + ZIP_MEMBERS, check_key(member.filename))))
                except StoreError as exc:
                    refused.append(
                        {"record": number, "id": member.filename, "reason": f"unsafe path in archive: {exc}"}
                    )
            if not safe:
                raise IngestError(
                    f"{name}: no usable member ({'; '.join(r['reason'] for r in refused[:3]) or 'empty'})"
                )
            for member, target in safe:
                objects.write_bytes(target, archive.read(member))
    except (zipfile.BadZipFile, IngestError, StoreError) as exc:
        filing.quarantine(key, name, f"unusable zip archive: {exc}")
        return
    if refused:
        base = free_key(objects, filing.quarantine_base(name), data)
        objects.write_bytes(base, data)
        filing.error(name, f"{len(refused)} member(s) of the archive refused", refused, base=base)
        for item in refused:
            log.error("%s: member %s refused: %s", name, item["id"], item["reason"])
    filing.file(key, name, data)
    log.info("unpacked %s: %d member(s)", name, len(members) - len(refused))


def _adopt_orphans(objects: ObjectStore, run_id: str, orphan_after_seconds: float, now: float) -> None:
    """Take over the inputs of runs that died: their processing folder untouched for ``orphan_after_seconds``."""
    folders: dict[str, list[str]] = {}
    for key in objects.list("processing"):
        folders.setdefault(key.split("/", 2)[1], []).append(key)
    for folder, keys in folders.items():
        if folder == run_id or now - max(objects.modified(k) for k in keys) < orphan_after_seconds:
            continue
        old = join("processing", folder)
        for key in keys:
            if key.startswith(join(old, "chunks") + "/"):
                objects.delete(key)  # derived from the input; the new run writes its own
                continue
            try:
                objects.move(key, join("processing", run_id, PurePosixPath(key).relative_to(old).as_posix()))
                log.warning("adopted %s from run %s, idle for over %.0fs", key, folder, orphan_after_seconds)
            except StoreError as exc:
                log.warning("could not adopt %s: %s", key, exc)
