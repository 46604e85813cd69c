"""Page layout without OCR: columns, lines, headers, problem numbers, and the checks on page files."""

import io

import numpy as np
import pytest
from PIL import Image

from labeling.vision import (
    PROBLEM_NUMBER,
    PageError,
    check_not_blank,
    deskew,
    find_lines,
    ink_mask,
    open_image,
)
from labeling.vision.reader import _close_gaps
from training.pages import generate_page


def _png(image: Image.Image, fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    ("text", "number"),
    [("12. 다음 식을", 12), ("3) 다음", 3), ("[7] 다음", 7), ("[11 부등식", 1), ("(4) 다음", 4), ("15번 다음", 15)],
)
def test_problem_numbers_are_recognised_in_the_forms_worksheets_print(text, number):
    match = PROBLEM_NUMBER.match(text)
    assert match and int(match.group(1) or match.group(2)) == number


@pytest.mark.parametrize("text", ["2x + 3 = 5", "1학기 기말고사", "180을 소인수분해하여", "x² − 5x"])
def test_text_that_merely_starts_with_a_digit_is_not_a_problem_number(text):
    assert PROBLEM_NUMBER.match(text) is None


def test_lines_follow_the_columns_of_a_two_column_page_in_reading_order():
    page = next(p for p in (generate_page(s, noise=False) for s in range(40)) if len(
        {g.box[0] > 600 for g in p.regions if g.cls == "problem"}) == 2)  # fmt: skip
    lines = [r for r in find_lines(ink_mask(page.image)) if r.cls != "header"]
    columns = [r.column for r in lines]
    assert columns == sorted(columns) and set(columns) == {0, 1}  # all of the left column, then the right
    for column in (0, 1):
        tops = [r.box[1] for r in lines if r.column == column]
        assert tops == sorted(tops)
    for problem in (g for g in page.regions if g.cls == "problem"):
        inside = [r for r in lines if r.box[0] >= problem.box[0] - 2 and r.box[2] <= problem.box[2] + 2
                  and r.box[1] >= problem.box[1] - 2 and r.box[3] <= problem.box[3] + 2]  # fmt: skip
        assert len({r.column for r in inside}) == 1  # a problem's lines never straddle the gutter


def test_a_one_column_page_with_choices_in_a_row_is_not_split_into_columns():
    page = generate_page(5, noise=False)  # one column; choices ① .. ⑤ spread over the width
    assert {r.column for r in find_lines(ink_mask(page.image))} == {0}


def test_a_skewed_scan_is_levelled():
    page = generate_page(36, noise=False).image
    turned = page.rotate(-1.5, resample=Image.Resampling.BICUBIC, fillcolor=(255, 255, 255))
    _, angle = deskew(turned)
    assert angle == pytest.approx(1.5, abs=0.2)


def test_wide_gaps_in_a_line_are_narrowed_for_the_recogniser():
    line = Image.new("RGB", (1000, 30), "white")
    for x in (10, 400, 800):
        line.paste((0, 0, 0), (x, 5, x + 40, 25))
    closed = _close_gaps(line)
    assert closed.height == 30 and closed.width < 400  # two 360-px gaps become 24 px each
    assert (np.asarray(closed.convert("L")) < 128).sum() == (np.asarray(line.convert("L")) < 128).sum()


def test_page_files_are_checked_before_they_are_read():
    with pytest.raises(PageError, match="not a readable PNG or JPEG"):
        open_image("bad.png", b"not an image")
    with pytest.raises(PageError, match="must be PNG or JPEG"):
        open_image("page.gif", _png(Image.new("RGB", (50, 50), "white"), "GIF"))
    with pytest.raises(PageError, match="13000x20 pixels"):
        open_image("strip.png", _png(Image.new("L", (13000, 20), 255)))
    with pytest.raises(PageError, match="blank"):
        check_not_blank("white.png", open_image("white.png", _png(Image.new("RGB", (800, 600), "white"))))
    grey = Image.new("RGB", (800, 600), (200, 200, 200))  # grey paper is paper, not ink
    with pytest.raises(PageError, match="blank"):
        check_not_blank("grey.jpg", open_image("grey.jpg", _png(grey, "JPEG")))
    large = open_image("big.png", _png(Image.new("RGB", (4000, 3000), "white")))
    assert max(large.size) == 2400  # pages are read at a working size
