"""The coordinator's table of who is who: PatientID (+ issuer) -> pseudonym and date offset.

`veil mapping export INPUT... --out table.csv` reads the inputs' headers (never the pixel
data), keys every patient as `veil deid` would (`veil.mapping.Mapper`, lookup table first) and
writes one row per patient in exactly the format ``--lookup`` reads
(`veil.keys.read_lookup_table`): ``PatientID,IssuerOfPatientID,pseudonym,date_offset_days``.
Given back as ``--lookup``, the table reproduces the same pseudonyms and offsets.

The table is the one file that re-identifies: it is created owner-only (0600) and never
written over an existing file. Nothing here logs or raises with a value in it. Datasets whose
PatientID is a placeholder (empty, ``0``, ``UNKNOWN``) are keyed per study, not per patient,
so they cannot be listed; they are counted.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.errors import InvalidDicomError

from veil.errors import InputFileError, UnsafeOutputError
from veil.io.atomic import write_new
from veil.io.inputs import InputItem
from veil.mapping import Mapper, Patient, PatientKeyKind

COLUMNS = ("PatientID", "IssuerOfPatientID", "pseudonym", "date_offset_days")
_HEADER_TAGS = ["PatientID", "IssuerOfPatientID", "StudyInstanceUID", "SOPInstanceUID"]


@dataclass(frozen=True)
class Row:
    patient_id: str = field(repr=False)
    issuer: str = field(repr=False)
    pseudonym: str
    date_offset_days: int


@dataclass
class MappingTable:
    rows: dict[tuple[str, str], Row] = field(default_factory=dict)
    files: int = 0  # DICOM files read
    placeholder_files: int = 0  # keyed per study: not listable
    skipped: int = 0  # not DICOM
    unreadable: list[str] = field(default_factory=list)  # "<file>: <problem>"

    def to_csv(self) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in sorted(self.rows.values(), key=lambda r: r.pseudonym):
            writer.writerow([row.patient_id, row.issuer, row.pseudonym, row.date_offset_days])
        return buffer.getvalue().encode("utf-8")


def _clean(value: object) -> str:
    return "" if value is None else str(value).strip().rstrip("\x00").strip()


def _header(data: bytes) -> pydicom.Dataset | None:
    try:
        return pydicom.dcmread(
            io.BytesIO(data), stop_before_pixels=True, specific_tags=_HEADER_TAGS
        )
    except InvalidDicomError:
        return None  # not DICOM (no preamble and no plausible first element)


def collect_table(items: Iterable[InputItem], mapper: Mapper) -> MappingTable:
    """One row per patient of the inputs; problems are counted or named by file only."""
    table = MappingTable()
    for item in items:
        try:
            ds = _header(item.read())
        except InputFileError as exc:
            table.unreadable.append(str(exc))
            continue
        except OSError as exc:
            table.unreadable.append(f"{item.display}: unreadable ({exc.strerror})")
            continue
        except Exception as exc:  # a header pydicom cannot parse: the type only
            table.unreadable.append(
                f"{item.display}: the header cannot be read ({type(exc).__name__})"
            )
            continue
        if ds is None or ("PatientID" not in ds and "StudyInstanceUID" not in ds):
            table.skipped += 1
            continue
        table.files += 1
        patient = Patient.of(ds)
        if mapper.patient_key(patient).kind is PatientKeyKind.STUDY:
            table.placeholder_files += 1
            continue
        key = (_clean(patient.issuer), _clean(patient.patient_id))
        if key not in table.rows:
            table.rows[key] = Row(
                key[1],
                key[0],
                mapper.patient_pseudonym(patient),
                mapper.date_offset_days(patient),
            )
    return table


def write_table(path: Path, table: MappingTable) -> None:
    """Write the table owner-only, never over an existing file."""
    try:
        write_new(path, table.to_csv())
    except FileExistsError:
        raise UnsafeOutputError(
            f"{path}: already exists; veil never overwrites a mapping table: choose a new name "
            "or move the old one away"
        ) from None
    path.chmod(0o600)
