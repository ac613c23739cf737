"""Build the MIDI-B-like set: real images from the corpus and pydicom's test files, five
synthetic patients with two or three studies each, identifiers planted the way the MIDI-B
challenge plants them (headers, free text, nested sequences, private blocks), and the answer
key (``answer.py``) that the scorer checks every output against.

    python benchmarks/midib/generate.py OUT_DIR [--corpus ../shared/corpus]

Writes OUT_DIR/input/NNNN.dcm and OUT_DIR/answer_key.json. Deterministic: the same corpus
gives the same set, byte for byte.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import sys
import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom._uid_dict import UID_dictionary  # pydicom.uid does not re-export it
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from answer import Action, Category, Check, FileKey, save
from people import PATIENTS, Patient

ROOT_UID = "1.2.826.0.1.3680043.10.1157"  # a made-up root for the planted UIDs
FILES_PER_SERIES = 3
MAX_FILE_BYTES = 4_000_000
SERIES_PER_STUDY = (3, 3, 2, 3, 4, 3, 3, 2, 3, 3, 4, 3)  # cycled over the studies
# Sources that are images of a person (not RT plans, SR or segmentations), in folders whose
# files pydicom reads without forcing.
_IMAGE_MODALITIES = {"MR", "CT", "CR", "NM", "US", "OT", "DX", "PT", "XA"}
_SKIP_FOLDERS = ("pydicom/charset_files", "dcm_qa_xa30/99_Phoenix_Document")
_PYDICOM_FILES = (
    "CT_small.dcm",
    "MR_small.dcm",
    "JPEG2000.dcm",
    "MR_small_RLE.dcm",
    "SC_rgb_jpeg_dcmtk.dcm",
    "US1_J2KR.dcm",
    "examples_ybr_color.dcm",
    "liver_1frame.dcm",
)
# Safe private attributes (PS3.15 Table E.3.10-1) planted so that Retain Safe Private is
# scored: (group, creator, element, VR, value).
_SAFE_PRIVATE = (
    (0x2005, "Philips MR Imaging DD 001", 0x0E, "FL", 1.8734),  # Scale Slope
    (0x2005, "Philips MR Imaging DD 001", 0x0D, "FL", -12.5),  # Scale Intercept
    (0x0043, "GEMS_PARM_01", 0x39, "IS", ["1000", "0", "0", "0"]),  # b-value
    (0x0019, "SIEMENS MR HEADER", 0x0C, "IS", "800"),  # B Value
)


@dataclass(frozen=True)
class Source:
    paths: tuple[Path, ...]
    label: str


def _digest(ds: Dataset) -> str | None:
    value = ds.get("PixelData", None)
    if not value:
        return None
    return hashlib.sha256(bytes(value)).hexdigest()


def find_sources(corpus: Path) -> list[Source]:
    """Series of real images in the corpus (three files each at most), then pydicom's files."""
    by_series: dict[tuple[str, str], list[Path]] = defaultdict(list)
    with (corpus / "manifest.tsv").open(encoding="utf-8") as stream:
        for row in csv.DictReader(stream, delimiter="\t"):
            note = row["parse_note"]
            if not (note == "ok" or note.startswith("pydicom_warning")):
                continue
            if row["modality"] not in _IMAGE_MODALITIES or int(row["size_bytes"]) > MAX_FILE_BYTES:
                continue
            folder = str(Path(row["path"]).parent)
            if folder.startswith(_SKIP_FOLDERS) or "/reference" in folder:
                continue
            by_series[(folder, row["series_instance_uid"])].append(corpus / row["path"])
    by_top: dict[str, list[Source]] = defaultdict(list)
    for (folder, _), paths in sorted(by_series.items()):
        top = folder.split("/")[0]
        by_top[top].append(Source(tuple(sorted(paths)[:FILES_PER_SERIES]), folder))
    test_files = Path(pydicom.__file__).parent / "data" / "test_files"
    for name in _PYDICOM_FILES:
        if (test_files / name).exists():
            by_top["pydicom package"].append(Source((test_files / name,), f"pydicom:{name}"))
    # Round robin over the corpus's sources (vendors, tools), so every patient gets a mix.
    sources: list[Source] = []
    while any(by_top.values()):
        for top in sorted(by_top):
            if by_top[top]:
                sources.append(by_top[top].pop(0))
    return sources


