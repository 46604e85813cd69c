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


_STOPWORDS = frozenset(
    """a an the of to in on for and or is are be by with as at from that this it its into than then what which
    how many much each one two if so can will their there they them you your we our his her he she""".split()  # noqa: SIM905
)
_SUFFIXES = ("ations", "ation", "ings", "ing", "ies", "ied", "es", "ed", "ly", "s")


def light_stem(word: str) -> str:
    """A light English stemmer (plural, -ing, -ed, -ation): enough to match 'fractions' with 'fraction'."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            stem = word[: -len(suffix)]
            return stem + "y" if suffix in {"ies", "ied"} else stem
    return word


def morphemes(text: str) -> list[str]:
    """Content morphemes of ``text``: Korean noun/verb/adjective stems and roots, stemmed English words."""
    tokens = _kiwi().tokenize(normalize_text(text))
    out = []
    for token in tokens:
        if token.tag == "SL":
            if token.form not in _STOPWORDS and len(token.form) > 1:
                out.append(light_stem(token.form))
        elif token.tag in _CONTENT_TAGS:
            out.append(token.form)
    return out


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
