"""Hostile inputs for tests, built in memory and fast: zip bombs and zip slips, PNGs that lie, broken PDFs."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from PIL import Image


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def huge_png(width: int, height: int) -> bytes:
    """A PNG whose header says width x height (a decompression bomb: never decoded)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


def truncated_png() -> bytes:
    """The first half of a real page-sized PNG: its header reads, its pixels end early."""
    whole = png(Image.effect_noise((800, 1000), 64).convert("RGB"))
    return whole[: len(whole) // 2]


def zip_of(members: dict[str, bytes]) -> bytes:
    """A zip archive of ``members`` (names as given, ``../`` and all: a zip slip is a name)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def zip_bomb(name: str = "bomb.jsonl", mib: int = 513) -> bytes:
    """A valid zip of one member that inflates ``mib`` MiB of zeros from about ``mib`` KiB, built in under a second.

    Deflated once and repeated: a full flush ends each block byte-aligned with no reference back, so the same bytes
    inflate the next MiB. Written by hand (zipfile would deflate all ``mib`` MiB).
    """
    block_data = b"\0" * (1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(block_data) + deflate.flush(zlib.Z_FULL_FLUSH)
    data = block * mib + deflate.flush()
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(block_data, crc)
    size, encoded = mib << 20, name.encode()
    local = struct.pack("<4s5H3I2H", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), size, len(encoded), 0)
    central = struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), size, len(encoded),
                          0, 0, 0, 0, 0, 0)  # fmt: skip
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + len(encoded),
                      len(local) + len(encoded) + len(data), 0)  # fmt: skip
    return local + encoded + data + central + encoded + end
