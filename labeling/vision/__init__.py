"""From a page image to problem texts: page loading, layout, reading order, OCR per region, problem assembly.

``open_image`` (a PNG/JPEG file) and ``pdf_page_count`` / ``render_pdf_page`` (a multi-page PDF, rendered by poppler's
``pdftoppm``) turn a page file into page images, refusing what cannot be a page (unreadable bytes, a decompression
bomb, a blank page: ``check_not_blank``) with a ``PageError`` naming the file, page and reason.
``PageReader.read(image)`` finds the page's problems:

1. **Layout**: the ink of the page (background-normalised, so uneven scan lighting does not matter) is split into
   columns (a vertical rule or an empty gutter), each column into lines (rows of ink), and tall blocks of ink become
   ``figure`` regions (``table`` when their text reads as cells). With a trained detector (``YoloLayout``, the
   ``layout-detector`` model) the detector's ``problem`` boxes group the lines and its ``formula`` / ``figure`` /
   ``table`` / ``choices`` boxes set the lines' classes; without one, problems are split where a line at the column's
   left margin starts with a problem number (``12.``, ``12)``, ``[12]``).
2. **Reading order**: columns left to right, lines top to bottom.
3. **OCR**: text lines with the text engine (Tesseract ``kor`` by default), formula lines (the detector's, or a line
   the text engine read without Hangul) with the formula engine (RapidOCR), tables and figures in block mode; a
   figure is described by its class and the text read inside it.
4. **Problems**: one text per problem block (its number removed), with its box, regions and OCR confidence (the
   character-weighted mean word confidence).

The caller decides what a low confidence means (``labeling.acceptance`` sends it to review).
"""

from labeling.vision.detector import YoloLayout
from labeling.vision.image import (
    BLANK_INK_SHARE,
    IMAGE_SUFFIXES,
    MAX_PDF_PAGES,
    MAX_PIXELS,
    MAX_SIDE,
    PAGE_SUFFIXES,
    PDF_DPI,
    WORK_LONG_SIDE,
    PageError,
    check_not_blank,
    ink_mask,
    ink_ratio,
    is_page_file,
    normalise,
    open_image,
    page_hash,
    pdf_page_count,
    render_pdf_page,
)
from labeling.vision.layout import Box, LayoutDetector, Region, deskew, find_lines
from labeling.vision.reader import HANGUL, LOOSE_NUMBER, PROBLEM_NUMBER, PageProblem, PageReader, PageReading

__all__ = [
    "BLANK_INK_SHARE",
    "HANGUL",
    "IMAGE_SUFFIXES",
    "LOOSE_NUMBER",
    "MAX_PDF_PAGES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "PAGE_SUFFIXES",
    "PDF_DPI",
    "PROBLEM_NUMBER",
    "WORK_LONG_SIDE",
    "Box",
    "LayoutDetector",
    "PageError",
    "PageProblem",
    "PageReader",
    "PageReading",
    "Region",
    "YoloLayout",
    "check_not_blank",
    "deskew",
    "find_lines",
    "ink_mask",
    "ink_ratio",
    "is_page_file",
    "normalise",
    "open_image",
    "page_hash",
    "pdf_page_count",
    "render_pdf_page",
]
