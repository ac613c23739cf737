"""The linkage store's two halves: what to remember when a study leaves, and how to put the
original identifiers back on a result that comes home.

Only what the node itself sent is remembered, so a result can only be re-identified to a
patient and study this node de-identified; anything else is quarantined, never guessed. A
result gets back only the UIDs of its own study: one that carries UIDs the node linked for
another study (another patient's series, say) is quarantined. Two identities (name, birth date)
under one pseudonym are a conflict, found here within a study and by the store across studies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from pydicom import Dataset
from pydicom.dataelem import DataElement

from veil.dicom import text_values
from veil.errors import VeilError
from veil.mapping import Mapper, Patient
from veil.node.store.linkage import MAX_DATES, PatientLink, StudyLink, UidLink
from veil.node.store.sealing import normalised_name

# What de-identification adds to say it happened (PS3.15 E.1): a result going home is about a
# known patient again, so these go (PatientIdentityRemoved=YES on it would be false).
DEIDENTIFICATION_RECORD = (
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
    "LongitudinalTemporalInformationModified",
)


class UnknownPseudonymError(VeilError):
    """A returned result names a patient or study this node never sent."""


@dataclass
class Linkage:
    """Rows for the link_* tables, gathered from one original/de-identified pair."""

    patients: dict[str, PatientLink] = field(default_factory=dict)
    studies: dict[str, StudyLink] = field(default_factory=dict)
    uids: dict[tuple[str, str], UidLink] = field(default_factory=dict)
    # Pseudonyms under which the instances of one study carry different identities.
    conflicts: set[str] = field(default_factory=set)

    def update(self, other: Linkage) -> None:
        for pseudo, patient in other.patients.items():
            known = self.patients.get(pseudo)
            if known is not None and _differs(known, patient):
                self.conflicts.add(pseudo)
            self.patients.setdefault(pseudo, patient)
        self.conflicts |= other.conflicts
        for pseudo, study in other.studies.items():
            known_study = self.studies.get(pseudo)
            if known_study is not None:  # one study, many instances: every date they hold
                dates = set(known_study.original_dates) | set(study.original_dates)
                study = replace(known_study, original_dates=tuple(sorted(dates))[:MAX_DATES])
            self.studies[pseudo] = study
        self.uids.update(other.uids)


def _differs(a: PatientLink, b: PatientLink) -> bool:
    """Two identities differ when a name or birth date is given on both sides and unequal."""
    names = normalised_name(a.original_patient_name), normalised_name(b.original_patient_name)
    births = a.original_birth_date.strip(), b.original_birth_date.strip()
    return (all(names) and names[0] != names[1]) or (all(births) and births[0] != births[1])


def _ui_elements(ds: Dataset) -> Iterator[DataElement]:
    """Every UI element at every nesting level (file meta excluded: it follows the dataset)."""
    for element in ds:
        if element.VR == "SQ":
            for item in element.value or ():
                yield from _ui_elements(item)
        elif element.VR == "UI" and element.value:
            yield element


def collect(original: Dataset, output: Dataset, mapper: Mapper) -> Linkage:
    """What the linkage store must keep so results about ``output`` can come home."""
    link = Linkage()
    pseudo_study = str(output.get("StudyInstanceUID", "") or "")
    output_uids = {v for element in _ui_elements(output) for v in text_values(element.value)}
    for element in _ui_elements(original):
        for value in text_values(element.value):
            pseudo = mapper.uid(value)
            # Only UIDs the engine actually replaced (SOP classes, transfer syntaxes are kept).
            if pseudo in output_uids and pseudo != value:
                kind = element.keyword or "private"
                link.uids[(pseudo_study, pseudo)] = UidLink(pseudo, value, kind, pseudo_study)
    pseudo_patient = str(output.get("PatientID", "") or "")
    if pseudo_patient:
        link.patients[pseudo_patient] = PatientLink(
            pseudo_patient_id=pseudo_patient,
            original_patient_id=_text(original, "PatientID"),
            original_patient_name=_text(original, "PatientName"),
            original_birth_date=_text(original, "PatientBirthDate"),
            original_sex=_text(original, "PatientSex"),
            original_issuer=_text(original, "IssuerOfPatientID"),
        )
    pseudo_study = str(output.get("StudyInstanceUID", "") or "")
    if pseudo_study:
        # Dates moved on the way out (the engine says so in (0028,0303)): remember by how much
        # and from what, so that a result's dates can be moved back, and only those.
        moved = str(output.get("LongitudinalTemporalInformationModified", "")) == "MODIFIED"
        link.studies[pseudo_study] = StudyLink(
            pseudo_study_uid=pseudo_study,
            original_study_uid=_text(original, "StudyInstanceUID"),
            pseudo_patient_id=pseudo_patient,
            original_accession=_text(original, "AccessionNumber"),
            pseudo_accession=str(output.get("AccessionNumber", "") or ""),
            original_study_date=_text(original, "StudyDate"),
            original_study_time=_text(original, "StudyTime"),
            date_offset_days=mapper.date_offset_days(Patient.of(original)) if moved else None,
            original_dates=tuple(sorted(_dates(original)))[:MAX_DATES] if moved else (),
        )
    return link


def _text(ds: Dataset, keyword: str) -> str:
    return str(ds.get(keyword, "") or "").strip()


def _dates(ds: Dataset) -> set[str]:
    """Every date (YYYYMMDD) of a DA value or a DT value's date part, at every level."""
    found: set[str] = set()
    for element in ds:
        if element.VR == "SQ":
            for item in element.value or ():
                found |= _dates(item)
        elif element.VR in ("DA", "DT") and element.value:
            for value in text_values(element.value):
                day = value.strip()[:8]
                if _parse(day) is not None:
                    found.add(day)
    return found


