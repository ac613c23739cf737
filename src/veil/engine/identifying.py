"""The patient's identifying values that cleaning removes from free text (Clean Descriptors,
Clean Structured Content): names in every form, IDs, birth date in common date formats, the
accession number, the institution and the physicians, taken once from the top level."""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.dataset import Dataset

from veil.dicom import dictionary_vr, tag_of, values_of
from veil.engine.values import date_forms, name_forms

IDENTIFYING_SOURCES = tuple(
    tag_of(keyword)
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "AccessionNumber",
        "StudyID",  # turns up in labels and descriptions
        "InstitutionName",
        "ReferringPhysicianName",
        "PerformingPhysicianName",
        "NameOfPhysiciansReadingStudy",
        "OperatorsName",
        "PatientInsurancePlanCodeSequence",
        "OtherPatientIDs",
        "OtherPatientNames",
        "PatientMotherBirthName",
        "RequestingPhysician",
        "InstitutionAddress",
    )
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
            if dictionary_vr(tag) == "PN":
                values.extend(name_forms(text))
            if dictionary_vr(tag) == "DA":
                values.extend(date_forms(text))
            if text.lstrip("0") and text.lstrip("0") != text:
                values.append(text.lstrip("0"))
    return values


def identifying_values(ds: Dataset) -> list[str]:
    """The identifying texts of a dataset's top level."""
    return identifying_texts((tag, ds[tag].value) for tag in IDENTIFYING_SOURCES if tag in ds)
