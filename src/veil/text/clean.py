"""Cleaning free text: every identifying value of the dataset, in every form the audit looks
for, and everything that looks identifying by its shape, is cut out of the text."""

from __future__ import annotations

from veil.text.context import EMPTY, TextContext
from veil.text.patterns import find_patterns
from veil.text.spans import Span, merge

# What a removed stretch of text becomes: short, visibly not data, and never a form of
# anything (a date dummy or "ANONYMIZED" would read as a value in a description).
REMOVED_MARK = "*"
# Removing a span can join what was around it into something that looks identifying
# ("12 * 3456"): the text is scanned again until it is stable, at most this many times.
_PASSES = 3


def find_identifying_text(value: str, context: TextContext = EMPTY) -> list[Span]:
    """Every span of ``value`` that is identifying: a form of one of the context's values
    (``Span.pattern`` None) or text that looks identifying by its shape."""
    spans = context.find(value) + find_patterns(value)
    spans.sort(key=lambda s: (s.start, -s.end))
    return spans


def clean_text(value: str, context: TextContext = EMPTY) -> str:
    """``value`` with every identifying span replaced by ``REMOVED_MARK``."""
    text = value
    for _ in range(_PASSES):
        spans = find_identifying_text(text, context)
        if not spans:
            return text
        parts: list[str] = []
        position = 0
        for start, end in merge(spans):
            parts.append(text[position:start])
            if not parts[-1].endswith(REMOVED_MARK):
                parts.append(REMOVED_MARK)
            position = end
        parts.append(text[position:])
        text = "".join(parts)
    return text
