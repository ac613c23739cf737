"""Where the patient's age comes from, the way a volumetry service reads it.

The age is PatientAge when it is valid, else it is derived from PatientBirthDate and the first
valid of AcquisitionDate, ContentDate, StudyDate, SeriesDate (the order the destination lists
them in); else there is none. A report says which of these decided, and the age (ages of 90
years and over only as a band, since they identify).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pydicom.dataset import Dataset

from veil.check.access import lookup
from veil.check.values import parse_date
from veil.dicom import AGE_PATTERN
from veil.engine.values import age_string

REFERENCE_DATES = ("AcquisitionDate", "ContentDate", "StudyDate", "SeriesDate")
_DAYS_PER = {"D": 1.0, "W": 7.0, "M": 365.25 / 12, "Y": 365.25}


class AgeSource(str, Enum):
    PATIENT_AGE = "PatientAge"
    DERIVED = "derived"
    NONE = "none"


def years_of(age: str) -> float | None:
    """A DICOM age string (nnnD/W/M/Y) in years, or None when it is not one."""
    text = age.strip()
    if AGE_PATTERN.match(text) is None:
        return None
    return int(text[:3]) * _DAYS_PER[text[3]] / 365.25


def shown_age(age: str) -> str:
    years = years_of(age)
    return "090Y or older" if years is not None and years >= 90 else age.strip()


@dataclass(frozen=True)
class AgeReading:
    """The age a destination would read from one file, and which rule decided it."""

    source: AgeSource
    age: str = ""  # nnnD/W/M/Y
    reference: str = ""  # the date keyword the age was derived to
    invalid_age: bool = False  # PatientAge is present but not a valid age string

    @property
    def years(self) -> float | None:
        return years_of(self.age) if self.age else None

    def describe(self) -> str:
        note = " (PatientAge is present but not a valid age)" if self.invalid_age else ""
        if self.source is AgeSource.PATIENT_AGE:
            return f"PatientAge {shown_age(self.age)} (present and valid)"
        if self.source is AgeSource.DERIVED:
            return (
                f"{shown_age(self.age)}, derived from PatientBirthDate and {self.reference}{note}"
            )
        return f"no age: no valid PatientAge, no valid PatientBirthDate with a study date{note}"


def read_age(ds: Dataset) -> AgeReading:
    """The age of the patient in `ds`, by the destination's rule."""
    raw = lookup(ds, "PatientAge")
    text = str(raw or "").strip()
    if years_of(text) is not None:
        return AgeReading(AgeSource.PATIENT_AGE, text)
    invalid = bool(text)
    birth = parse_date(str(lookup(ds, "PatientBirthDate") or ""))
    if birth is not None:
        for keyword in REFERENCE_DATES:
            on = parse_date(str(lookup(ds, keyword) or ""))
            if on is None:
                continue
            derived = age_string(birth, on)
            if derived:
                return AgeReading(AgeSource.DERIVED, derived, keyword, invalid)
    return AgeReading(AgeSource.NONE, invalid_age=invalid)
