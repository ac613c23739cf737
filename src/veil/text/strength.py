"""How much a value narrows things down, and which values are too weak to search for.

Shared by the cleaner (a weak value is never removed from free text: "Li" or "999" would
shred every description) and the audit (a weak value is only checked at its own place).
"""

from __future__ import annotations

import math
from functools import lru_cache

# Whole values that identify nobody: placeholders people type and the engine's own dummies.
STOP_WORDS = frozenset(
    " ".join(
        (
            "anonymized anonymised anonymous anon unknown none null nil n/a na removed deleted",
            "empty blank test phantom patient doctor physician operator name first last middle",
            "mid pre dicom yes no original primary secondary derived other mr ct pt nm us head",
            "brain research hospital university department center centre clinic medical",
            "imaging 19000101 19000101000000 000000 000y 0 1",
        )
    ).split()
)
# Minimum estimated information for a value to be searched anywhere in decoded text, and in
# raw bytes; below these a value is only checked at its own place (see docs/audit.md).
TEXT_MIN_BITS = 13.0
RAW_MIN_BITS = 19.0


@lru_cache(maxsize=4096)
def strength_bits(value: str) -> float:
    """A rough estimate of how much a value narrows things down: about log2 of the alphabet
    per letter or digit (case ignored); punctuation and spaces count one bit."""
    bits = 0.0
    for char in value:
        if char.isascii() and char.isalpha():
            bits += math.log2(26)
        elif char.isdigit():
            bits += math.log2(10)
        elif char.isalpha():  # accented Latin, kana, hangul, ideographs
            bits += 8.0
        elif not char.isspace():
            bits += 1.0
    return bits


def normalise(value: str) -> str:
    """Runs of white space (and NULs, DICOM's padding) become one space; ends trimmed."""
    return " ".join(value.replace("\x00", " ").split())


@lru_cache(maxsize=4096)
def is_weak(value: str) -> bool:
    """True when a value is too short or too common to search anywhere but its own place."""
    text = normalise(value).strip("^ ").lower()
    if not text or text in STOP_WORDS:
        return True
    alnum = sum(ch.isalnum() for ch in text)
    # Two ideographs, kana or hangul make a whole given name ("小明", "길동"): enough.
    ideographic = alnum >= 2 and all(ch.isalpha() and ord(ch) >= 0x0250 for ch in text)
    return (alnum < 3 and not ideographic) or strength_bits(text) < TEXT_MIN_BITS
