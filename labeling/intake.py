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
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
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
HELD = ".archives"  # processing/<run>/.archives/<archive>: unpacked, filed once all its members are filed
RUNS = "processing/.runs"  # <run>.json: a claiming run's scheduler id and what its claim left, while it holds files
RunAlive = Callable[[str], "bool | None"]  # a run's scheduler id -> still running? (None: cannot tell)


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


@dataclass
class Claim:
    """What a run claimed, how many files wait for the next run, and the files held by runs still alive."""

    files: list[str]
    left_for_next_run: int = 0  # in incoming/ (over the bound, or still settling), or held by a run over
    stuck: list[dict[str, str]] = field(default_factory=list)  # {"run_id", "file"}: waiting on a live run

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def claim_files(objects: ObjectStore, run_id: str, selector: str = "", **options: Any) -> list[str]:
    """The files ``claim_run`` claims (its options alike)."""
    return claim_run(objects, run_id, selector, **options).files


def claim_run(
    objects: ObjectStore,
    run_id: str,
    selector: str = "",
    *,
    settle_seconds: float = 0.0,
    orphan_after_seconds: float = 0.0,
    run_date: str | None = None,
    max_files: int = 0,
    run_alive: RunAlive | None = None,
    run_name: str | None = None,
) -> Claim:
    """Move files from ``incoming/`` (or the part ``selector`` names) into ``processing/<run_id>/``.

    Files modified within the last ``settle_seconds`` are left for the next run (they may still be copied in).
    With ``max_files`` a run holds at most that many files (an archive's members count one each): the rest wait in
    ``incoming/`` for the next run, an archive's members too (``incoming/<archive>.d/``). Inputs of another run are
    taken over when that run is over: ``run_alive`` (given the scheduler's id of a run that claimed, ``run_name``
    here) says so at once; without it, or when it cannot tell, the run's folder idle for ``orphan_after_seconds``
    does (0: never); the files of a run still alive are listed as stuck. Zip archives are unpacked into
    ``<archive>.d/`` and their members claimed as files; the archive is filed once all its members are
    (``release``). ``files`` is every file in the run's processing folder, so a retried claim also returns what an
    earlier attempt of the same run moved. Each file is claimed with ``ObjectStore.claim``: of runs claiming at once
    exactly one takes it, and the others skip it. Anything in ``incoming/`` (``verified/`` too) that is not a plain
    file, a symbolic link above all, is never followed: it is removed, and ``quarantine/<date>/<name>.error.json``
    says what it was and why.
    """
    claimed = join("processing", run_id)
    run_date = run_date or datetime.now(UTC).strftime("%Y-%m-%d")
    filing = Filing(objects, run_id, run_date)
    _mark(objects, run_id, {"run_id": run_name or run_id})  # first: a run taking over asks about this one by it
    room = max_files - len(_inputs(objects, claimed)) if max_files else None
    room, waiting, stuck = _take_over(objects, run_id, room, orphan_after_seconds, run_alive, time.time())
    for key, what in objects.unsafe(join(INCOMING, selector)).items():
        _refuse(objects, run_id, run_date, key, what)
    for key in settled(objects, _dropped(objects, selector), settle_seconds):
        if room is not None and room <= 0:
            break
        target = join(claimed, PurePosixPath(key).relative_to(INCOMING).as_posix())
        try:
            if not objects.claim(key, target, run_id):
                log.info("%s was claimed by another run first: left to it", key)
                continue
        except StoreError as exc:
            log.warning("could not claim %s: %s", key, exc)
            continue
        log.info("claimed %s", key)
        kept = _unpack(filing, target, claimed, room) if _is_archive(target, claimed) else 1
        room = None if room is None else room - kept
    files = claimed_files(objects, run_id, run_date, max_files)
    left = len(_dropped(objects, selector)) + waiting
    if left:
        log.warning("%d file(s) left for the next run (a run takes at most %s)", left, max_files or "all")
    for item in stuck:
        log.warning("%s waits on run %s, still running", item["file"], item["run_id"])
    outcome = Claim(files, left, stuck)
    _mark(objects, run_id, {"run_id": run_name or run_id, "left_for_next_run": left, "stuck": stuck})
    return outcome


