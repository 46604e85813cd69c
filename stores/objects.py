"""Object store: S3 in production, a local folder with the same layout for the embedded stack.

Keys are POSIX-style paths relative to the store root (``incoming/set1.jsonl``).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, runtime_checkable

from stores.errors import StoreError

log = logging.getLogger(__name__)

# The folders of ARCHITECTURE.md's object-store layout.
LAYOUT = ("curriculum", "incoming", "processing", "processed", "quarantine", "input-data", "models", "logs", "reports")
CLAIMS = "processing/.claims"  # S3 claim markers: one per object being claimed, while it is
STALE_CLAIM_SECONDS = 15 * 60  # a marker this old on an object still unmoved: its claimant died between the two
_NEVER_FOLLOWED = "the object store never follows a symbolic link"
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key, else raise StoreError."""
    path = PurePosixPath(key)
    if not key or path.is_absolute() or ".." in path.parts or key.endswith("/"):
        raise StoreError(f"invalid object key {key!r}: must be a relative path without '..'")
    return str(path)


def join(*parts: str) -> str:
    """Join key parts with '/', ignoring empty ones."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


@runtime_checkable
class ObjectStore(Protocol):
    """What the pipeline needs of an object store."""

    def list(self, prefix: str = "") -> list[str]:
        """Keys under ``prefix`` (recursive), sorted."""

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int: ...

    def modified(self, key: str) -> float:
        """Last modification time, seconds since the epoch."""

    def read_bytes(self, key: str) -> bytes: ...

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write atomically: readers see the old object or the new one, never a part."""

    def create(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if no object is there: of writers racing for one key exactly one gets True (markers
        of something done once, such as an alert sent)."""

    def move(self, src: str, dst: str) -> None:
        """Move an object; afterwards ``src`` is gone and ``dst`` holds its bytes."""

    def claim(self, src: str, dst: str, owner: str) -> bool:
        """Move ``src`` to ``dst`` for ``owner`` (a run id) unless another claimant takes it: of any number racing
        for one object exactly one gets True; the others get False and leave it (as when ``src`` is gone)."""

    def unsafe(self, prefix: str = "") -> dict[str, str]:
        """Entries under ``prefix`` that are no object and are never read (symbolic links, pipes), each with what it
        is: ``list`` leaves them out. S3 has none."""

    def delete(self, key: str) -> None: ...

    def uri(self, key: str) -> str:
        """A URI naming the object, for label documents and reports."""


class _NoObject(StoreError):
    """No plain file at a key of the local store (as opposed to a link or an unreadable one)."""


class LocalObjectStore:
    """The object store as a local folder (``var/objects``).

    Nothing under the root is followed: a symbolic link (to a file or a folder, inside the root or out of it) or any
    other entry that is not a plain file is no object. ``list`` leaves it out, ``unsafe`` names it, and every read,
    stat or move refuses it. Paths are opened one component at a time relative to the folder above (``O_NOFOLLOW``),
    so a link swapped in between a check and a use is refused too. The root itself may be a link (a mounted volume).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def ensure_layout(self) -> None:
        """Create the top-level folders of the layout."""
        for name in LAYOUT:
            (self.root / name).mkdir(parents=True, exist_ok=True)

    @contextmanager
    def _folder(self, key: str, *, create: bool = False) -> Iterator[tuple[int, str]]:
        """A descriptor of the folder holding ``key`` and the key's last name; no link on the way is followed."""
        parts = PurePosixPath(check_key(key)).parts
        if create:
            self.root.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.root, _DIR_FLAGS)  # the root may be a link: the operator chose it
        except FileNotFoundError as exc:
            raise _NoObject(f"no object {key!r}: {self.root} does not exist") from exc
        try:
            for part in parts[:-1]:
                if create:
                    with suppress(FileExistsError):
                        os.mkdir(part, dir_fd=fd)
                try:
                    child = os.open(part, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as exc:  # ELOOP, or ENOTDIR as O_DIRECTORY is checked first on some systems
                    if stat.S_ISLNK(os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode):
                        raise StoreError(f"{key!r}: {part!r} is a symbolic link: {_NEVER_FOLLOWED}") from exc
                    raise
                os.close(fd)
                fd = child
            yield fd, parts[-1]
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise _NoObject(f"no object {key!r} in {self.root}") from exc
        except OSError as exc:
            raise StoreError(f"{key!r} in {self.root}: {exc}") from exc
        finally:
            os.close(fd)

    def _stat(self, key: str) -> os.stat_result:
        """``key``'s own status, never its link target's; a StoreError unless it is a plain file."""
        with self._folder(key) as (folder, name):
            status = os.stat(name, dir_fd=folder, follow_symlinks=False)
        if stat.S_ISLNK(status.st_mode):
            raise StoreError(f"{key!r} is a symbolic link: {_NEVER_FOLLOWED}")
        if not stat.S_ISREG(status.st_mode):
            raise _NoObject(f"no object {key!r} in {self.root}: not a plain file")
        return status

    def _entries(self, prefix: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
        """Every entry under ``prefix`` but folders, with its key; folders are entered, links never."""
        base = self.root
        for part in PurePosixPath(check_key(prefix)).parts if prefix else ():
            base = base / part
            if base.is_symlink():
                raise StoreError(f"{prefix!r}: {base.relative_to(self.root)} is a symbolic link: {_NEVER_FOLLOWED}")
        if not base.is_dir():
            return
        folders = [base]
        while folders:
            with os.scandir(folders.pop()) as found:
                for entry in found:
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(Path(entry.path))
                    else:
                        yield Path(entry.path).relative_to(self.root).as_posix(), entry

    def list(self, prefix: str = "") -> list[str]:
        prefix = prefix.rstrip("/")
        if prefix and self.exists(prefix):
            return [prefix]
        keys = (key for key, entry in self._entries(prefix) if entry.is_file(follow_symlinks=False))
        return sorted(k for k in keys if not PurePosixPath(k).name.startswith(".tmp-"))

    def unsafe(self, prefix: str = "") -> dict[str, str]:
        found = {}
        for key, entry in self._entries(prefix.rstrip("/")):
            if entry.is_symlink():
                found[key] = f"a symbolic link (to {os.readlink(entry.path)!r})"  # the link's text; never opened
            elif not entry.is_file(follow_symlinks=False):
                found[key] = "not a plain file (a device, pipe or socket)"
        return dict(sorted(found.items()))

    def exists(self, key: str) -> bool:
        try:
            self._stat(key)
        except StoreError:
            return False
        return True

    def size(self, key: str) -> int:
        return self._stat(key).st_size

    def modified(self, key: str) -> float:
        return self._stat(key).st_mtime

    def read_bytes(self, key: str) -> bytes:
        with self._folder(key) as (folder, name):
            try:
                # O_NONBLOCK: a pipe would block the open; fstat then refuses it
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC, dir_fd=folder)
            except FileNotFoundError as exc:
                raise _NoObject(f"no object {key!r} in {self.root}") from exc
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise StoreError(f"{key!r} is a symbolic link: {_NEVER_FOLLOWED}") from exc
                raise StoreError(f"cannot read {key!r} in {self.root}: {exc}") from exc
            with os.fdopen(fd, "rb") as handle:
                if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                    raise StoreError(f"no object {key!r} in {self.root}: not a plain file")
                return handle.read()

    @staticmethod
    def _complete_temp(folder: int, data: bytes) -> str:
        """A new temporary file in ``folder`` holding ``data`` (its name): renamed or linked into place whole."""
        tmp = f".tmp-{uuid.uuid4().hex}"
        # Not mkstemp: its files are 0600. os.open's mode is masked by the umask, as any other file's is.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC, 0o666, dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=folder)
            raise
        return tmp

    def write_bytes(self, key: str, data: bytes) -> None:
        with self._folder(key, create=True) as (folder, name):
            tmp = self._complete_temp(folder, data)
            try:
                os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)  # over a link: replaces the link itself
            except BaseException:
                with suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=folder)
                raise

    def move(self, src: str, dst: str) -> None:
        if not self._rename(src, dst):
            raise StoreError(f"cannot move {src!r}: no such object in {self.root}")

    def create(self, key: str, data: bytes) -> bool:
        """A hard link of a complete temporary file: the link fails if the name exists, and readers never see a
        part of the object."""
        with self._folder(key, create=True) as (folder, name):
            tmp = self._complete_temp(folder, data)
            try:
                os.link(tmp, name, src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
            except FileExistsError:
                return False
            finally:
                with suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=folder)
        return True

    def claim(self, src: str, dst: str, owner: str) -> bool:
        """One rename: of claimants racing for ``src`` exactly one finds it; the others get False."""
        return self._rename(src, dst)

    def _rename(self, src: str, dst: str) -> bool:
        """Rename the plain file ``src`` to ``dst`` (atomic); False if ``src`` is gone, a StoreError if not a file."""
        try:
            self._stat(src)
        except _NoObject:
            return False
        with self._folder(src) as (src_folder, src_name), self._folder(dst, create=True) as (dst_folder, dst_name):
            try:
                os.replace(src_name, dst_name, src_dir_fd=src_folder, dst_dir_fd=dst_folder)
            except FileNotFoundError:  # another claimant renamed it first
                return False
        return True

    def delete(self, key: str) -> None:
        """Remove ``key``; a link is removed itself, its target never touched."""
        with suppress(_NoObject), self._folder(key) as (folder, name):
            os.unlink(name, dir_fd=folder)

    def uri(self, key: str) -> str:
        return (self.root.resolve() / check_key(key)).as_uri()  # the key's own path: its links are not resolved