class UidMaker:
    """Deterministic planted UIDs, and one new UID per source UID (references follow)."""

    def __init__(self) -> None:
        self.mapped: dict[str, str] = {}

    def new(self, *parts: object) -> str:
        digest = int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:24], 16)
        return f"{ROOT_UID}.{digest}"[:64]

    def remap(self, old: str, *parts: object) -> str:
        if old not in self.mapped:
            self.mapped[old] = self.new("remap", old, *parts)
        return self.mapped[old]


_CLASS_SUFFIXES = ("ClassUID", "TransferSyntaxUID", "CodingSchemeUID", "CreatorUID")


def _remap_uids(ds: Dataset, uids: UidMaker, salt: str) -> None:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value:
                _remap_uids(item, uids, salt)
        elif elem.VR == "UI" and elem.value:
            keyword = keyword_for_tag(elem.tag) or ""
            if keyword.endswith(_CLASS_SUFFIXES):
                continue
            values = (
                elem.value
                if isinstance(elem.value, list | pydicom.multival.MultiValue)
                else [elem.value]
            )
            new = [
                uids.remap(str(v), salt) if str(v) and str(v) not in UID_dictionary else v
                for v in values
            ]
            elem.value = new if len(new) > 1 else new[0]


def _age(birth: str, on: str) -> str:
    b = dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    d = dt.date(int(on[:4]), int(on[4:6]), int(on[6:]))
    years = d.year - b.year - ((d.month, d.day) < (b.month, b.day))
    return f"{years:03d}Y"


def _honorific(patient: Patient) -> str:
    """How a physician is addressed after the name, in the patient's script."""
    return {"P3": "先生", "P4": "医生", "P5": " 선생님"}.get(patient.key, "")


def _family_given(patient: Patient) -> tuple[str, str]:
    """The name as prose: the ideographic group where there is one, else the alphabetic."""
    groups = patient.name.split("=")
    parts = (groups[1] if len(groups) > 1 else groups[0]).split("^")
    return parts[0].capitalize() if parts[0].isascii() else parts[0], (
        parts[1].capitalize() if parts[1].isascii() else parts[1]
    )


def _ddmmyyyy(date: str) -> str:
    return f"{date[6:8]}/{date[4:6]}/{date[:4]}"


class Planter:
    """Plants values into one dataset and records the checks of the answer key."""

    def __init__(self, ds: Dataset) -> None:
        self.ds = ds
        self.checks: list[Check] = []

    def check(self, path: str, action: Action, value: str, what: str, category: Category) -> None:
        self.checks.append(Check(path, action, value, what, category))

    def removed(
        self, keyword: str, value: object, what: str, category: Category = Category.HIPAA
    ) -> None:
        setattr(self.ds, keyword, value)
        text = "\\".join(value) if isinstance(value, list) else str(value)
        self.check(keyword, Action.TEXT_REMOVED, text, what, category)


def _names(pn: str) -> str:
    """A person name as prose tokens (every group's components)."""
    return " ".join(part for group in pn.split("=") for part in group.split("^") if part)


def _plant_uids(
    p: Planter,
    ds: Dataset,
    patient: Patient,
    instance: int,
    uids: UidMaker,
    key: tuple[str, int, int],
) -> None:
    # --- identity of the instance, series, study -----------------------------------------
    ds.StudyInstanceUID = uids.new("study", patient.key, key[1])
    ds.SeriesInstanceUID = uids.new("series", *key)
    ds.SOPInstanceUID = uids.new("sop", *key, instance)
    ds.FrameOfReferenceUID = uids.new("for", *key)
    if getattr(ds, "file_meta", None) is not None:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for keyword in (
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "FrameOfReferenceUID",
    ):
        value = str(ds[keyword].value)
        p.check(keyword, Action.UID_CHANGED, value, "instance UID", Category.HIPAA)
        p.check(keyword, Action.UID_CONSISTENT, value, "instance UID", Category.DICOM)
    # A reference to another instance of the same series, and to the study.
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = uids.new("sop", *key, (instance + 1) % FILES_PER_SERIES)
    ds.ReferencedImageSequence = Sequence([ref])
    p.check(
        "ReferencedImageSequence[0].ReferencedSOPInstanceUID",
        Action.UID_CHANGED,
        ref.ReferencedSOPInstanceUID,
        "referenced UID in a sequence",
        Category.HIPAA,
    )
    p.check(
        "ReferencedImageSequence[0].ReferencedSOPInstanceUID",
        Action.UID_CONSISTENT,
        ref.ReferencedSOPInstanceUID,
        "referenced UID in a sequence",
        Category.DICOM,
    )


