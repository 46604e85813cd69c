"""Achievement-standard codes: the one place they are normalised and checked.

Sources write ``[9수01-01]`` and ``9수01-01`` for the same standard, and drop the official hyphen after the
Roman numeral in high-school calculus codes (``12미적Ⅰ01-01`` for ``12미적Ⅰ-01-01``).
"""

from __future__ import annotations

import re
import unicodedata

_BRACKETS = str.maketrans("", "", "[]［］【】")
_LATIN_ROMAN = re.compile(r"(미적)(II|I)(?=-?\d)")
_ROMAN_HYPHEN = re.compile(r"([ⅠⅡⅢ])(\d)")

CODE_PATTERNS: dict[str, re.Pattern[str]] = {
    # 2수01-01 … 9수04-09; 10공수1-01-01, 12미적Ⅰ-01-01, 12확통01-01
    "kr-2022": re.compile(r"^(?:[2469]수\d{2}-\d{2}|1[02][가-힣]+(?:[12ⅠⅡ]-)?\d{2}-\d{2})$"),
}


def normalize_code(raw: str, curriculum: str = "kr-2022") -> str:
    """Return the canonical spelling of a standard code (no brackets, no spaces, official hyphens)."""
    code = unicodedata.normalize("NFC", str(raw)).translate(_BRACKETS)
    code = re.sub(r"\s+", "", code)
    if curriculum == "kr-2022":
        code = _LATIN_ROMAN.sub(lambda m: m.group(1) + ("Ⅱ" if m.group(2) == "II" else "Ⅰ"), code)
        code = _ROMAN_HYPHEN.sub(r"\1-\2", code)
    return code


def is_valid_code(code: str, curriculum: str) -> bool:
    """True when ``code`` (already normalised) matches its curriculum's pattern."""
    pattern = CODE_PATTERNS.get(curriculum)
    return bool(pattern and pattern.match(code))


def display_code(code: str) -> str:
    """The bracketed form Korean documents print: ``[9수01-01]``."""
    return f"[{code}]" if re.match(r"^\d", code) else code
