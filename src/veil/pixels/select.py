"""Which OCR'd text is removed: the redaction modes and the allow-list.

``all-text`` removes every text box except technical labels on the allow-list (ultrasound
acoustic output indices, depth, gain, frame rate, probe and preset words); ``sensitive`` removes
only text that matches the input's identifying values or has the shape of one (a date, a time,
a run of five or more digits, a letters-and-digits code). In both modes text that has such a
shape is removed even when an allow-list pattern would keep it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from veil.pixels.identifiers import MONTHS, Needle, match
from veil.pixels.model import RedactMode

_MONTH = "|".join(MONTHS)
_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("date", re.compile(r"\b\d{1,4}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{2,4}\b")),
    (
        "date",
        re.compile(rf"\b\d{{1,2}}\s*[-/ .]?\s*({_MONTH})[A-Z]*\s*[-/ .,]?\s*\d{{2,4}}\b", re.I),
    ),
    (
        "date",
        re.compile(rf"\b({_MONTH})[A-Z]*\s*[-/ .]?\s*\d{{1,2}}\s*[-/ .,]+\s*\d{{2,4}}\b", re.I),
    ),
    ("date", re.compile(r"\b(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\b")),
    ("time", re.compile(r"\b\d{1,2}\s*:\s*\d{2}(\s*:\s*\d{2})?\b")),
    ("digits", re.compile(r"\d{5,}")),
    ("code", re.compile(r"\b(?=[A-Z0-9-]*\d[A-Z0-9-]*\d)(?=[A-Z0-9-]*[A-Z])[A-Z0-9-]{6,}\b", re.I)),
)

# Technical labels of ultrasound and secondary-capture screens, matched against the whole text
# of a box (case-insensitive). Anything with an identifier's shape is removed regardless.
DEFAULT_ALLOW: tuple[str, ...] = (
    r"(?:(?:MI|TI[SBC]?|A[O0]|TIS|TIB)\s*[=<>:]?\s*[<>]?\s*\d+(?:[.,]\d+)?\s*%?\s*)+",
    r"(?:\d+(?:[.,]\d+)?\s*(?:cm|mm|Hz|kHz|MHz|dB|fps|%|cm/s|m/s|s)\s*)+",
    r"(?:G[n]?|C|D|P|F|Fr|Gain|DR|Res|PRF|WF|Pwr|Power)\s*[:=]?\s*-?\d+(?:[.,]\d+)?",
    r"(?:2D|3D|4D|M|B|PW|CW|CF|CD|PD|PWR|THI|HGen|Gen|Res|Pen|HPen|Harm|Color|Doppler|Sector"
    r"|Cine|Frz|Freeze|Live|Zoom|Depth|Gain|Page|On|Off|ECG|AUTO|MI|TIS|TIB|TIC|PWR|PW)",
    r"\d{1,3}[.,]\d{1,2}",  # a bare decimal (an index, a depth): never an identifier
)


@cache
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


def shape_of(text: str) -> str | None:
    """The kind of identifier ``text`` looks like, if any."""
    for kind, pattern in _SHAPES:
        if pattern.search(text):
            return kind
    return None


def allowed(text: str, patterns: Iterable[str]) -> bool:
    stripped = " ".join(text.split())
    return any(p.fullmatch(stripped) for p in _compiled(tuple(patterns)))


def removal_reason(
    text: str, mode: RedactMode, needles: tuple[Needle, ...], allow: tuple[str, ...]
) -> str | None:
    """Why this OCR'd text is removed (a class name, never the text), or None to keep it."""
    if mode is RedactMode.RULES_ONLY:
        return None
    kinds = match(text, needles)
    if kinds:
        return kinds[0]
    shape = shape_of(text)
    if shape is not None:
        return shape
    if mode is RedactMode.SENSITIVE:
        return None
    if allowed(text, DEFAULT_ALLOW + allow):
        return None
    return "text"
