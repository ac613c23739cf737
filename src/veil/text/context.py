"""The identifying values of one dataset, compiled once into a matcher of all their forms."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from veil.text.forms import Edge, Form, Style, forms_of
from veil.text.spans import Span

_LEFT = {
    Edge.WORD: r"(?<![^\W_])",
    Edge.DIGIT: r"(?<!\d)",
    Edge.UID: r"(?<![\d.])",
    Edge.ZEROS: r"(?<!\d)0*",  # leading zeros go with the ID they pad
    Edge.NONE: "",
}
_RIGHT = {
    Edge.WORD: r"(?![^\W_])",
    Edge.DIGIT: r"(?!\d)",
    Edge.UID: r"(?![\d.])",
    Edge.ZEROS: r"(?!\d)",
    Edge.NONE: "",
}


@dataclass(frozen=True)
class IdentifyingValue:
    """One identifying value of a dataset and how it is written. ``value`` is never shown."""

    style: Style
    value: str = field(repr=False)


@lru_cache(maxsize=256)
def _compile(forms: tuple[Form, ...]) -> re.Pattern[str] | None:
    """One alternation of every form with its edges, longest first so the longest form of a
    value wins ("John Doe" before "John"). Cached: the files of a series share their values."""
    if not forms:
        return None
    ordered = sorted(forms, key=lambda f: len(f.text), reverse=True)
    pieces = [f"{_LEFT[f.left]}{re.escape(f.text)}{_RIGHT[f.right]}" for f in ordered]
    return re.compile("|".join(pieces), re.IGNORECASE)


@dataclass(frozen=True)
class TextContext:
    """What counts as identifying in one dataset's text: the forms of its identifying values
    (the patient's names, IDs and birth date, physicians, institution, accession...)."""

    forms: tuple[Form, ...] = ()

    @classmethod
    def of(cls, values: Iterable[IdentifyingValue]) -> TextContext:
        unique: dict[str, Form] = {}
        for item in values:
            if item.style is Style.UID:
                continue  # UIDs are replaced where they stand, never written in prose
            for form in forms_of(item.style, item.value):
                unique.setdefault(form.text, form)
        return cls(tuple(sorted(unique.values(), key=lambda f: f.text)))

    def find(self, text: str) -> list[Span]:
        """Every place where a form of an identifying value occurs in ``text``."""
        pattern = _compile(self.forms)
        if pattern is None or not text:
            return []
        return [
            Span(m.start(), m.end(), None, "value of the input") for m in pattern.finditer(text)
        ]


EMPTY = TextContext()