def _plant_patient(p: Planter, ds: Dataset, patient: Patient, date: str) -> None:
    # --- patient ------------------------------------------------------------------------
    p.removed("PatientName", patient.name, "patient name")
    ds.PatientID = patient.patient_id
    # The source's issuer of patient ID is the source's: left in, it would make one synthetic
    # patient two (veil keys a patient by issuer + ID, issue 9), which the key cannot know.
    for keyword in ("IssuerOfPatientID", "IssuerOfPatientIDQualifiersSequence"):
        if keyword in ds:
            delattr(ds, keyword)
    p.check("PatientID", Action.PATID_CONSISTENT, patient.patient_id, "patient ID", Category.DICOM)
    p.check("PatientID", Action.TEXT_REMOVED, patient.patient_id, "patient ID", Category.HIPAA)
    p.removed("PatientBirthDate", patient.birth_date, "birth date")
    p.removed("PatientAddress", patient.address, "patient address")
    p.removed("PatientTelephoneNumbers", patient.phone, "patient phone")
    p.removed("PatientMotherBirthName", patient.mother_name, "mother's birth name")
    p.removed("OtherPatientIDs", patient.other_id, "other patient ID")
    other = Dataset()
    other.PatientID = patient.other_id
    other.IssuerOfPatientID = patient.institution
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    p.check(
        "OtherPatientIDsSequence[0].PatientID",
        Action.TEXT_REMOVED,
        patient.other_id,
        "patient ID in a sequence",
        Category.HIPAA,
    )
    for keyword, value in (
        ("PatientSex", patient.sex),
        ("PatientAge", _age(patient.birth_date, date)),
        ("PatientWeight", patient.weight),
        ("PatientSize", patient.size),
    ):
        setattr(ds, keyword, value)
        p.check(keyword, Action.TEXT_RETAINED, value, "patient characteristic", Category.TCIA)


def _plant_study(p: Planter, ds: Dataset, patient: Patient, study: int, date: str) -> str:
    # --- study ----------------------------------------------------------------------------
    accession = f"{patient.accession_prefix}{int(date) % 9999991:07d}"
    p.removed("AccessionNumber", accession, "accession number")
    p.removed("StudyID", f"S{study + 1}{int(date) % 99991:05d}", "study ID", Category.TCIA)
    p.removed("InstitutionName", patient.institution, "institution name", Category.TCIA)
    p.removed("InstitutionAddress", patient.institution_address, "institution address")
    p.removed("InstitutionalDepartmentName", patient.department, "department", Category.TCIA)
    p.removed("StationName", patient.station, "station name", Category.TCIA)
    p.removed("DeviceSerialNumber", patient.serial, "device serial number")
    p.removed(
        "ReferringPhysicianName", patient.referring.name, "referring physician", Category.TCIA
    )
    p.removed("ReferringPhysicianTelephoneNumbers", patient.phone[:-2] + "99", "physician phone")
    p.removed(
        "PerformingPhysicianName", patient.performing.name, "performing physician", Category.TCIA
    )
    p.removed("OperatorsName", patient.operator.name, "operator", Category.TCIA)
    p.removed(
        "NameOfPhysiciansReadingStudy", patient.performing.name, "reading physician", Category.TCIA
    )
    # Dates: every date of the study, some nested.
    for keyword in (
        "StudyDate",
        "SeriesDate",
        "AcquisitionDate",
        "ContentDate",
        "InstanceCreationDate",
        "PerformedProcedureStepStartDate",
    ):
        setattr(ds, keyword, date)
        p.check(keyword, Action.DATE_SHIFTED, date, "study date", Category.HIPAA)
    ds.AcquisitionDateTime = f"{date}101530.250000"
    p.check("AcquisitionDateTime", Action.DATE_SHIFTED, date, "date-time", Category.HIPAA)
    ds.StudyTime = "101500"
    return accession