def _dropped(objects: ObjectStore, selector: str) -> list[str]:
    """The files waiting in ``incoming/`` (or its part ``selector``): verified labels are nightly_retraining's."""
    return [key for key in objects.list(join(INCOMING, selector)) if not key.startswith(VERIFIED_DROP + "/")]


def _mark(objects: ObjectStore, run_id: str, marker: dict[str, Any]) -> None:
    objects.write_bytes(join(RUNS, f"{run_id}.json"), json.dumps(marker, ensure_ascii=False).encode())


def claim_outcome(objects: ObjectStore, run_id: str) -> dict[str, Any]:
    """What the run's claim left for the next run and found stuck (``Claim``), for its report; {} if it claimed none."""
    marker = _marker(objects, run_id) or {}
    return {key: marker[key] for key in ("left_for_next_run", "stuck") if key in marker}


def _marker(objects: ObjectStore, run_id: str) -> dict[str, Any] | None:
    """The marker of the run whose folder is ``processing/<run_id>``, or None (a CLI run, or none left)."""
    try:
        marker = json.loads(objects.read_bytes(join(RUNS, f"{run_id}.json")))
    except (StoreError, ValueError):
        return None
    return marker if isinstance(marker, dict) else None


def _inputs(objects: ObjectStore, claimed: str) -> list[str]:
    """The inputs in a run's folder ``claimed``: neither its chunks nor the archives it holds."""
    skip = (join(claimed, "chunks") + "/", join(claimed, HELD) + "/")
    return [key for key in objects.list(claimed) if not key.startswith(skip)]


def _is_archive(key: str, claimed: str) -> bool:
    """A zip to unpack: not a member of another archive (those are labeled, or refused, as files)."""
    name = PurePosixPath(key).relative_to(claimed).as_posix().lower()
    return name.endswith(".zip") and f".zip{ZIP_MEMBERS}/" not in name and not name.startswith(("chunks/", HELD))


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


def claimed_files(objects: ObjectStore, run_id: str, run_date: str, max_files: int = 0) -> list[str]:
    """Unpack the zip archives in ``processing/<run_id>/`` and return the inputs there: what the run labels.

    ``claim_run`` ends with it; ``mathlabel label`` writes its file straight into the run's folder and calls it,
    so its paths under ``processed/`` and ``quarantine/`` are those of the same file dropped into ``incoming/``.
    With ``max_files``, members over that many inputs wait in ``incoming/<archive>.d/`` for the next run.
    """
    claimed = join("processing", run_id)
    for key in objects.list(claimed):
        if _is_archive(key, claimed):
            room = max(0, max_files - len(_inputs(objects, claimed))) if max_files else None
            _unpack(Filing(objects, run_id, run_date), key, claimed, room)
    return _inputs(objects, claimed)


def _unpack(filing: Filing, key: str, claimed: str, room: int | None = None) -> int:
    """Expand a claimed zip into ``<archive>.d/`` beside it, then hold the archive (``.archives/``) until its members
    are filed; returns how many members the run took. Over ``room`` members, the rest go to
    ``incoming/<archive>.d/``: the next run takes them as dropped files.

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
            for number, (member, target) in enumerate(safe):
                if room is not None and number >= room:  # the same path under incoming/: left for the next run
                    target = join(INCOMING, PurePosixPath(target).relative_to(claimed).as_posix())
                objects.write_bytes(target, archive.read(member))
    except (zipfile.BadZipFile, IngestError, StoreError) as exc:
        filing.quarantine(key, name, f"unusable zip archive: {exc}")
        return 0
    if refused:
        error_key = filing.error(name, f"{len(refused)} member(s) of the archive refused", refused)
        objects.write_bytes(error_key.removesuffix(".error.json"), data)
        for item in refused:
            log.error("%s: member %s refused: %s", name, item["id"], item["reason"])
    objects.move(key, join(claimed, HELD, name))
    kept = len(safe) if room is None else min(room, len(safe))
    log.info("unpacked %s: %d member(s), %d left for the next run", name, len(safe), len(safe) - kept)
    return kept


def release(filing: Filing) -> list[str]:
    """File the archives the run holds whose members are all filed (none left in ``incoming/`` or any run's
    folder), and drop the run's marker once its folder is empty; returns where the archives went."""
    objects = filing.objects
    claimed = join("processing", filing.run_id)
    filed = []
    held = objects.list(join(claimed, HELD))
    if held:
        pending = [key.split("/", 2)[2] for key in objects.list("processing") if key.count("/") >= 2]
        for key in held:
            name = PurePosixPath(key).relative_to(join(claimed, HELD)).as_posix()
            members = name + ZIP_MEMBERS + "/"
            if any(p.startswith(members) for p in pending) or objects.list(join(INCOMING, name + ZIP_MEMBERS)):
                log.info("%s: members still to label; the archive waits for them", name)
                continue
            filed.append(filing.file(key, name))
    marker = join(RUNS, f"{filing.run_id}.json")
    if not objects.list(claimed) and objects.exists(marker):
        objects.delete(marker)
    return filed


