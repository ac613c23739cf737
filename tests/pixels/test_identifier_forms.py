"""Burned-in forms of the input's own values: dates as scanners print them, names, short IDs."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from veil.pixels.identifiers import MONTHS, collect, match
from veil.pixels.model import RedactMode
from veil.pixels.select import removal_reason


def _ds(**values: str) -> Dataset:
    ds = Dataset()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def test_the_aloka_date_24_may_02_matches_the_header_date_20020524() -> None:
    needles = collect(_ds(StudyDate="20020524"))
    assert match("24-MAY-02", needles) == ["date"]
    assert match("5/24/2002", needles) == ["date"]
    assert match("24.05.2002", needles) == ["date"]
    assert match("24-MAY-03", needles) == []


def test_names_match_in_any_order_and_with_an_ocr_misread() -> None:
    needles = collect(_ds(PatientName="DOE^JOHNATHAN"))
    assert match("Doe, Johnathan", needles) == ["patient-name"]
    assert match("JOHNATHAN DOE", needles) == ["patient-name"]
    assert match("D0E*JOHNATHAN", needles) == ["patient-name"]  # two misreads in a long value


def test_a_short_id_matches_only_as_a_whole_word() -> None:
    needles = collect(_ds(PatientID="204"))
    assert match("ID: 204", needles) == ["patient-id"]
    assert match("2048x1536", needles) == []


def test_placeholders_and_single_characters_are_not_identifiers() -> None:
    needles = collect(_ds(PatientName="A", InstitutionName="NONE", PatientID="000", StudyID="1"))
    assert needles == ()


@given(
    st.dates(min_value=datetime.date(1950, 1, 1), max_value=datetime.date(2049, 12, 31)),
    st.integers(0, 5),
)
def test_any_rendering_of_a_header_date_is_found(day: datetime.date, style: int) -> None:
    needles = collect(_ds(StudyDate=day.strftime("%Y%m%d")))
    month = MONTHS[day.month - 1]
    shown = [
        day.strftime("%Y-%m-%d"),
        f"{day.day:02d}-{month}-{day.year % 100:02d}",
        f"{day.month}/{day.day}/{day.year}",
        day.strftime("%d.%m.%Y"),
        f"{month} {day.day}, {day.year}",
        day.strftime("%Y/%m/%d"),
    ][style]
    assert match(shown, needles) == ["date"]


def test_all_text_keeps_acoustic_labels_and_removes_dates_names_and_unknown_text() -> None:
    needles = collect(_ds(PatientName="PLA"))
    mode = RedactMode.ALL_TEXT
    assert removal_reason("TIS<0.4 MI=0.8 A0=100%", mode, needles, ()) is None
    assert removal_reason("11cm", mode, needles, ()) is None
    assert removal_reason("PLA", mode, needles, ()) == "patient-name"
    assert removal_reason("5/25/2011", mode, needles, ()) == "date"
    assert removal_reason("WESTWAY MEDICAL", mode, needles, ()) == "text"
    assert removal_reason("WESTWAY MEDICAL", mode, needles, ("WESTWAY.*",)) is None


def test_sensitive_keeps_measurements_and_removes_identifier_shapes() -> None:
    mode = RedactMode.SENSITIVE
    assert removal_reason("+ Cist Mag 1.06 cm", mode, (), ()) is None
    assert removal_reason("11-05-25-142825", mode, (), ()) == "date"
    assert removal_reason("2:56:22 PM", mode, (), ()) == "time"
    assert removal_reason("MRN 1234567", mode, (), ()) == "digits"