class S3ObjectStore:
    """The object store in an S3 bucket, through an injected boto3 S3 client.

    On Airflow the client comes from ``S3Hook(aws_conn_id=...).get_conn()``; in tests from moto's server.
    """

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def _key(self, key: str) -> str:
        return join(self.prefix, check_key(key))

    def _strip(self, full: str) -> str:
        return full[len(self.prefix) + 1 :] if self.prefix else full

    def list(self, prefix: str = "") -> list[str]:
        full = join(self.prefix, prefix)
        if prefix and not prefix.endswith("/") and self.exists(prefix):
            return [prefix]
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=f"{full}/" if full else ""):
            keys.extend(self._strip(item["Key"]) for item in page.get("Contents", []))
        return sorted(k for k in keys if not k.endswith("/"))

    def _head(self, key: str) -> dict | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return None
            raise StoreError(f"s3://{self.bucket}/{self._key(key)}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise StoreError(f"no object s3://{self.bucket}/{self._key(key)}")
        return int(head["ContentLength"])

    def modified(self, key: str) -> float:
        head = self._head(key)
        if head is None:
            raise StoreError(f"no object s3://{self.bucket}/{self._key(key)}")
        return head["LastModified"].timestamp()

    def read_bytes(self, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        except ClientError as exc:
            raise StoreError(f"cannot read s3://{self.bucket}/{self._key(key)}: {exc}") from exc

    def write_bytes(self, key: str, data: bytes) -> None:
        # A single PUT is atomic in S3: readers never see a partial object.
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def create(self, key: str, data: bytes) -> bool:
        """A PUT with ``If-None-Match: *``: S3 lets exactly one of racing writers create the key."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*")
        except _client_error() as exc:
            if _code(exc) in _LOST:
                return False
            raise StoreError(f"cannot create {self.uri(key)}: {exc}") from exc
        return True

    def move(self, src: str, dst: str) -> None:
        if not self.exists(src):
            raise StoreError(f"cannot move {src!r}: no such object in s3://{self.bucket}/{self.prefix}")
        # Copy first, delete second: a crash in between leaves two copies, never zero.
        self.client.copy_object(
            Bucket=self.bucket, Key=self._key(dst), CopySource={"Bucket": self.bucket, "Key": self._key(src)}
        )
        self.client.delete_object(Bucket=self.bucket, Key=self._key(src))

    def claim(self, src: str, dst: str, owner: str) -> bool:
        """Move ``src`` once a marker only one claimant can create says ``owner`` holds it.

        The marker ``processing/.claims/<sha256 of the key, ETag and time>`` is written with ``If-None-Match: *``,
        so of claimants racing for one object S3 lets exactly one create it; the others skip the object. It is
        removed once the object is moved, and a new object dropped under the same key gets its own marker. A
        retried claim of the same ``owner`` finds its own marker and finishes the move; a marker left by a claimant
        that died before moving is taken over after ``STALE_CLAIM_SECONDS`` (with ``If-Match``, so by one only).
        """
        head = self._head(src)
        if head is None:
            return False
        marker = self._marker(src, head)
        if not self._mark(marker, owner):
            return False
        try:
            # CopySourceIfMatch: a different object written under the key since the HEAD is not this claim's
            self.client.copy_object(Bucket=self.bucket, Key=self._key(dst), CopySourceIfMatch=head["ETag"],
                                    CopySource={"Bucket": self.bucket, "Key": self._key(src)})  # fmt: skip
        except _client_error() as exc:
            self.client.delete_object(Bucket=self.bucket, Key=marker)
            if _code(exc) in _GONE | _LOST:
                return False
            raise StoreError(f"cannot claim {self.uri(src)}: {exc}") from exc
        self.client.delete_object(Bucket=self.bucket, Key=self._key(src))
        self.client.delete_object(Bucket=self.bucket, Key=marker)
        return True

    def _marker(self, src: str, head: dict) -> str:
        """The claim marker's full key for the object now at ``src`` (as its HEAD describes it)."""
        identity = f"{src}\n{head['ETag']}\n{head['LastModified'].isoformat()}"
        return self._key(join(CLAIMS, hashlib.sha256(identity.encode()).hexdigest()))

    def _mark(self, marker: str, owner: str) -> bool:
        """Create the claim ``marker`` for ``owner`` unless it exists; True if ``owner`` holds it now."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=marker, Body=owner.encode(), IfNoneMatch="*")
            return True
        except _client_error() as exc:
            if _code(exc) not in _LOST:
                raise StoreError(f"cannot write the claim marker s3://{self.bucket}/{marker}: {exc}") from exc
        try:
            held = self.client.get_object(Bucket=self.bucket, Key=marker)
        except _client_error() as exc:
            if _code(exc) in _GONE:  # released: its claimant moved the object, or found it gone
                return False
            raise StoreError(f"cannot read the claim marker s3://{self.bucket}/{marker}: {exc}") from exc
        if held["Body"].read().decode() == owner:
            return True  # this owner's earlier attempt: finish it
        if time.time() - held["LastModified"].timestamp() < STALE_CLAIM_SECONDS:
            return False
        try:
            self.client.put_object(Bucket=self.bucket, Key=marker, Body=owner.encode(), IfMatch=held["ETag"])
        except _client_error() as exc:
            if _code(exc) in _LOST | _GONE:
                return False
            raise StoreError(f"cannot take over the claim marker s3://{self.bucket}/{marker}: {exc}") from exc
        log.warning("took over the claim of %s's claimant, idle for over %ds", marker, STALE_CLAIM_SECONDS)
        return True

    def unsafe(self, prefix: str = "") -> dict[str, str]:
        return {}  # S3 has no links: every key is an object

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"


# S3 error codes: the object (or marker) is not there; another claimant won (409: a concurrent conditional write)
_GONE = {"404", "NoSuchKey", "NotFound"}
_LOST = {"412", "PreconditionFailed", "409", "ConditionalRequestConflict"}


def _client_error() -> type[Exception]:
    from botocore.exceptions import ClientError

    return ClientError


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
