"""Synthetic worksheet pages: the same seed gives the same page, boxes are exact, and the YOLO dataset loads."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import yaml

from stores.objects import LocalObjectStore
from training import pages
from training.pages import CLASSES, Page, fonts, generate_page, write_yolo_dataset

SEEDS = range(10)
LABEL = re.compile(r"^(\[\d+\]|\d+\.|\d{2})$")  # the printed problem number: "3.", "[3]", "03"


@pytest.fixture(scope="module")
def clean() -> list[Page]:
    return [generate_page(seed, noise=False) for seed in SEEDS]


@pytest.fixture(scope="module")
def noisy() -> list[Page]:
    return [generate_page(seed, noise=True) for seed in SEEDS[:5]]


def _inside(inner: tuple[int, ...], outer: tuple[int, ...]) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def test_the_same_seed_gives_the_same_page_and_other_seeds_other_pages():
    first, again, other = generate_page(7), generate_page(7), generate_page(8)
    assert first.image.tobytes() == again.image.tobytes()
    assert (first.regions, first.lines, first.problems, first.noisy) == (
        again.regions,
        again.lines,
        again.problems,
        again.noisy,
    )
    assert first.image.tobytes() != other.image.tobytes()
    assert first.regions != other.regions


def test_noise_is_decided_by_the_seed_and_keeps_the_content():
    decided = [generate_page(seed).noisy for seed in range(12)]
    assert 2 <= sum(decided) <= 10  # about half
    clean, noisy = generate_page(3, noise=False), generate_page(3, noise=True)
    assert not clean.noisy and noisy.noisy
    assert [(r.cls, r.text) for r in clean.regions] == [(r.cls, r.text) for r in noisy.regions]
    assert clean.image.tobytes() != noisy.image.tobytes()


def test_every_box_is_inside_the_page_with_a_known_class(clean, noisy):
    for page in clean + noisy:
        assert page.image.mode == "RGB" and page.image.size == (1240, 1754)
        assert page.regions and page.lines and page.problems
        for box in [r.box for r in page.regions] + [t.box for t in page.lines]:
            x0, y0, x1, y1 = box
            assert 0 <= x0 < x1 <= 1240 and 0 <= y0 < y1 <= 1754, box
        assert {r.cls for r in page.regions} <= set(CLASSES)
        assert {t.kind for t in page.lines} <= {"korean", "formula"}


def test_each_problem_is_one_region_enclosing_its_parts(clean, noisy):
    several = 0
    for page in clean + noisy:
        numbers = [p["number"] for p in page.problems]
        assert [r.problem for r in page.regions if r.cls == "problem"] == numbers
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
        several += len(numbers) > 1
        boxes = {p["number"]: p["box"] for p in page.problems}
        for item in [r for r in page.regions if r.cls != "problem"] + page.lines:
            assert item.problem == 0 or item.problem in boxes
            if item.problem:
                assert _inside(item.box, boxes[item.problem]), (page.seed, item)
        for a in page.problems:  # problems never overlap, in one column or two
            for b in page.problems:
                if a is not b:
                    ax0, ay0, ax1, ay1 = a["box"]
                    bx0, by0, bx1, by1 = b["box"]
                    assert ax1 <= bx0 or bx1 <= ax0 or ay1 <= by0 or by1 <= ay0
    assert several >= 3


def _ink_box(gray: np.ndarray, box: tuple[int, int, int, int], ring: int = 2) -> tuple[int, ...]:
    """The bounding box of what differs from the paper around ``box``, after checking that the ``ring`` pixels
    around the box hold only paper (so nothing drawn touches the box from outside)."""
    x0, y0, x1, y1 = box
    X0, Y0 = max(x0 - ring, 0), max(y0 - ring, 0)
    X1, Y1 = min(x1 + ring, gray.shape[1]), min(y1 + ring, gray.shape[0])
    crop = gray[Y0:Y1, X0:X1]
    inside = np.zeros(crop.shape, bool)
    inside[y0 - Y0 : y1 - Y0, x0 - X0 : x1 - X0] = True
    around = crop[~inside]
    paper = np.bincount(around).argmax() if around.size else 255
    assert (around == paper).all(), f"ink within {ring}px outside {box}"
    ys, xs = np.nonzero(crop != paper)
    return (int(xs.min()) + X0, int(ys.min()) + Y0, int(xs.max()) + 1 + X0, int(ys.max()) + 1 + Y0)


def test_boxes_are_the_tight_boxes_of_their_ink_on_clean_pages(clean):
    for page in clean:
        gray = np.asarray(page.image.convert("L"))
        for item in page.lines + page.regions:
            assert _ink_box(gray, item.box) == item.box, (page.seed, item)
            crop = gray[item.box[1] : item.box[3], item.box[0] : item.box[2]]
            assert (crop < 160).any(), (page.seed, item)  # real ink, not a faint smudge


def test_text_lines_carry_the_ground_truth_of_their_problem(clean):
    for page in clean:
        texts = {p["number"]: p["text"] for p in page.problems}
        kinds = {t.kind for t in page.lines}
        assert "korean" in kinds
        for line in page.lines:
            assert line.text.strip() == line.text and line.text
            if line.problem and not LABEL.match(line.text):
                assert line.text in texts[line.problem], (page.seed, line)
        for region in page.regions:
            if region.cls == "choices":
                assert re.fullmatch(r"① .+ ② .+ ③ .+ ④ .+ ⑤ .+", region.text)
                assert region.text in texts[region.problem]
    formulas = [t.text for page in clean for t in page.lines if t.kind == "formula"]
    assert formulas and all("\\" not in f and "$" not in f for f in formulas)  # linear form, not TeX


def test_a_missing_font_names_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setattr(fonts, "FONT_DIR", tmp_path)
    monkeypatch.setattr(fonts.shutil, "which", lambda name: None)
    pages.font_file.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="fonts-nanum"):
            pages.font_file("gothic")
    finally:
        pages.font_file.cache_clear()


def _files(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_write_yolo_dataset_writes_a_loadable_deterministic_dataset(tmp_path):
    store = LocalObjectStore(tmp_path / "a")
    manifest = write_yolo_dataset(store, "v1", train=3, val=2, seed=5)
    prefix = "input-data/layout/v1"
    assert manifest["pages"] == {"train": 3, "val": 2}
    for split, count in (("train", 3), ("val", 2)):
        for kind in ("images", "labels", "lines", "problems"):
            assert len(store.list(f"{prefix}/{kind}/{split}")) == count
    counts = dict.fromkeys(CLASSES, 0)
    for key in store.list(f"{prefix}/labels"):
        rows = store.read_bytes(key).decode().splitlines()
        assert rows
        for row in rows:
            cls, *coords = row.split()
            assert 0 <= int(cls) < len(CLASSES)
            assert len(coords) == 4 and all(0.0 <= float(v) <= 1.0 for v in coords)
            counts[CLASSES[int(cls)]] += 1
    assert manifest["regions"]["total"] == counts
    for key in store.list(f"{prefix}/lines"):
        for row in map(json.loads, store.read_bytes(key).decode().splitlines()):
            assert set(row) == {"box", "text", "kind", "problem", "noisy"}
    for key in store.list(f"{prefix}/problems"):
        for row in map(json.loads, store.read_bytes(key).decode().splitlines()):
            assert set(row) == {"number", "box", "text"} and row["text"]
    data = yaml.safe_load(store.read_bytes(f"{prefix}/data.yaml"))
    assert data["train"] == "images/train" and data["val"] == "images/val" and data["path"] is None
    assert data["names"] == dict(enumerate(CLASSES))
    assert json.loads(store.read_bytes(f"{prefix}/manifest.json")) == manifest

    # Same arguments, same bytes; a finished version is left alone, and is never rewritten with other parameters.
    write_yolo_dataset(LocalObjectStore(tmp_path / "b"), "v1", train=3, val=2, seed=5)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert write_yolo_dataset(store, "v1", train=3, val=2, seed=5) == manifest
    with pytest.raises(ValueError, match="other parameters"):
        write_yolo_dataset(store, "v1", train=4, val=2, seed=5)
