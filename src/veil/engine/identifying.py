"""The patient's identifying values that cleaning removes from free text (Clean Descriptors,
Clean Structured Content): names in every form, IDs, birth date in common date formats, the
accession number, the institution and the physicians, taken once from the top level."""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.dataset import Dataset

from veil.engine.context import vr_of
from veil.engine.handlers import values_of
from veil.engine.values import date_forms, name_forms

IDENTIFYING_SOURCES = (
    0x00100010,
    0x00100020,
    0x00100030,
    0x00080050,
    0x00200010,  # Study ID: turns up in labels and descriptions
    0x00080080,
    0x00080090,
    0x00081050,
    0x00081060,
    0x00081070,
    0x00100050,
    0x00101000,
    0x00101001,
    0x00101060,
    0x00321032,
    0x00080081,
)


def identifying_texts(sources: Iterable[tuple[int, object]]) -> list[str]:
    """The texts to clean away, from (tag, value) pairs of ``IDENTIFYING_SOURCES``."""
    values: list[str] = []
    for tag, raw in sources:
        for item in values_of(raw):
            if item is None:
                continue
            text = str(item)
            values.append(text)
            if vr_of(tag) == "PN":
                values.extend(name_forms(text))
            if vr_of(tag) == "DA":
                values.extend(date_forms(text))
            if text.lstrip("0") and text.lstrip("0") != text:
                values.append(text.lstrip("0"))
    return values


def identifying_values(ds: Dataset) -> list[str]:
    """The identifying texts of a dataset's top level."""
    return identifying_texts((tag, ds[tag].value) for tag in IDENTIFYING_SOURCES if tag in ds)
