"""Math concepts of English text: what a word problem is about, read from its numbers and operation words.

A word problem often names no topic: "Lisa had 3.25 liters of juice and drank 1.5" is about adding and subtracting
decimals, yet shares no word with "Add, subtract, multiply, and divide decimals to hundredths". The same small
lexicon reads concepts from a standard's text (its words: "decimals", "within 100", "word problems") and from a
problem's text (its words, and its numbers: a decimal point, a fraction, the largest whole number), so the two meet
on concept names. The retriever ranks standards by them and adds their names to the query's words.

The lexicon is English: text with Hangul has no concepts here (the Korean rankers read Korean math words directly).
"""

from __future__ import annotations

import re

_HANGUL = re.compile("[가-힣]")

# Concepts both sides may name in words or symbols (text is lower-cased first).
_WORDS = {
    "add": r"\b(add|adds|adding|added|addition|sums?|plus|total|altogether|in all|combined|together)\b|\+",
    "subtract": r"\b(subtract\w*|minus|difference|take away|taking from|left|remain\w*|fewer)\b"
    r"|(?<=\d)\s*[-–−]\s*(?=\d)",
    "multiply": r"\b(multipl\w*|times|products?)\b|[×*]",
    "divide": r"\b(divid\w*|division|quotients?|split|shared?|equally|evenly)\b|÷",
    "remainder": r"\b(remainders?|left over|leftover)\b",
    "exponent": r"\b(exponents?|powers?|squared|cubed)\b|\^|\*\*",
    "parentheses": r"\b(parenthes[ie]s|brackets|braces)\b|\(\s*-?\d[\d.]*\s*[-+×*/÷]\s*-?\d[\d.]*\s*\)",
    "compare": r"\bcompar\w*|[<>]|_",
    "negative": r"\b(negative|rational numbers?|integers?|opposite)\b",
    "money": r"\b(money|dollars?|cents?|quarters|dimes|nickels|pennies)\b|\$",
    "time": r"\b(time|hours?|minutes?|o'clock|a\.m\.|p\.m\.)\b",
    "length": r"\b(lengths?|distances?|meters?|centimeters?|inch|inches|feet|foot|yards?|miles?|kilometers?|cm|km)\b",
    "mass": r"\b(mass|masses|grams?|kilograms?|kg|liters?|milliliters?|ml|gallons?|pounds?|ounces?|liquid volumes?)\b",
    "area": r"\b(area|square (feet|meters|centimeters|inches|units))\b",
    "perimeter": r"\bperimeters?\b",
    "volume": r"\b(volume|cubic)\b",
    "decimal": r"\bdecimals?\b",
    "tenths": r"\btenths\b",
    "hundredths": r"\bhundredths\b",
    "fraction": r"\bfractions?\b",
    "multidigit": r"\bmulti-digit\b",
}
_PATTERNS = {name: re.compile(pattern) for name, pattern in _WORDS.items()}
# Only a standard says "word problems"; a problem is one when it tells a story (see _STORY_WORDS).
_WORD_PROBLEM = re.compile(r"\b(word problems?|real[- ]world)\b")
# "within 100", "between 1 and 10", "less than or equal to 20": the size of numbers a standard works with.
_BOUND = re.compile(r"\b(?:within|between \d+ and|less than or equal to|up to) (\d+)\b")
_NUMBER = re.compile(r"(?<![\w.])(-?\d[\d,]*(?:\.\d+)?)(?!\w)")
_FRACTION = re.compile(r"(?<![\w.])\d+\s*/\s*\d+(?![\w.])")
_WORD = re.compile(r"[a-z]{3,}")
BOUNDS = (10, 20, 100, 1000)
_STORY_WORDS = 12  # a problem with this many words of three letters or more tells a story: a word problem

# Concept names that are not English words, written as the words standards use.
_AS_WORDS = {f"within{bound}": f"within {bound}" for bound in BOUNDS} | {
    "multidigit": "multi-digit",
    "word": "word problem",
}


def standard_concepts(text: str) -> list[str]:
    """Concepts a standard's text names (``[]`` for Korean text)."""
    if _HANGUL.search(text):
        return []
    lowered = text.lower()
    found = {name for name, pattern in _PATTERNS.items() if pattern.search(lowered)}
    found |= {f"within{bound}" for bound in _BOUND.findall(lowered)}
    if _WORD_PROBLEM.search(lowered):
        found.add("word")
    return sorted(found)


def problem_concepts(text: str) -> list[str]:
    """Concepts of a problem: its operation and unit words, and what its numbers are (``[]`` for Korean text)."""
    if _HANGUL.search(text):
        return []
    lowered = text.lower()
    found = {name for name, pattern in _PATTERNS.items() if pattern.search(lowered)}
    numbers = [n.replace(",", "") for n in _NUMBER.findall(lowered)]
    places = [len(n.split(".")[1]) for n in numbers if "." in n]
    if places:
        found |= {"decimal", "tenths" if max(places) == 1 else "hundredths"}
    if _FRACTION.search(lowered):
        found.add("fraction")
    if any(n.startswith("-") for n in numbers):
        found.add("negative")
    whole = [abs(int(n)) for n in numbers if "." not in n]
    if whole:
        largest = max(whole)
        found.add(next((f"within{b}" for b in BOUNDS if largest <= b), "multidigit"))
    if len(_WORD.findall(lowered)) >= _STORY_WORDS:
        found.add("word")
    return sorted(found)


def as_words(concepts: list[str]) -> str:
    """Concept names as the words a standard would use, to add to a lexical query."""
    return " ".join(_AS_WORDS.get(name, name) for name in concepts)
