"""Synthetic Korean math worksheet pages with exact boxes: training data for the layout detector, test data for OCR.

``generate_page(seed)`` draws one A4 page (150 dpi by default): an optional header, one or two columns of 1-4
problems (number, Korean stem with inline formulas, optional display formula, figure, table, <보기> box and ①-⑤
choices) and an optional page number. Korean text is drawn with the Nanum fonts (Debian ``fonts-nanum``), formulas
with matplotlib's mathtext, figures with matplotlib. Every box is measured from the ink actually drawn, so on a clean
page a box is the tight bounding box of its ink. About half the pages get scan-like noise (slight rotation and shear,
uneven lighting, blur, specks, JPEG artefacts); their boxes are transformed with the page (the axis-aligned box of
the turned box, so a long line's box grows by up to its width x sin 1.5°).

Regions: ``text`` (a problem's number and stem, a <보기> box with its frame, header lines, the page number),
``formula`` (every formula: display ones, and inline ones, which also lie inside a text or choices region),
``figure``, ``table`` (to its outer grid lines), ``choices`` (the ①-⑤ block) and ``problem`` (the union of a
problem's regions). Text lines: every drawn run of Korean text (problem number, a line of a stem, a table cell, a
choice) and every formula.

The same seed always gives the same page: content comes from ``random.Random(seed)``, noise from its own
``numpy`` generator, so ``generate_page(s, noise=False)`` is the clean twin of ``generate_page(s, noise=True)``.

``write_yolo_dataset`` writes ``input-data/layout/<version>/`` (see its docstring); ``mathlabel training pages``
does it for the configured object store.

Ground-truth text uses a plain linear form for formulas: ``3/4+1/2``, ``x^2-5x+6=0``, ``2^3×2^4``, ``5√3``,
``√(x+1)``; an overlined segment is written without its bar (``AB=6``). Tables are written row by row, cells joined
by `` | ``; choices as ``① 3 ② 5 ③ 7 ④ 9 ⑤ 11``.
"""

from training.pages.dataset import GENERATOR, LAYOUT, data_yaml, page_seed, write_yolo_dataset, yolo_labels
from training.pages.fonts import font_file
from training.pages.page import generate_page
from training.pages.regions import CLASSES, Box, Page, Region, TextLine

__all__ = [
    "CLASSES",
    "GENERATOR",
    "LAYOUT",
    "Box",
    "Page",
    "Region",
    "TextLine",
    "data_yaml",
    "font_file",
    "generate_page",
    "page_seed",
    "write_yolo_dataset",
    "yolo_labels",
]
