"""The linkage store's two halves: what to remember when a study leaves, and how to put the
original identifiers back on a result that comes home.

Only what the node itself sent is remembered, so a result can only be re-identified to a
patient and study this node de-identified; anything else is quarantined, never guessed. A
result gets back only the UIDs of its own study: one that carries UIDs the node linked for
another study (another patient's series, say) is quarantined. Two identities (name, birth date)
under one pseudonym are a conflict, found here within a study and by the store across studies.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from pydicom import Dataset
from pydicom.dataelem import DataElement

from veil.dicom import text_values
from veil.errors import VeilError
from veil.mapping import Mapper
from veil.node.store.linkage import PatientLink, StudyLink, UidLink
from veil.node.store.sealing import normalised_name


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
        self.studies.update(other.studies)
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
            original_patient_id=str(original.get("PatientID", "") or ""),
            original_patient_name=str(original.get("PatientName", "") or ""),
            original_birth_date=str(original.get("PatientBirthDate", "") or ""),
        )
    pseudo_study = str(output.get("StudyInstanceUID", "") or "")
    if pseudo_study:
        link.studies[pseudo_study] = StudyLink(
            pseudo_study_uid=pseudo_study,
            original_study_uid=str(original.get("StudyInstanceUID", "") or ""),
            pseudo_patient_id=pseudo_patient,
            original_accession=str(original.get("AccessionNumber", "") or ""),
            pseudo_accession=str(output.get("AccessionNumber", "") or ""),
        )
    return link


class IdentityRecord(Protocol):
    def conflicts(self, patients: Sequence[PatientLink]) -> list[str]: ...


def identity_conflicts(link: Linkage, store: IdentityRecord) -> list[str]:
    """Pseudonyms under which this study, or this study and the store, hold two identities."""
    return sorted(link.conflicts | set(store.conflicts(list(link.patients.values()))))


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
    ds.PatientID = patient.original_patient_id
    ds.PatientName = patient.original_patient_name
    ds.AccessionNumber = study.original_accession
    for element in elements:
        restored = [found.get(v, v) for v in text_values(element.value)]
        element.value = restored if element.VM > 1 else restored[0]
    meta = getattr(ds, "file_meta", None)
    if meta is not None and "SOPInstanceUID" in ds:
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds
