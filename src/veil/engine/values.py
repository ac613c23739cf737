"""Replacement values: dummies by VR, shifted dates, derived ages, cleaned text.

Clean ("C") is defined per kind of value (documented in README, "What clean means"):
- dates (DA) and date-times (DT) move back by the patient's offset; times (TM) stay, since a
  whole-day shift leaves the time of day unchanged; a date that cannot be parsed is emptied;
- free text loses every occurrence of the patient's identifying values (name components, IDs,
  birth date, accession number, institution, physicians' names) and anything date-like;
- UIDs are replaced by keyed UIDs; ages are kept (a shift does not change an age);
- anything else (person names, AE titles, binary values) cannot be cleaned safely: the
  attribute falls back to its basic-profile action.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

DUMMY_TEXT = "ANONYMIZED"
DUMMY_BY_VR: dict[str, object] = {
    "PN": "ANONYMIZED",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "AS": "000Y",
    "AE": "ANONYMIZED",
    "CS": "ANONYMIZED",
    "IS": "0",
    "DS": "0",
    "US": 0,
    "SS": 0,
    "UL": 0,
    "SL": 0,
    "UV": 0,
    "SV": 0,
    "FL": 0.0,
    "FD": 0.0,
    "AT": 0,
    "OB": b"\x00\x00",
    "OW": b"\x00\x00",
    "OD": b"\x00" * 8,
    "OF": b"\x00" * 4,
    "OL": b"\x00" * 4,
    "OV": b"\x00" * 8,
    "UN": b"\x00\x00",
    "UR": "",
}
MAX_LENGTH = {"SH": 16, "LO": 64, "CS": 16, "AE": 16, "PN": 64, "ST": 1024, "UC": 1024}
REMOVED_MARK = "*"

_DATE_LIKE = re.compile(
    r"""
    \b(?:19|20)\d{2}[-./]?(?:0[1-9]|1[0-2])[-./]?(?:0[1-9]|[12]\d|3[01])\b      # 20240131
    | \b(?:0?[1-9]|[12]\d|3[01])[-./](?:0?[1-9]|1[0-2])[-./](?:19|20)?\d{2}\b    # 31/01/2024
    | \b(?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12]\d|3[01])[-./](?:19|20)\d{2}\b     # 01.31.2024
    | \b\d{1,2}[ -]?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?[ -,]*
      (?:19|20)\d{2}\b
    | \b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2},?\s+(?:19|20)\d{2}\b
    """,
    re.IGNORECASE | re.VERBOSE,
)


def dummy_value(vr: str) -> object:
    return DUMMY_BY_VR.get(vr, DUMMY_TEXT[: MAX_LENGTH.get(vr, 64)])


def parse_da(text: str, *, acr_nema: bool = True) -> dt.date | None:
    """A DA value as a real calendar date, or None. ``acr_nema`` also reads the old
    YYYY.MM.DD form (the engine must shift it; the checks report it as invalid)."""
    text = text.strip()
    if acr_nema and len(text) == 10 and text[4] == "." and text[7] == ".":
        text = text.replace(".", "")
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def shift_da(text: str, days: int) -> str | None:
    """A DA value moved back by ``days``; None when it is not a valid date (caller empties it)."""
    if not text.strip():
        return text
    if "-" in text.strip()[1:]:  # a range (query style): shift both ends
        parts = [shift_da(part, days) if part else "" for part in text.split("-")]
        return None if any(part is None for part in parts) else "-".join(p or "" for p in parts)
    date = parse_da(text)
    if date is None:
        return None
    return (date - dt.timedelta(days=days)).strftime("%Y%m%d")


def shift_dt(text: str, days: int) -> str | None:
    """A DT value with its date part moved back; the time and zone suffix are kept."""
    stripped = text.strip()
    if not stripped:
        return text
    if len(stripped) < 8:
        return None
    shifted = shift_da(stripped[:8], days)
    return None if shifted is None else shifted + stripped[8:]


def age_string(birth: dt.date, on: dt.date) -> str | None:
    """A DICOM age string (nnnD/W/M/Y) of someone born on ``birth`` at date ``on``."""
    if on < birth:
        return None
    years = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    if years >= 2:
        return f"{min(years, 999):03d}Y"
    months = (on.year - birth.year) * 12 + on.month - birth.month - (on.day < birth.day)
    if months >= 1:
        return f"{months:03d}M"
    days = (on - birth).days
    if days >= 7:
        return f"{days // 7:03d}W"
    return f"{days:03d}D"


def name_forms(value: str) -> set[str]:
    """The pieces of a person name worth searching for in free text (3+ characters)."""
    pieces = set()
    for group in value.split("="):
        for component in group.split("^"):
            for word in re.split(r"[\s,]+", component):
                if len(word) >= 3:
                    pieces.add(word)
    return pieces


def date_forms(value: str) -> set[str]:
    date = parse_da(value)
    if date is None:
        return set()
    return {
        date.strftime("%Y%m%d"),
        date.strftime("%Y-%m-%d"),
        date.strftime("%d/%m/%Y"),
        date.strftime("%m/%d/%Y"),
        date.strftime("%d.%m.%Y"),
        date.strftime("%m.%d.%Y"),
    }


class TextCleaner:
    """Removes a patient's identifying values and anything date-like from free text."""

    def __init__(self, values: Iterable[str]) -> None:
        words = sorted({v for v in values if len(v) >= 3}, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE) if words else None
        )

    def clean(self, text: str) -> str:
        if self._pattern is not None:
            text = self._pattern.sub(REMOVED_MARK, text)
        return _DATE_LIKE.sub(REMOVED_MARK, text)
