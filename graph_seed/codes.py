"""Achievement-standard codes: the one place they are normalised and checked.

Sources write ``[9수01-01]`` and ``9수01-01`` for the same standard, and drop the official hyphen after the
Roman numeral in high-school calculus codes (``12미적Ⅰ01-01`` for ``12미적Ⅰ-01-01``). CCSS codes come both dotted
(``4.NF.B.3.a``, the Coherence Map's spelling, kept as canonical) and compact (``4.NF.B.3a``, the official lists').
"""

from __future__ import annotations

import re
import unicodedata

_BRACKETS = str.maketrans("", "", "[]［］【】")
_LATIN_ROMAN = re.compile(r"(미적)(II|I)(?=-?\d)")
_ROMAN_HYPHEN = re.compile(r"([ⅠⅡⅢ])(\d)")
_CCSS_COMPACT_PART = re.compile(r"(\.\d+)([a-z])$")  # 4.NF.B.3a -> 4.NF.B.3.a

_CCSS_K8_DOMAINS = "CC|OA|NBT|NF|MD|G|RP|NS|EE|F|SP"
_CCSS_HS_DOMAINS = "|".join(
    ["N-(?:RN|Q|CN|VM)", "A-(?:SSE|APR|CED|REI)", "F-(?:IF|BF|LE|TF)", "G-(?:CO|SRT|C|GPE|GMD|MG)", "S-(?:ID|IC|CP|MD)"]
)

CODE_PATTERNS: dict[str, re.Pattern[str]] = {
    # 2수01-01 … 9수04-09; 10공수1-01-01, 12미적Ⅰ-01-01, 12확통01-01
    "kr-2022": re.compile(r"^(?:[2469]수\d{2}-\d{2}|1[02][가-힣]+(?:[12ⅠⅡ]-)?\d{2}-\d{2})$"),
    # 2015: 4수01-05, 9수04-08 (grade bands 1-2, 3-4, 5-6, middle; five areas 01-05); 10수학01-01 (고1 common 수학)
    "kr-2015": re.compile(r"^(?:[2469]수|10수학)0[1-5]-(?:0[1-9]|[1-9]\d)$"),
    # K.CC.A.1, 4.NF.B.3.a (grade.domain.cluster.standard[.part]); A-APR.A.1, S-ID.C.9 (high school)
    "us-ccss": re.compile(
        rf"^(?:(?:K|[1-8])\.(?:{_CCSS_K8_DOMAINS})|(?:{_CCSS_HS_DOMAINS}))\.[A-D]\.[1-9]\d?(?:\.[a-e])?$"
    ),
}


def normalize_code(raw: str, curriculum: str = "kr-2022") -> str:
    """Return the canonical spelling of a standard code (no brackets, no spaces, official hyphens)."""
    code = unicodedata.normalize("NFC", str(raw)).translate(_BRACKETS)
    code = re.sub(r"\s+", "", code)
    if curriculum == "kr-2022":
        code = _LATIN_ROMAN.sub(lambda m: m.group(1) + ("Ⅱ" if m.group(2) == "II" else "Ⅰ"), code)
        code = _ROMAN_HYPHEN.sub(r"\1-\2", code)
    elif curriculum == "us-ccss":
        code = _CCSS_COMPACT_PART.sub(r"\1.\2", code)
    return code


def is_valid_code(code: str, curriculum: str) -> bool:
    """True when ``code`` (already normalised) matches its curriculum's pattern."""
    pattern = CODE_PATTERNS.get(curriculum)
    return bool(pattern and pattern.match(code))


def display_code(code: str) -> str:
    """The bracketed form Korean documents print: ``[9수01-01]``."""
    return f"[{code}]" if re.match(r"^\d", code) else code
