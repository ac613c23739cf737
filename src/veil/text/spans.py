"""What a detector reports: a span of text, the class of identifier it looks like, the form."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class PatternClass(str, Enum):
    """Kinds of identifying text that are found by their shape, not as values of the input."""

    PHONE = "phone"
    EMAIL = "email"
    URL = "url"
    NATIONAL_ID = "national-id"  # SSN-like and other national identification numbers
    STREET_ADDRESS = "address"
    RECORD_NUMBER = "record-number"  # a digit run next to an ID keyword ("MRN 55120394")
    NAME = "name"  # a person name next to a title or label, or written DICOM-style
    DATE = "date"


@dataclass(frozen=True)
class Span:
    """Where identifying text lies in a string: ``text[start:end]``. Never holds the text."""

    start: int
    end: int
    pattern: PatternClass | None  # None: a form of an identifying value of the input
    label: str  # the form or pattern, e.g. "SSN-like (NNN-NN-NNNN)", "name reordered"


def merge(spans: list[Span]) -> list[tuple[int, int]]:
    """The union of the spans, as sorted, disjoint (start, end) ranges."""
    ranges: list[tuple[int, int]] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if ranges and span.start <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(ranges[-1][1], span.end))
        else:
            ranges.append((span.start, span.end))
    return ranges
