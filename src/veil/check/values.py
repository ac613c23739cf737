"""Is a value usable? Validity by VR, not just presence: an empty string counts as missing.

Each check returns a `Validity` and a short problem text that never repeats the value itself
(the value may identify the patient; the report decides separately whether to show it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from enum import Enum
from typing import Any

from pydicom.datadict import dictionary_VM, tag_for_keyword

from veil.dicom import AGE_PATTERN, keyword_vr, values_of
from veil.engine.values import parse_da


class Validity(str, Enum):
    VALID = "valid"
    MISSING = "missing"  # absent, or present with an empty value
    INVALID = "invalid"  # present but unusable (not a date, not a number, wrong count...)


_UID = re.compile(r"^(0|[1-9]\d*)(\.(0|[1-9]\d*))*$")
_TIME = re.compile(r"^([01]\d|2[0-3])([0-5]\d([0-5]\d|60)?)?(\.\d{1,6})?$")
_DT = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?$")
SEX_CODES = frozenset({"M", "F", "O"})


def fixed_vm(keyword: str) -> int | None:
    """The fixed value multiplicity of an attribute (3 for ImagePositionPatient), else None."""
    tag = tag_for_keyword(keyword)
    if tag is None:
        return None
    try:
        vm = str(dictionary_VM(tag))
    except KeyError:
        return None
    return int(vm) if vm.isdigit() else None


def is_empty(value: Any) -> bool:
    items = values_of(value)
    return not items or all(item is None or str(item).strip() == "" for item in items)


def parse_date(text: str) -> dt.date | None:
    """A DICOM DA (YYYYMMDD) as a real calendar date, or None."""
    return parse_da(text, acr_nema=False)


def parse_datetime_date(text: str) -> dt.date | None:
    """The date part of a DICOM DT, if it has a full date."""
    text = text.strip()
    return parse_date(text[:8]) if len(text) >= 8 else None


def _number(text: str, integer: bool) -> bool:
    text = text.strip()
    if not text:
        return False
    try:
        if integer:
            int(text)
        else:
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                return False
    except ValueError:
        return False
    return True


def _one_problem(vr: str, keyword: str, item: Any) -> str | None:
    """Why one value of an attribute is unusable, or None if it is fine."""
    text = "" if item is None else str(item).strip()
    if vr == "DA":
        return None if parse_date(text) else "not a real calendar date (YYYYMMDD)"
    if vr == "AS":
        return (
            None if AGE_PATTERN.match(text) else "not an age of the form nnnD, nnnW, nnnM or nnnY"
        )
    if vr == "TM":
        return None if _TIME.match(text) else "not a time (HHMMSS.FFFFFF)"
    if vr == "DT":
        match = _DT.match(text)
        if not match:
            return "not a date-time (YYYYMMDDHHMMSS)"
        if match.group(3) and parse_date(text[:8]) is None:
            return "date part is not a real calendar date"
        return None
    if vr == "UI":
        if len(text) > 64:
            return "UID longer than 64 characters"
        return None if _UID.match(text) else "not a valid UID (digits and dots, no leading zeros)"
    if vr == "DS":
        return None if _number(text, integer=False) else "not a decimal number"
    if vr == "IS":
        return None if _number(text, integer=True) else "not an integer"
    if vr in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"):
        try:
            float(item)
        except (TypeError, ValueError):
            return "not a number"
        return None
    if keyword == "PatientSex":
        return None if text.upper() in SEX_CODES else "not a sex code (M, F or O)"
    return None


def validate(keyword: str, value: Any, vr: str | None = None) -> tuple[Validity, str]:
    """Check one attribute value for its VR (and known code sets); return validity and why."""
    if is_empty(value):
        return Validity.MISSING, "missing or empty"
    vr = vr or keyword_vr(keyword)
    if vr == "SQ":
        return Validity.VALID, "present"
    items = values_of(value)
    count = fixed_vm(keyword)
    if count is not None and count > 1 and len(items) != count:
        return Validity.INVALID, f"has {len(items)} values, {count} expected"
    for item in items:
        problem = _one_problem(vr, keyword, item)
        if problem:
            return Validity.INVALID, problem
    return Validity.VALID, "valid"


def numbers(value: Any) -> Sequence[float] | None:
    """The numeric values of a DS/IS/FD attribute, or None if any does not parse."""
    items = values_of(value)
    try:
        return [float(item) for item in items]
    except (TypeError, ValueError):
        return None
