"""The Nanum fonts for Korean text (Debian ``fonts-nanum``) and the mathtext families for formulas."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache, lru_cache
from pathlib import Path

from PIL import ImageFont

FONT_PACKAGE = "fonts-nanum"
FONT_DIR = Path("/usr/share/fonts/truetype/nanum")
FONT_FILES = {
    "gothic": "NanumGothic.ttf",
    "gothic-bold": "NanumGothicBold.ttf",
    "myeongjo": "NanumMyeongjo.ttf",
    "myeongjo-bold": "NanumMyeongjoBold.ttf",
}
MATH_FAMILIES = ("cm", "stix", "dejavuserif", "dejavusans")


@cache
def font_file(name: str) -> str:
    """The path of a Nanum font (``gothic``, ``gothic-bold``, ``myeongjo``, ``myeongjo-bold``).

    Raises:
        RuntimeError: the font is not installed (the Debian package ``fonts-nanum``; ``make deb`` installs it).
    """
    path = FONT_DIR / FONT_FILES[name]
    if path.is_file():
        return str(path)
    if shutil.which("fc-match"):
        family = FONT_FILES[name].removesuffix(".ttf").removesuffix("Bold")
        pattern = f"{family}:style={'Bold' if name.endswith('-bold') else 'Regular'}"
        found = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True).stdout
        if Path(found).name == FONT_FILES[name]:
            return found
    raise RuntimeError(
        f"font {FONT_FILES[name]} not found in {FONT_DIR} or by fc-match: install the Debian package "
        f"{FONT_PACKAGE} (`make deb`, or `apt-get install {FONT_PACKAGE}`)"
    )


@lru_cache(maxsize=256)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_file(name), size)
