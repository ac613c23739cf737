"""Is a value usable? Validity by VR, not just presence: an empty string counts as missing.

Each check returns a `Validity` and a short problem text that never repeats the value itself
(the value may identify the patient; the report decides separately whether to show it).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
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


def _date_time_problem(text: str) -> str | None:
    match = _DT.match(text)
    if not match:
        return "not a date-time (YYYYMMDDHHMMSS)"
    if match.group(3) and parse_date(text[:8]) is None:
        return "date part is not a real calendar date"
    return None


def _uid_problem(text: str) -> str | None:
    if len(text) > 64:
        return "UID longer than 64 characters"
    return None if _UID.match(text) else "not a valid UID (digits and dots, no leading zeros)"


def _binary_number_problem(item: Any) -> str | None:
    try:
        float(item)
    except (TypeError, ValueError):
        return "not a number"
    return None


# VR -> why the text of one value is unusable (None: fine).
_TEXT_CHECKS: dict[str, Callable[[str], str | None]] = {
    "DA": lambda t: None if parse_date(t) else "not a real calendar date (YYYYMMDD)",
    "AS": lambda t: (
        None if AGE_PATTERN.match(t) else "not an age of the form nnnD, nnnW, nnnM or nnnY"
    ),
    "TM": lambda t: None if _TIME.match(t) else "not a time (HHMMSS.FFFFFF)",
    "DT": _date_time_problem,
    "UI": _uid_problem,
    "DS": lambda t: None if _number(t, integer=False) else "not a decimal number",
    "IS": lambda t: None if _number(t, integer=True) else "not an integer",
}
_BINARY_NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "FL", "FD", "UV", "SV"})


def _one_problem(vr: str, keyword: str, item: Any) -> str | None:
    """Why one value of an attribute is unusable, or None if it is fine."""
    text = "" if item is None else str(item).strip()
    check = _TEXT_CHECKS.get(vr)
    if check is not None:
        return check(text)
    if vr in _BINARY_NUMBER_VRS:
        return _binary_number_problem(item)
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
