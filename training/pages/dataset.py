"""A YOLO layout dataset of synthetic pages, written to the object store."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable, Sequence
from posixpath import join
from typing import Any

from PIL import Image

from stores.objects import ObjectStore
from training.pages.page import generate_page
from training.pages.regions import CLASSES, Page

LAYOUT = "input-data/layout"
GENERATOR = "pages-1"  # bump when the same seed would draw a different page


def page_seed(seed: int, split: str, index: int) -> int:
    """The seed of page ``index`` of ``split`` in a dataset made with ``seed``."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{split}/{index}".encode()).digest()[:8], "big") >> 1


def yolo_labels(page: Page) -> str:
    """YOLO detection labels: one ``cls cx cy w h`` line (normalised) per region."""
    w, h = page.image.size
    rows = []
    for reg in page.regions:
        x0, y0, x1, y1 = reg.box
        cx, cy, bw, bh = (x0 + x1) / 2 / w, (y0 + y1) / 2 / h, (x1 - x0) / w, (y1 - y0) / h
        rows.append(f"{CLASSES.index(reg.cls)} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}\n")
    return "".join(rows)


def _jsonl(rows: Sequence[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows).encode()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def data_yaml(version: str, seed: int) -> bytes:
    import yaml

    body = {
        "path": None,
        "train": "images/train",
        "val": "images/val",
        "nc": len(CLASSES),
        "names": dict(enumerate(CLASSES)),
    }
    head = (
        f"# Synthetic worksheet layouts {version} (training/pages.py, seed {seed}).\n"
        "# `path` is filled in by the trainer with the local folder it copies this dataset into.\n"
    )
    return (head + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)).encode()


def write_yolo_dataset(
    objects: ObjectStore,
    version: str,
    *,
    train: int,
    val: int,
    seed: int = 0,
    imgsz_hint: int | None = None,
    width: int = 1240,
    height: int = 1754,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, Any]:
    """Write a YOLO layout dataset of synthetic pages to ``input-data/layout/<version>/``.

    Files: ``images/<split>/<name>.png``; ``labels/<split>/<name>.txt`` (YOLO ``cls cx cy w h``); ``lines/<split>/
    <name>.jsonl`` (text lines: box, text, kind, problem, noisy); ``problems/<split>/<name>.jsonl`` (number, box,
    text); ``data.yaml``; ``manifest.json`` (written last: a dataset without it is incomplete and is rewritten).
    The same arguments always write the same bytes. A version, once complete, is never changed.

    Returns:
        The manifest.

    Raises:
        ValueError: the version exists with other parameters, or is not a plain name.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", version):
        raise ValueError(f"version must be a plain name such as v1, not {version!r}")
    prefix = join(LAYOUT, version)
    parameters = {
        "generator": GENERATOR,
        "seed": seed,
        "train": train,
        "val": val,
        "width": width,
        "height": height,
        "imgsz_hint": imgsz_hint,
        "noise": "decided by each page's seed, about half the pages",
        "page_seed": "first 8 bytes of sha256('<seed>/<split>/<index>'), big-endian, shifted right by 1",
    }
    manifest_key = join(prefix, "manifest.json")
    if objects.exists(manifest_key):
        existing = json.loads(objects.read_bytes(manifest_key))
        if existing.get("parameters") == parameters:
            return existing
        raise ValueError(f"{prefix} already holds a dataset made with other parameters; write a new version")
    files: dict[str, list[str]] = {}
    classes: dict[str, dict[str, int]] = {}
    noisy: dict[str, int] = {}
    for split, count in (("train", train), ("val", val)):
        classes[split] = dict.fromkeys(CLASSES, 0)
        noisy[split] = 0
        for index in range(count):
            page = generate_page(page_seed(seed, split, index), width=width, height=height)
            name = f"{index:06d}"
            lines = [
                {"box": list(t.box), "text": t.text, "kind": t.kind, "problem": t.problem, "noisy": page.noisy}
                for t in page.lines
            ]
            problems = [{"number": p["number"], "box": list(p["box"]), "text": p["text"]} for p in page.problems]
            for kind, suffix, data in (
                ("images", "png", _png(page.image)),
                ("labels", "txt", yolo_labels(page).encode()),
                ("lines", "jsonl", _jsonl(lines)),
                ("problems", "jsonl", _jsonl(problems)),
            ):
                objects.write_bytes(join(prefix, kind, split, f"{name}.{suffix}"), data)
                files.setdefault(f"{kind}/{split}", []).append(f"{hashlib.sha256(data).hexdigest()}  {name}.{suffix}\n")
            for reg in page.regions:
                classes[split][reg.cls] += 1
            noisy[split] += page.noisy
            if progress:
                progress(1)
    objects.write_bytes(join(prefix, "data.yaml"), data_yaml(version, seed))
    manifest = {
        "version": version,
        "prefix": prefix,
        "seed": seed,
        "parameters": parameters,
        "classes": list(CLASSES),
        "pages": {"train": train, "val": val},
        "noisy_pages": noisy,
        "regions": {
            "train": classes["train"],
            "val": classes["val"],
            "total": {c: classes["train"][c] + classes["val"][c] for c in CLASSES},
        },
        "files": {
            folder: {"count": len(rows), "sha256": hashlib.sha256("".join(rows).encode()).hexdigest()}
            for folder, rows in sorted(files.items())
        },
    }
    objects.write_bytes(manifest_key, json.dumps(manifest, ensure_ascii=False, indent=2).encode())
    return manifest