def _take_over(
    objects: ObjectStore,
    run_id: str,
    room: int | None,
    orphan_after_seconds: float,
    run_alive: RunAlive | None,
    now: float,
) -> tuple[int | None, int, list[dict[str, str]]]:
    """Take over the inputs of runs that are over (up to ``room``): returns the room left, how many inputs of runs
    over are left for the next run, and the inputs of runs still alive. Two runs taking over at once share
    nothing: each file is claimed (``ObjectStore.claim``) by one of them."""
    folders: dict[str, list[str]] = {}
    for key in objects.list("processing"):
        folder = key.split("/", 2)[1]
        if not folder.startswith(".") and folder != run_id:  # .claims, .runs: no run's inputs
            folders.setdefault(folder, []).append(key)
    waiting, stuck = 0, []
    for folder, keys in folders.items():
        old = join("processing", folder)
        marker = _marker(objects, folder)
        name = str(marker.get("run_id") or folder) if marker else folder
        alive = run_alive(name) if marker is not None and run_alive is not None else None
        why = _over(objects, keys, alive, orphan_after_seconds, now)
        if why is None:
            stuck += [{"run_id": name, "file": PurePosixPath(k).relative_to(old).as_posix()}
                      for k in _inputs(objects, old)]  # fmt: skip
            continue
        for key in keys:
            if key.startswith(join(old, "chunks") + "/"):
                objects.delete(key)  # derived from the input; the new run writes its own
                continue
            held = key.startswith(join(old, HELD) + "/")
            if not held and room is not None and room <= 0:
                waiting += 1
                continue
            target = join("processing", run_id, PurePosixPath(key).relative_to(old).as_posix())
            try:
                if objects.claim(key, target, run_id):
                    log.warning("took over %s from run %s (%s)", key, name, why)
                    room = room if room is None or held else room - 1
            except StoreError as exc:
                log.warning("could not take over %s: %s", key, exc)
        if marker is not None and not objects.list(old):
            objects.delete(join(RUNS, f"{folder}.json"))
    for key in objects.list(RUNS):  # markers of runs that hold nothing and are over
        folder = PurePosixPath(key).name.removesuffix(".json")
        if folder != run_id and folder not in folders and not (run_alive and run_alive(_name(objects, folder))):
            objects.delete(key)
    return room, waiting, stuck


def _name(objects: ObjectStore, folder: str) -> str:
    marker = _marker(objects, folder) or {}
    return str(marker.get("run_id") or folder)


def _over(
    objects: ObjectStore, keys: list[str], alive: bool | None, orphan_after_seconds: float, now: float
) -> str | None:
    """Why a run's inputs are taken over (the run is over), or None while it may be alive: ``alive`` is what the
    scheduler says (None: it cannot tell, a run it never started); else its folder idle ``orphan_after_seconds``."""
    if alive is not None:
        return None if alive else "the run is no longer running"
    times = [t for t in (_modified(objects, k) for k in keys) if t is not None]
    if orphan_after_seconds and times and now - max(times) >= orphan_after_seconds:
        return f"its folder idle for over {orphan_after_seconds:.0f}s"
    return None
