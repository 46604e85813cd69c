"""Object store: S3 in production, a local folder with the same layout for the embedded stack.

Keys are POSIX-style paths relative to the store root (``incoming/set1.jsonl``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, runtime_checkable

from stores.errors import StoreError

# The folders of ARCHITECTURE.md's object-store layout.
LAYOUT = ("curriculum", "incoming", "processing", "processed", "quarantine", "input-data", "models", "logs", "reports")


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

    def move(self, src: str, dst: str) -> None:
        """Move an object; afterwards ``src`` is gone and ``dst`` holds its bytes."""

    def delete(self, key: str) -> None: ...

    def uri(self, key: str) -> str:
        """A URI naming the object, for label documents and reports."""


class LocalObjectStore:
    """The object store as a local folder (``var/objects``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def ensure_layout(self) -> None:
        """Create the top-level folders of the layout."""
        for name in LAYOUT:
            (self.root / name).mkdir(parents=True, exist_ok=True)

    def list(self, prefix: str = "") -> list[str]:
        base = self.root / prefix if prefix else self.root
        if base.is_file():
            return [prefix]
        if not base.is_dir():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in base.rglob("*") if p.is_file())
        return sorted(k for k in keys if not PurePosixPath(k).name.startswith(".tmp-"))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as exc:
            raise StoreError(f"no object {key!r} in {self.root}") from exc

    def modified(self, key: str) -> float:
        try:
            return self._path(key).stat().st_mtime
        except FileNotFoundError as exc:
            raise StoreError(f"no object {key!r} in {self.root}") from exc

    def read_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise StoreError(f"no object {key!r} in {self.root}") from exc

    def write_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
        # Not mkstemp: its files are 0600. os.open's mode is masked by the umask, as any other file's is.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def move(self, src: str, dst: str) -> None:
        source, target = self._path(src), self._path(dst)
        if not source.is_file():
            raise StoreError(f"cannot move {src!r}: no such object in {self.root}")
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def uri(self, key: str) -> str:
        return self._path(key).resolve().as_uri()


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

    def move(self, src: str, dst: str) -> None:
        if not self.exists(src):
            raise StoreError(f"cannot move {src!r}: no such object in s3://{self.bucket}/{self.prefix}")
        # Copy first, delete second: a crash in between leaves two copies, never zero.
        self.client.copy_object(
            Bucket=self.bucket, Key=self._key(dst), CopySource={"Bucket": self.bucket, "Key": self._key(src)}
        )
        self.client.delete_object(Bucket=self.bucket, Key=self._key(src))

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"