def _parse(day: str) -> dt.date | None:
    if len(day) != 8 or not day.isdigit():
        return None
    try:
        return dt.date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError:
        return None


def dates_back(ds: Dataset, study: StudyLink) -> int:
    """Move every date of ``ds`` that is one of the study's dates as sent back to the original
    (at every level, DT values keep their time); how many values moved. Dates the processing
    wrote itself (a report's creation date) are not among them and stay as they are."""
    if study.date_offset_days is None or not study.original_dates:
        return 0
    originals = set(study.original_dates)
    offset = dt.timedelta(days=study.date_offset_days)
    moved = 0

    def back(value: str) -> str:
        nonlocal moved
        day = _parse(value.strip()[:8])
        if day is None:
            return value
        original = (day + offset).strftime("%Y%m%d")
        if original not in originals:
            return value
        moved += 1
        return original + value.strip()[8:]

    def walk(item: Dataset) -> None:
        for element in item:
            if element.VR == "SQ":
                for child in element.value or ():
                    walk(child)
            elif element.VR in ("DA", "DT") and element.value:
                values = [back(v) for v in text_values(element.value)]
                element.value = values if element.VM > 1 else values[0]

    walk(ds)
    return moved


class LinkageLookup(Protocol):
    """The read side the re-identification needs (implemented by `LinkageStore`)."""

    def patient(self, pseudo_patient_id: str) -> PatientLink | None: ...
    def study(self, pseudo_study_uid: str) -> StudyLink | None: ...
    def uids(self, pseudo_uids: Sequence[str], pseudo_study_uid: str) -> dict[str, str]: ...
    def linked_elsewhere(self, pseudo_uids: Sequence[str], pseudo_study_uid: str) -> int: ...


def reidentify(ds: Dataset, lookup: LinkageLookup) -> Dataset:
    """Restore the original patient, study, accession and every known UID on ``ds`` in place.

    Raises UnknownPseudonymError when the patient or the study is not one the node sent;
    UIDs the processing created itself (the result's own series and instance) stay as they are.
    """
    pseudo_patient = str(ds.get("PatientID", "") or "").strip()
    patient = lookup.patient(pseudo_patient) if pseudo_patient else None
    if patient is None:
        raise UnknownPseudonymError("the result's PatientID is not a pseudonym this node sent")
    pseudo_study = str(ds.get("StudyInstanceUID", "") or "").strip()
    study = lookup.study(pseudo_study) if pseudo_study else None
    if study is None or study.pseudo_patient_id != pseudo_patient:
        raise UnknownPseudonymError(
            "the result's StudyInstanceUID is not a study this node sent for that patient"
        )
    elements = list(_ui_elements(ds))
    carried = sorted({v for e in elements for v in text_values(e.value)})
    if lookup.linked_elsewhere(carried, pseudo_study):
        raise UnknownPseudonymError(
            "the result carries UIDs the node linked for another study (another patient's "
            "series or instances?); only its own study's UIDs may be restored"
        )
    found = lookup.uids(carried, pseudo_study)
    for keyword in DEIDENTIFICATION_RECORD:
        if keyword in ds:
            delattr(ds, keyword)
    dates_back(ds, study)
    _restore_patient(ds, patient)
    _restore_study(ds, study)
    for element in elements:
        restored = [found.get(v, v) for v in text_values(element.value)]
        element.value = restored if element.VM > 1 else restored[0]
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _restore_patient(ds: Dataset, patient: PatientLink) -> None:
    """The Patient module as the home PACS knows it (values it does not know are left)."""
    ds.PatientID = patient.original_patient_id
    ds.PatientName = patient.original_patient_name
    if patient.original_issuer:
        ds.IssuerOfPatientID = patient.original_issuer
    elif "IssuerOfPatientID" in ds:  # not ours: the PACS must not file it under another issuer
        del ds.IssuerOfPatientID
    if patient.original_birth_date:
        ds.PatientBirthDate = patient.original_birth_date
    if patient.original_sex:
        ds.PatientSex = patient.original_sex


def _restore_study(ds: Dataset, study: StudyLink) -> None:
    """What the home PACS files a result by: the original study's accession, date and time
    (its Study Instance UID comes back with the other UIDs)."""
    ds.AccessionNumber = study.original_accession
    if study.original_study_date:
        ds.StudyDate = study.original_study_date
    if study.original_study_time:
        ds.StudyTime = study.original_study_time
