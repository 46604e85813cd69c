"""The drop folder's intake: what has settled is claimed, and every input is filed under ``processed/`` or
``quarantine/`` (with an ``.error.json`` saying why), for problem files and verified-label files alike.

``incoming/`` is the drop folder and ``incoming/verified/`` the reviewers' (ARCHITECTURE.md, data contracts). A
labeling run claims its files into ``processing/<run_id>/`` (moved, so no two runs share one) and takes over the
inputs of runs that died; the verified-label import reads its files where they are, as importing them twice changes
nothing. Both file an input under ``processed/<date>/`` or ``quarantine/<date>/`` (``verified/`` below both for
verified labels), and nothing there is overwritten: a different file of the same name gets a suffixed name, and so
does another run's quarantine record of a file of the same name. Claims are exclusive (``ObjectStore.claim``): of
runs racing for a file one takes it and the others skip it. The drop folder takes plain files only: a symbolic link
(or a pipe) is never followed nor read; it is removed with a record saying why.
"""

from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from collections.abc import Iterator
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


def variants(key: str) -> Iterator[str]:
    """``key``, then ``<stem>.1<suffix>``, ``<stem>.2<suffix>`` and on: the names a file of a taken name gets."""
    yield key
    path = PurePosixPath(key)
    for n in range(1, 10_000):
        yield str(path.with_name(f"{path.stem}.{n}{path.suffix}"))
    raise LabelingError(f"too many files named {path.name} in {path.parent}")


def free_key(objects: ObjectStore, key: str, data: bytes | None = None) -> str:
    """``key``, or a suffixed variant when a different object already sits there: nothing is overwritten."""
    return next(
        c for c in variants(key) if not objects.exists(c) or (data is not None and objects.read_bytes(c) == data)
    )