def _plant_descriptions(
    p: Planter, ds: Dataset, patient: Patient, study: int, series: int, date: str
) -> None:
    # Free text with identifiers inside (the clinical words must stay).
    clinical_study = ("MRI BRAIN WITHOUT CONTRAST", "MRI HEAD FOLLOW UP", "NEURO PROTOCOL BRAIN")[
        study % 3
    ]
    if study == 0:
        ds.StudyDescription = f"{clinical_study} {patient.prose_name}"
        p.check(
            "StudyDescription",
            Action.TEXT_REMOVED,
            patient.prose_name,
            "patient name in a description",
            Category.HIPAA,
        )
    else:
        ds.StudyDescription = (
            f"{clinical_study} - Dr. {patient.referring.family}"
            if patient.key in ("P1", "P2")
            else f"{clinical_study} {patient.referring.family}{_honorific(patient)}"
        )
        p.check(
            "StudyDescription",
            Action.TEXT_REMOVED,
            patient.referring.family,
            "physician in a description",
            Category.TCIA,
        )
    p.check(
        "StudyDescription",
        Action.TEXT_RETAINED,
        clinical_study,
        "clinical description",
        Category.TCIA,
    )
    series_text = (
        str(ds.get("SeriesDescription", "") or "").strip()
        or str(ds.get("ProtocolName", "") or "").strip()
        or "AX T1"
    )
    ds.SeriesDescription = f"{series_text} {_ddmmyyyy(date)}" if series % 2 == 0 else series_text
    p.check(
        "SeriesDescription", Action.TEXT_RETAINED, series_text, "series description", Category.TCIA
    )
    if series % 2 == 0:
        p.check(
            "SeriesDescription",
            Action.TEXT_REMOVED,
            _ddmmyyyy(date),
            "date in a description",
            Category.HIPAA,
        )
    if str(ds.get("ProtocolName", "") or "").strip():
        p.check(
            "ProtocolName",
            Action.TEXT_RETAINED,
            str(ds.ProtocolName).strip(),
            "protocol name",
            Category.TCIA,
        )
    ds.ImageComments = f"MRN {patient.id_digits} - follow-up scan, compare with prior"
    p.check(
        "ImageComments",
        Action.TEXT_REMOVED,
        patient.id_digits,
        "record number in free text",
        Category.HIPAA,
    )
    p.check(
        "ImageComments", Action.TEXT_RETAINED, "follow-up scan", "clinical comment", Category.TCIA
    )
    ds.PatientComments = f"{patient.national_label} {patient.national_id}; contact {patient.email}"
    p.check(
        "PatientComments",
        Action.TEXT_REMOVED,
        patient.national_id,
        "national ID in free text",
        Category.HIPAA,
    )
    p.check(
        "PatientComments", Action.TEXT_REMOVED, patient.email, "e-mail in free text", Category.HIPAA
    )
    ds.AdditionalPatientHistory = f"Headaches since 2015, no trauma. Call {patient.phone}"
    p.check(
        "AdditionalPatientHistory",
        Action.TEXT_REMOVED,
        patient.phone,
        "phone in free text",
        Category.HIPAA,
    )
    p.check(
        "AdditionalPatientHistory",
        Action.TEXT_RETAINED,
        "Headaches since 2015, no trauma",
        "clinical history",
        Category.TCIA,
    )


