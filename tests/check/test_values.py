"""Value validity by VR: presence is not enough, and reports never show identifying values."""

from __future__ import annotations

import pytest
from pydicom.multival import MultiValue

from veil.check.evaluate import show_value
from veil.check.values import Validity, validate


@pytest.mark.parametrize(
    ("keyword", "value", "validity"),
    [
        ("StudyDate", "20240229", Validity.VALID),
        ("StudyDate", "20230229", Validity.INVALID),  # not a leap year
        ("StudyDate", "2024-02-01", Validity.INVALID),
        ("StudyDate", "", Validity.MISSING),
        ("StudyDate", "   ", Validity.MISSING),
        ("StudyDate", None, Validity.MISSING),
        ("AcquisitionDateTime", "20240101120000.5", Validity.VALID),
        ("AcquisitionDateTime", "20241301120000", Validity.INVALID),
        ("AcquisitionTime", "235959.123", Validity.VALID),
        ("AcquisitionTime", "245959", Validity.INVALID),
        ("PatientAge", "045Y", Validity.VALID),
        ("PatientAge", "012W", Validity.VALID),
        ("PatientAge", "45Y", Validity.INVALID),
        ("PatientSex", "F", Validity.VALID),
        ("PatientSex", "W", Validity.INVALID),
        ("SeriesInstanceUID", "1.2.840.10008.1", Validity.VALID),
        ("SeriesInstanceUID", "1.2.03.4", Validity.INVALID),  # leading zero
        ("SeriesInstanceUID", "1." + "2" * 70, Validity.INVALID),  # longer than 64
        ("SeriesInstanceUID", "1.2.a", Validity.INVALID),
        ("SliceThickness", "1.2", Validity.VALID),
        ("SliceThickness", "thick", Validity.INVALID),
        ("SliceThickness", "nan", Validity.INVALID),
        ("SeriesNumber", "5", Validity.VALID),
        ("SeriesNumber", "5.5", Validity.INVALID),
        ("Rows", 256, Validity.VALID),
        ("PixelSpacing", MultiValue(float, ["0.9", "0.9"]), Validity.VALID),
        ("PixelSpacing", "0.9", Validity.INVALID),  # one value, two expected
        ("ImageOrientationPatient", [1, 0, 0, 0, 1], Validity.INVALID),
    ],
)
def test_validity_by_vr(keyword: str, value: object, validity: Validity) -> None:
    assert validate(keyword, value)[0] is validity


def test_problem_text_never_repeats_the_value() -> None:
    for keyword, value in [
        ("StudyDate", "19991399"),
        ("PatientSex", "Smith"),
        ("PatientAge", "xx"),
    ]:
        _, problem = validate(keyword, value)
        assert value not in problem


@pytest.mark.parametrize(
    ("keyword", "value", "shown"),
    [
        ("PatientBirthDate", "19800101", "(present, masked)"),
        ("StudyDate", "20200101", "(present, masked)"),
        ("SeriesInstanceUID", "1.2.3.4", "(present, masked)"),
        ("PatientName", "Doe^Jane", "(present, masked)"),
        ("InstitutionName", "St Elsewhere", "(present, masked)"),
        ("SeriesDescription", "Jane Doe T1", "(present, masked)"),
        ("PatientAge", "045Y", "045Y"),
        ("PatientAge", "093Y", "090Y or older"),  # ages over 89 identify
        ("PatientSex", "F", "F"),
        ("Manufacturer", "GE MEDICAL SYSTEMS", "GE MEDICAL SYSTEMS"),
        ("Manufacturer", "", "(missing)"),
    ],
)
def test_reports_mask_identifying_values(keyword: str, value: str, shown: str) -> None:
    assert show_value(keyword, value) == shown
