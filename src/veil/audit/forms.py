"""Needles: the forms of one identifier of the input, as the audit searches them.

The forms themselves are defined once, in ``veil.text.forms``, and shared with the cleaner of
Clean Descriptors / Clean Structured Content: what the audit looks for is exactly what the
cleaner removes. This module only ties each form to the identifier it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from veil.audit.findings import Kind
from veil.audit.identifiers import Identifier, style_of
from veil.text.forms import Edge, forms_of

__all__ = ["Edge", "Needle", "SearchForm", "needles_for", "search_forms", "style_of"]


@dataclass(frozen=True)
class Needle:
    """One literal form of one identifier. ``text`` is never shown."""

    ident: Identifier
    text: str = field(repr=False)  # lower case; never shown
    label: str = ""  # the form, e.g. "name reordered (given family)"
    left: Edge = Edge.NONE
    right: Edge = Edge.NONE
    raw: bool = False  # strong enough to search in raw bytes (pixel data, blobs)


def needles_for(ident: Identifier) -> list[Needle]:
    """All searchable forms of one identifier (none when the value is too weak to search)."""
    return [
        Needle(ident, form.text, form.label, form.left, form.right, form.raw)
        for form in forms_of(style_of(ident.kind, ident.vr), ident.value)
    ]


@dataclass(frozen=True)
class SearchForm:
    """One searchable form of a value, without the identifier it came from (the fast path
    memoises these per value: values repeat across a study)."""

    text: str = field(repr=False)  # lower case; never shown
    left: Edge
    right: Edge
    raw: bool


@lru_cache(maxsize=16384)
def search_forms(kind: Kind, vr: str, value: str) -> tuple[SearchForm, ...]:
    """The forms ``needles_for`` gives an identifier of this kind, VR and value."""
    return tuple(
        SearchForm(form.text, form.left, form.right, form.raw)
        for form in forms_of(style_of(kind, vr), value)
    )
