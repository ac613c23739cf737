"""Deriving PatientAge from the birth date and the earliest study date, for destinations that
need an age once the birth date is removed (a requirement's ``derive-age``)."""

from __future__ import annotations

from collections.abc import Callable

from pydicom.dataset import Dataset

from veil.dicom import AGE_PATTERN, tag_of, tag_text
from veil.engine.context import Decision
from veil.engine.values import age_string, parse_da

PATIENT_AGE = tag_of("PatientAge")
BIRTH_DATE = tag_of("PatientBirthDate")
# Study, series, acquisition, content date: the first valid one counts.
AGE_REFERENCE_DATES = tuple(
    tag_of(keyword) for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate")
)


def derived_age(current: object, birth: object, references: list[object]) -> str | None:
    """The age to write, or None to leave PatientAge as it is.

    ``current`` is PatientAge's value (None when absent), ``birth`` the birth date's, and
    ``references`` the values of ``AGE_REFERENCE_DATES`` in that order (None when absent). A
    valid age stays; an invalid one ("99", "22Y") is replaced when the birth date allows,
    since the birth date is removed afterwards and the age would be lost.
    """
    if valid_age(current):
        return None
    born = parse_da(str(birth or ""))
    if born is None:
        return None
    for value in references:
        if not value:
            continue
        on = parse_da(str(value))
        if on is None:
            continue  # an unparsable date: try the next reference date
        return age_string(born, on)
    return None


def valid_age(current: object) -> bool:
    """Whether PatientAge's value (None when absent) is an age that stays as it is."""
    return current is not None and AGE_PATTERN.match(str(current).strip()) is not None


def derive_age(ds: Dataset, record: Callable[[Decision], None]) -> None:
    """Fill PatientAge from birth date and the earliest study/series date, when absent."""
    age = derived_age(
        ds.get("PatientAge", None),
        ds.get("PatientBirthDate", "") or "",
        [ds[tag].value if tag in ds else None for tag in AGE_REFERENCE_DATES],
    )
    if age:
        ds.PatientAge = age
        record(
            Decision(
                tag_text(PATIENT_AGE),
                PATIENT_AGE,
                "(absent or invalid)",
                age,
                "derived from birth date and study date (requirement)",
                "kept; derived from birth date and study date where absent or invalid",
            )
        )
