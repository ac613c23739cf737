"""Identifying text found by its shape in an output's free text, even when it is not a value
of the input: phones, e-mails, URLs, national IDs, street addresses, numbers after an ID
keyword, names after a title or label, dates. The shapes are ``veil.text``'s, the same the
cleaner of Clean Descriptors / Clean Structured Content removes, so a clean output never has
one; each is an **error** (the file is quarantined), like an identifier of the input.

Only free-text elements are scanned (descriptions, comments, labels, protocol names, code
meanings, text values of structured content, and private text): coded values, UIDs and the
date attributes themselves (which a policy may keep shifted) are not free text, and neither
is an element that a declared option keeps on purpose (an institution's address under
Retain Institution Identity).
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterator
from dataclasses import dataclass

from pydicom.datadict import keyword_for_tag

from veil.audit.findings import Kind
from veil.audit.text_search import TextElement
from veil.dicom import FREE_TEXT_VRS
from veil.text import PatternClass, find_patterns

_FREE_TEXT_WORDS = re.compile(
    r"Description|Comment|Label|Text|Protocol|Reason|Note|Remark|Title|History|Diagnos|"
    r"Observation|Impression|Finding|Name|Meaning"
)
# Keywords whose values are names of things, not people, or are veil's own record.
_NOT_FREE_TEXT = frozenset(
    {
        "ManufacturerModelName",
        "DeidentificationMethod",
        "ImplementationVersionName",
        "SecondaryCaptureDeviceManufacturerModelName",
        "CodingSchemeName",
        "CodingSchemeResponsibleOrganization",  # a vocabulary's publisher, not a person's
        "CodingSchemeExternalID",
        "StationName",
        "ApplicationName",
        "PrivateCreator",
        "SequenceName",
    }
)
KIND_OF: dict[PatternClass, Kind] = {
    PatternClass.PHONE: Kind.LOOKS_LIKE_PHONE,
    PatternClass.EMAIL: Kind.LOOKS_LIKE_EMAIL,
    PatternClass.URL: Kind.LOOKS_LIKE_URL,
    PatternClass.NATIONAL_ID: Kind.LOOKS_LIKE_NATIONAL_ID,
    PatternClass.STREET_ADDRESS: Kind.LOOKS_LIKE_ADDRESS,
    PatternClass.RECORD_NUMBER: Kind.LOOKS_LIKE_RECORD_NUMBER,
    PatternClass.NAME: Kind.LOOKS_LIKE_NAME,
    PatternClass.DATE: Kind.LOOKS_LIKE_DATE,
}


@dataclass(frozen=True)
class Suspicion:
    element: TextElement
    kind: str  # a Kind value: "looks-like-phone", "looks-like-name", ...
    form: str  # the pattern's label, e.g. "SSN-like (NNN-NN-NNNN)"; never the text


def is_free_text(element: TextElement) -> bool:
    if element.vr in ("UI", "DA", "DT", "CS", "AE", "PN", "UR"):
        return False
    if element.private:
        return True
    keyword = keyword_for_tag(element.tag) or ""
    if keyword in _NOT_FREE_TEXT:
        return False
    return element.vr in FREE_TEXT_VRS or bool(_FREE_TEXT_WORDS.search(keyword))


# Private text is a vendor's: dates, decimals and XML namespaces fill it (measured on the
# corpus: 252 date-like and 485 phone-like values, none a person's). Only the shapes that
# name or locate a person are searched there.
PRIVATE_CLASSES = (
    PatternClass.EMAIL,
    PatternClass.NATIONAL_ID,
    PatternClass.STREET_ADDRESS,
    PatternClass.RECORD_NUMBER,
    PatternClass.NAME,
)


def suspicions(elements: list[TextElement], kept: Container[str] = ()) -> Iterator[Suspicion]:
    """At most one suspicion per pattern class and free-text element. ``kept``: the paths of
    elements a declared option keeps as they are (not judged here)."""
    for element in elements:
        if not is_free_text(element) or element.path in kept:
            continue
        seen: set[PatternClass] = set()
        classes = PRIVATE_CLASSES if element.private else None
        for span in find_patterns(element.text, classes):
            assert span.pattern is not None
            if span.pattern not in seen:
                seen.add(span.pattern)
                yield Suspicion(element, KIND_OF[span.pattern].value, span.label)
