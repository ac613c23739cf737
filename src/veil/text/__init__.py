"""Identifying text: one definition shared by the cleaner and the audit.

- ``forms``: the forms an identifying value of the input takes in the wild (names reordered
  and in parts, IDs without prefixes, leading zeros or separators, dates in many formats);
- ``patterns``: identifiers that are not values of the input, found by their shape (phones,
  e-mails, URLs, national IDs, street addresses, numbers after an ID keyword, names after a
  title or label, dates);
- ``clean_text(value, context)``: what Clean Descriptors and Clean Structured Content keep of
  a text; ``find_identifying_text(value, context)``: what the audit reports in an output.

No value ever leaves this package in a message: spans carry positions and labels only.
"""

from __future__ import annotations

from veil.text.clean import REMOVED_MARK, clean_text, find_identifying_text
from veil.text.context import EMPTY, IdentifyingValue, TextContext
from veil.text.forms import Edge, Form, Style, forms_of
from veil.text.patterns import find_patterns
from veil.text.spans import PatternClass, Span

__all__ = [
    "EMPTY",
    "REMOVED_MARK",
    "Edge",
    "Form",
    "IdentifyingValue",
    "PatternClass",
    "Span",
    "Style",
    "TextContext",
    "clean_text",
    "find_identifying_text",
    "find_patterns",
    "forms_of",
]