def _plant_phrase(
    p: Planter, ds: Dataset, patient: Patient, study: int, series: int, date: str
) -> None:
    # One more free-text phrase per series, in rotation: other shapes of the same identifiers.
    family, given = _family_given(patient)
    month_date = dt.date(int(date[:4]), int(date[4:6]), int(date[6:])).strftime("%B %-d, %Y")
    phrases = (
        (
            f"Seen by DR. {patient.referring.family.upper()} on {month_date}",
            (
                (patient.referring.family.upper(), "physician in free text, upper case"),
                (month_date, "date with a month name in free text"),
            ),
        ),
        (
            f"Pt {family}, {given} of {patient.address}",
            (
                (f"{family}, {given}", "patient name in free text, family first"),
                (patient.address, "address in free text"),
            ),
        ),
        (
            f"Report at https://portal.example.org/r/{patient.id_digits}",
            ((f"https://portal.example.org/r/{patient.id_digits}", "URL in free text"),),
        ),
        (
            f"Tel. {patient.phone} / {patient.email}",
            ((patient.phone, "phone in free text"), (patient.email, "e-mail in free text")),
        ),
    )
    phrase, planted = phrases[(study + series) % len(phrases)]
    ds.PerformedProcedureStepDescription = f"BRAIN MRI. {phrase}"
    for text, what in planted:
        p.check(
            "PerformedProcedureStepDescription", Action.TEXT_REMOVED, text, what, Category.HIPAA
        )
    p.check(
        "PerformedProcedureStepDescription",
        Action.TEXT_RETAINED,
        "BRAIN MRI",
        "clinical description",
        Category.TCIA,
    )


def _plant_request(p: Planter, ds: Dataset, patient: Patient, date: str, accession: str) -> None:
    # The request, nested two levels, with the physician's name in a code meaning.
    code = Dataset()
    code.CodeValue = "MRBRN01"
    code.CodingSchemeDesignator = "99LOCAL"
    code.CodeMeaning = (
        f"MR BRAIN per Dr. {patient.referring.family}"
        if patient.key in ("P1", "P2")
        else f"MR BRAIN {patient.referring.family}{_honorific(patient)}"
    )
    request = Dataset()
    request.RequestedProcedureID = f"RP{int(date) % 999983:06d}"
    request.ScheduledProcedureStepID = f"SPS{int(date) % 99989:05d}"
    request.RequestedProcedureDescription = "MR BRAIN ROUTINE"
    request.AccessionNumber = accession
    request.RequestedProcedureCodeSequence = Sequence([code])
    ds.RequestAttributesSequence = Sequence([request])
    base = "RequestAttributesSequence[0]."
    p.check(
        base + "RequestedProcedureCodeSequence[0].CodeMeaning",
        Action.TEXT_REMOVED,
        patient.referring.family,
        "physician in a nested code meaning",
        Category.TCIA,
    )
    p.check(
        base + "RequestedProcedureCodeSequence[0].CodeMeaning",
        Action.TEXT_RETAINED,
        "MR BRAIN",
        "nested code meaning",
        Category.TCIA,
    )
    p.check(
        base + "AccessionNumber",
        Action.TEXT_REMOVED,
        accession,
        "accession number in a sequence",
        Category.HIPAA,
    )
    p.check(
        base + "RequestedProcedureID",
        Action.TEXT_REMOVED,
        request.RequestedProcedureID,
        "procedure ID in a sequence",
        Category.TCIA,
    )


def _plant_private(p: Planter, ds: Dataset, patient: Patient, study: int, series: int) -> None:
    # A private block of identifiers (must go) and safe private attributes (must stay).
    block = ds.private_block(0x0033, "MIDIB PHI", create=True)
    block.add_new(0x10, "LO", _names(patient.name).split()[0] + " " + patient.id_digits)
    block.add_new(0x11, "LO", patient.patient_id)
    block.add_new(0x12, "DA", patient.birth_date)
    p.check(
        "(0033,'MIDIB PHI',10)",
        Action.TEXT_REMOVED,
        patient.id_digits,
        "private identifier",
        Category.HIPAA,
    )
    p.check(
        "(0033,'MIDIB PHI',11)",
        Action.TEXT_REMOVED,
        patient.patient_id,
        "private identifier",
        Category.HIPAA,
    )
    p.check(
        "(0033,'MIDIB PHI',12)",
        Action.TEXT_REMOVED,
        patient.birth_date,
        "private birth date",
        Category.HIPAA,
    )
    group, creator, element, vr, value = _SAFE_PRIVATE[(study + series) % len(_SAFE_PRIVATE)]
    safe = ds.private_block(group, creator, create=True)
    if element not in safe:
        safe.add_new(element, vr, value)
        text = "\\".join(value) if isinstance(value, list) else str(value)
        p.check(
            f"({group:04X},'{creator}',{element:02X})",
            Action.TEXT_RETAINED,
            text,
            "safe private attribute",
            Category.TCIA,
        )


