"""Tokenisation that suits Korean math text: kiwipiepy morphemes plus character n-grams."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Morpheme tags that carry meaning for retrieval: nouns, verb/adjective stems, roots, foreign words, hanja.
_CONTENT_TAGS = {"NNG", "NNP", "NNB", "NP", "NR", "VV", "VA", "XR", "SL", "SH", "XSN"}
_NON_WORD = re.compile(r"[^\w가-힣]+")


@lru_cache(maxsize=1)
def _kiwi():
    from kiwipiepy import Kiwi

    return Kiwi()


def normalize_text(text: str) -> str:
    """NFKC (full-width digits, ², ⁻¹ become plain), lower case, collapsed spaces."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip().lower()


def morphemes(text: str) -> list[str]:
    """Content morphemes of ``text`` (stems of verbs and adjectives, nouns, roots)."""
    tokens = _kiwi().tokenize(normalize_text(text))
    return [token.form for token in tokens if token.tag in _CONTENT_TAGS and len(token.form) > 0]


def char_ngrams(text: str, sizes: tuple[int, ...] = (2, 3)) -> list[str]:
    """Character n-grams inside each word, so spacing differences and compounds still match."""
    grams: list[str] = []
    for word in _NON_WORD.split(normalize_text(text)):
        if not word:
            continue
        if len(word) < min(sizes):
            grams.append(word)
            continue
        for size in sizes:
            grams.extend(word[i : i + size] for i in range(len(word) - size + 1))
    return grams
