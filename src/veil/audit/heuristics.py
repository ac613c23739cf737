"""Free-text heuristics: things that look like person names or dates in an output's free text,
even when they are not values of the input. Reported as warnings, for a human to judge.

Only free-text elements are scanned (descriptions, comments, labels, protocol names, text
values of structured content, and private text): coded values, UIDs and the date attributes
themselves (which a policy may keep shifted) are not free text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from pydicom.datadict import keyword_for_tag

from veil.audit.text_search import TextElement
from veil.dicom import FREE_TEXT_VRS

_FREE_TEXT_WORDS = re.compile(
    r"Description|Comment|Label|Text|Protocol|Reason|Note|Remark|Title|History|Diagnos|"
    r"Observation|Impression|Finding|Name"
)
# Keywords whose values are names of things, not people, or are veil's own record.
_NOT_FREE_TEXT = frozenset(
    {
        "ManufacturerModelName",
        "CodeMeaning",
        "DeidentificationMethod",
        "ImplementationVersionName",
        "SecondaryCaptureDeviceManufacturerModelName",
        "CodingSchemeName",
        "StationName",
        "ApplicationName",
        "PrivateCreator",
        "SequenceName",
    }
)
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DAY = r"(?:0?[1-9]|[12]\d|3[01])"
_MON = r"(?:0?[1-9]|1[0-2])"
_YEAR = r"(?:19|20)\d\d"
_DATE_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"(?<![\d.]){_YEAR}[-/.]{_MON}[-/.]{_DAY}(?![\d])"), "date YYYY-MM-DD-like"),
    (re.compile(rf"(?<![\d.]){_DAY}[-/.]{_MON}[-/.]{_YEAR}(?!\d)"), "date DD/MM/YYYY-like"),
    (re.compile(rf"(?<![\d.]){_MON}[-/.]{_DAY}[-/.]{_YEAR}(?!\d)"), "date MM/DD/YYYY-like"),
    (
        re.compile(rf"(?<![\d.]){_YEAR}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])(?![\d.])"),
        "date YYYYMMDD-like",
    ),
    (re.compile(rf"(?<!\d){_DAY}[ -]{_MONTH}[ -,]+{_YEAR}(?!\d)", re.I), "date with month name"),
    (re.compile(rf"\b{_MONTH} {_DAY},? {_YEAR}(?!\d)", re.I), "date with month name"),
)
_NAME_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof|Dres)\.?\s+[A-Z][a-zA-Z'\-]{1,}"),
        "title and capitalised word",
    ),
    (
        re.compile(r"(?<![\w^])[A-Za-z][A-Za-z'\-]+\^[A-Za-z][A-Za-z'\-]+"),
        "caret-separated name (DICOM PN style)",
    ),
    (
        re.compile(
            r"\b(?:patient|name|physician|doctor|referr\w*|performed by|operator)\s*[:=]\s*"
            r"[A-Za-z][A-Za-z'\-]+",
            re.I,
        ),
        "labelled name",
    ),
)


_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")


@dataclass(frozen=True)
class Suspicion:
    element: TextElement
    kind: str  # "looks-like-name" | "looks-like-date" | "looks-like-contact"
    form: str


def is_free_text(element: TextElement) -> bool:
    if element.vr in ("UI", "DA", "DT", "CS", "AE", "PN", "UR"):
        return False
    if element.private:
        return True
    keyword = keyword_for_tag(element.tag) or ""
    if keyword in _NOT_FREE_TEXT:
        return False
    return element.vr in FREE_TEXT_VRS or bool(_FREE_TEXT_WORDS.search(keyword))


def suspicions(elements: list[TextElement]) -> Iterator[Suspicion]:
    """At most one name-like, one date-like and one contact suspicion per free-text element."""
    for element in elements:
        if not is_free_text(element):
            continue
        for pattern, form in _DATE_PATTERNS:
            if pattern.search(element.text):
                yield Suspicion(element, "looks-like-date", form)
                break
        for pattern, form in _NAME_PATTERNS:
            if pattern.search(element.text):
                yield Suspicion(element, "looks-like-name", form)
                break
        if _EMAIL.search(element.text):
            yield Suspicion(element, "looks-like-contact", "e-mail address")