def _plant_kept(p: Planter, ds: Dataset) -> None:
    # --- what must stay ------------------------------------------------------------------
    for keyword in (
        "SOPClassUID",
        "SOPInstanceUID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "Modality",
    ):
        p.check(keyword, Action.TEXT_NOTNULL, "", "type 1 attribute", Category.DICOM)
    for keyword in (
        "PatientID",
        "PatientName",
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "ReferringPhysicianName",
        "StudyID",
        "PatientBirthDate",
        "PatientSex",
    ):
        p.check(keyword, Action.TAG_RETAINED, "", "type 2 attribute", Category.DICOM)
    for keyword in ("Manufacturer", "ManufacturerModelName"):
        value = str(ds.get(keyword, "") or "").strip()
        if value:
            p.check(keyword, Action.TEXT_RETAINED, value, "equipment", Category.TCIA)


def plant(
    ds: Dataset,
    patient: Patient,
    study: int,
    series: int,
    instance: int,
    uids: UidMaker,
    source_label: str,
) -> Planter:
    p = Planter(ds)
    date = patient.study_dates[study]
    key = (patient.key, study, series)
    ds.decode()  # every text value as str, so it is re-encoded in the patient's character set
    ds.SpecificCharacterSet = (
        patient.charset if "\\" not in patient.charset else ["", patient.charset.strip("\\")]
    )
    _remap_uids(ds, uids, f"{patient.key}/{study}/{series}")
    _plant_uids(p, ds, patient, instance, uids, key)
    _plant_patient(p, ds, patient, date)
    accession = _plant_study(p, ds, patient, study, date)
    _plant_descriptions(p, ds, patient, study, series, date)
    _plant_phrase(p, ds, patient, study, series, date)
    _plant_request(p, ds, patient, date, accession)
    _plant_private(p, ds, patient, study, series)
    _plant_kept(p, ds)
    return p


def generate(out: Path, corpus: Path) -> int:
    inputs = out / "input"
    inputs.mkdir(parents=True, exist_ok=True)
    sources = find_sources(corpus)
    uids = UidMaker()
    files: list[FileKey] = []
    seen_pixels: set[str] = set()
    source_index = 0
    study_number = 0
    counter = 0
    for patient in PATIENTS:
        for study in range(len(patient.study_dates)):
            n_series = SERIES_PER_STUDY[study_number % len(SERIES_PER_STUDY)]
            study_number += 1
            for series in range(n_series):
                source = sources[source_index % len(sources)]
                source_index += 1
                for instance, path in enumerate(source.paths):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        ds = pydicom.dcmread(path)
                        digest = _digest(ds)
                        if digest is None or digest in seen_pixels or "SOPClassUID" not in ds:
                            continue
                        seen_pixels.add(digest)
                        planter = plant(ds, patient, study, series, instance, uids, source.label)
                        name = f"{counter:04d}.dcm"
                        counter += 1
                        ds.save_as(inputs / name, enforce_file_format=True)
                    check = pydicom.dcmread(inputs / name)
                    files.append(
                        FileKey(
                            name=name,
                            patient=patient.key,
                            pixel_digest=digest,
                            sop_instance_uid=str(check.SOPInstanceUID),
                            series_instance_uid=str(check.SeriesInstanceUID),
                            study_instance_uid=str(check.StudyInstanceUID),
                            checks=[
                                *planter.checks,
                                Check(
                                    "PixelData",
                                    Action.PIXELS_RETAINED,
                                    digest,
                                    "pixel data",
                                    Category.TCIA,
                                ),
                            ],
                        )
                    )
    save(
        out / "answer_key.json",
        files,
        {
            "generator": "benchmarks/midib/generate.py v3",
            "patients": len(PATIENTS),
            "files": len(files),
            "sources": [s.label for s in sources[:source_index]],
        },
    )
    return len(files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--corpus", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "corpus"
    )
    args = parser.parse_args()
    count = generate(args.out, args.corpus)
    print(f"{count} files and their answer key in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