def settled(objects: ObjectStore, keys: list[str], settle_seconds: float) -> list[str]:
    """The ``keys`` unchanged for ``settle_seconds``: the others may still be copied in and wait for the next run;
    a key gone since it was listed (another run claimed it) is left out."""
    if not settle_seconds:
        return list(keys)
    now = time.time()
    out = []
    for key in keys:
        modified = _modified(objects, key)
        if modified is None:
            continue
        if now - modified < settle_seconds:
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
        """Where this run's quarantine record of input ``name`` goes: ``quarantine/<date>/[<area>/]<name>``, or the
        first variant ``free_key`` would name when another run's record of that name is there (side by side)."""
        return self._own(join("quarantine", self.run_date, self.area, name))

    def _own(self, base: str) -> str:
        """``base`` or its first variant that holds no record, or only this run's (a retry rewrites its own)."""
        return next(candidate for candidate in variants(base) if self._free_or_own(candidate))

    def _free_or_own(self, base: str) -> bool:
        record = f"{base}.error.json"
        if not self.objects.exists(record):
            return not self.objects.exists(base)
        try:
            return json.loads(self.objects.read_bytes(record)).get("run_id") == self.run_id
        except (StoreError, ValueError, AttributeError):
            return False

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
        path under ``incoming/``), the run, where it came from (by default where it was dropped), why, the records.
        Another run's record at ``base`` is kept: this one goes to the next free variant of ``base``."""
        dropped = join(self.area, name)
        error = {"file": dropped, "run_id": self.run_id, "source": source or self.objects.uri(join(INCOMING, dropped)),
                 "reason": reason, "records": records or []}  # fmt: skip
        key = f"{self._own(base) if base else self.quarantine_base(name)}.error.json"
        self.objects.write_bytes(key, json.dumps(error, ensure_ascii=False, indent=2).encode())
        return key

    def quarantine(self, key: str, name: str, reason: str) -> tuple[str, str]:
        """Move a whole input to quarantine with its ``.error.json``; returns both keys."""
        error_key = self.error(name, reason)  # written first: it holds the name against other runs
        target = error_key.removesuffix(".error.json")
        self.objects.move(key, target)
        log.error("quarantined file %s: %s", join(self.area, name), reason)
        return target, error_key

    def quarantine_records(self, name: str, parsed: ParsedFile, source: str | None = None) -> str:
        """Write the rejected records of an input (``<name>.rejected.<ext>``, as they were written) and why
        (``<name>.error.json``, whose key is returned) in its quarantine folder; the good records go on."""
        for rejected in parsed.rejected:
            log.warning("%s record %d (id=%s) quarantined: %s", name, rejected.record, rejected.id, rejected.reason)
        reason = f"{len(parsed.rejected)} of {parsed.read} records failed validation"
        # the record first: it holds the name against other runs, and the rejected lines go beside it
        error_key = self.error(name, reason, [r.to_doc() for r in parsed.rejected], source=source)
        lines = "".join(rejected.raw.rstrip("\n") + "\n" for rejected in parsed.rejected)
        rejected_key = f"{error_key.removesuffix('.error.json')}.rejected{PurePosixPath(name).suffix}"
        self.objects.write_bytes(rejected_key, lines.encode())
        return error_key

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
    returns what an earlier attempt of the same run moved. Each file is claimed with ``ObjectStore.claim``: of runs
    claiming at once exactly one takes it, and the others skip it. Anything in ``incoming/`` (``verified/`` too) that
    is not a plain file, a symbolic link above all, is never followed: it is removed, and
    ``quarantine/<date>/<name>.error.json`` says what it was and why.
    """
    claimed = join("processing", run_id)
    run_date = run_date or datetime.now(UTC).strftime("%Y-%m-%d")
    if orphan_after_seconds:
        _adopt_orphans(objects, run_id, orphan_after_seconds, time.time())
    for key, what in objects.unsafe(join(INCOMING, selector)).items():
        _refuse(objects, run_id, run_date, key, what)
    # verified labels are imported by nightly_retraining, not problems to label
    dropped = [key for key in objects.list(join(INCOMING, selector)) if not key.startswith(VERIFIED_DROP + "/")]
    for key in settled(objects, dropped, settle_seconds):
        target = join(claimed, PurePosixPath(key).relative_to(INCOMING).as_posix())
        try:
            if objects.claim(key, target, run_id):
                log.info("claimed %s", key)
            else:
                log.info("%s was claimed by another run first: left to it", key)
        except StoreError as exc:
            log.warning("could not claim %s: %s", key, exc)
    return claimed_files(objects, run_id, run_date)


def _refuse(objects: ObjectStore, run_id: str, run_date: str, key: str, what: str) -> None:
    """Record why an entry of ``incoming/`` that is no plain file is refused, then remove it (a link itself: its
    target is never touched). Kept in quarantine, a link would still point out of the store for whoever opens it."""
    name = PurePosixPath(key).relative_to(INCOMING).as_posix()
    area = VERIFIED if name.startswith(VERIFIED + "/") else ""
    name = name.removeprefix(VERIFIED + "/") if area else name
    reason = (f"{what} is never followed nor read: the drop folder takes plain files only, so it was removed from "
              "incoming/ and what it points to was left untouched; copy the file itself in")  # fmt: skip
    error_key = Filing(objects, run_id, run_date, area).error(name, reason)
    objects.delete(key)
    log.error("refused %s: %s (%s)", key, what, error_key)


def _modified(objects: ObjectStore, key: str) -> float | None:
    """When ``key`` last changed, or None if it is gone (another run moved it since it was listed)."""
    try:
        return objects.modified(key)
    except StoreError as exc:
        log.info("%s is gone since it was listed: %s", key, exc)
        return None


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
        error_key = filing.error(name, f"{len(refused)} member(s) of the archive refused", refused)
        objects.write_bytes(error_key.removesuffix(".error.json"), data)
        for item in refused:
            log.error("%s: member %s refused: %s", name, item["id"], item["reason"])
    filing.file(key, name, data)
    log.info("unpacked %s: %d member(s)", name, len(members) - len(refused))


def _adopt_orphans(objects: ObjectStore, run_id: str, orphan_after_seconds: float, now: float) -> None:
    """Take over the inputs of runs that died: their processing folder untouched for ``orphan_after_seconds``.
    Two runs adopting at once share nothing: each file is claimed (``ObjectStore.claim``) by one of them."""
    folders: dict[str, list[str]] = {}
    for key in objects.list("processing"):
        folder = key.split("/", 2)[1]
        if not folder.startswith("."):  # .claims: claims in progress, not a run
            folders.setdefault(folder, []).append(key)
    for folder, keys in folders.items():
        times = [t for t in (_modified(objects, k) for k in keys) if t is not None]
        if folder == run_id or not times or now - max(times) < orphan_after_seconds:
            continue
        old = join("processing", folder)
        for key in keys:
            if key.startswith(join(old, "chunks") + "/"):
                objects.delete(key)  # derived from the input; the new run writes its own
                continue
            target = join("processing", run_id, PurePosixPath(key).relative_to(old).as_posix())
            try:
                if objects.claim(key, target, run_id):
                    log.warning("adopted %s from run %s, idle for over %.0fs", key, folder, orphan_after_seconds)
            except StoreError as exc:
                log.warning("could not adopt %s: %s", key, exc)
