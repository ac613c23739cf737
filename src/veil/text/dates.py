"""Dates written in free text, in the common numeric, month-name and CJK forms.

A four-digit year is required (or a month name): two-digit years make version numbers and
slice counts ("1.5.10") look like dates. Times alone are not dates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from veil.text.spans import PatternClass, Span

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|"
    r"januar|februar|märz|mai|juni|juli|oktober|dezember|"  # German
    r"janvier|février|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre)\.?"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MON = r"(?:0?[1-9]|1[0-2])"
_YEAR = r"(?:19|20)\d\d"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"(?<![\d.]){_YEAR}([-/.]){_MON}\1{_DAY}(?!\d)"), "date YYYY-MM-DD-like"),
    (re.compile(rf"(?<![\d.]){_DAY}([-/.]){_MON}\1{_YEAR}(?!\d)"), "date DD/MM/YYYY-like"),
    (re.compile(rf"(?<![\d.]){_MON}([-/.]){_DAY}\1{_YEAR}(?!\d)"), "date MM/DD/YYYY-like"),
    (
        re.compile(rf"(?<![\d.]){_YEAR}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?![\d.])"),
        "date YYYYMMDD-like",
    ),
    (
        re.compile(rf"(?<![\w]){_DAY}(?:\.|st|nd|rd|th)?[ -]{_MONTH}[ -,]+{_YEAR}(?!\d)", re.I),
        "date with month name",
    ),
    (
        re.compile(rf"(?<![\w]){_MONTH} {_DAY}(?:st|nd|rd|th)?,? {_YEAR}(?!\d)", re.I),
        "date with month name",
    ),
    (re.compile(rf"{_YEAR}\s?年\s?{_MON}\s?月\s?{_DAY}\s?日"), "date in CJK form"),
    (re.compile(rf"{_YEAR}년\s?{_MON}월\s?{_DAY}일"), "date in Korean form"),
)


def find_dates(text: str) -> Iterator[Span]:
    for pattern, label in _PATTERNS:
        for match in pattern.finditer(text):
            yield Span(match.start(), match.end(), PatternClass.DATE, label)
