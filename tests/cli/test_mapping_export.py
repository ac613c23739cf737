"""`veil mapping export`: the coordinator's locked table, in the format `--lookup` reads."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pydicom
import pytest

from tests.conftest import TEST_KEY, run_veil
from veil.keys import read_lookup_table
from veil.mapping import Mapper, Patient

GE_T1 = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
OTHER_KEY = "0123" * 16
PATIENTS = [("MRN12345", ""), ("MRN12345", "HOSP-B"), ('P,99"quoted', ""), ("UNKNOWN", "")]


@pytest.fixture
def four_patients(corpus: Path, tmp_path: Path) -> Path:
    """Real GE files under four identities: one MRN from two issuers, an ID with a comma and a
    quote, and a placeholder ID (keyed per study, so it has no row)."""
    folder = tmp_path / "in"
    folder.mkdir()
    files = sorted(p for p in (corpus / GE_T1).iterdir() if ".MRDC." in p.name)[:4]
    for index, (path, (patient_id, issuer)) in enumerate(zip(files, PATIENTS, strict=True)):
        ds = pydicom.dcmread(path)
        ds.PatientID = patient_id
        if issuer:
            ds.IssuerOfPatientID = issuer
        ds.StudyInstanceUID = f"{ds.StudyInstanceUID}.{index}"
        ds.save_as(folder / f"{index}.dcm")
    return folder


def test_export_writes_one_owner_only_row_per_patient_and_logs_no_identifier(
    four_patients: Path, tmp_path: Path
) -> None:
    table = tmp_path / "table.csv"
    result = run_veil("mapping", "export", four_patients, "--out", table)

    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(table.stat().st_mode) == 0o600
    with table.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [list(row) for row in rows[:1]] == [
        ["PatientID", "IssuerOfPatientID", "pseudonym", "date_offset_days"]
    ]
    assert sorted((r["PatientID"], r["IssuerOfPatientID"]) for r in rows) == sorted(PATIENTS[:3])
    mapper = Mapper(bytes.fromhex(TEST_KEY))
    for row in rows:
        patient = Patient(row["PatientID"], row["IssuerOfPatientID"])
        assert row["pseudonym"] == mapper.patient_pseudonym(patient)
        assert int(row["date_offset_days"]) == mapper.date_offset_days(patient)
    assert "wrote 3 patient(s) from 4 DICOM file(s)" in result.stderr
    assert "1 file(s) have no real PatientID" in result.stderr
    for patient_id, _ in PATIENTS:
        assert patient_id not in result.stderr + result.stdout


def test_export_refuses_to_overwrite_a_table(four_patients: Path, tmp_path: Path) -> None:
    table = tmp_path / "table.csv"
    table.write_text("precious\n")
    result = run_veil("mapping", "export", four_patients, "--out", table)
    assert result.returncode == 2
    assert "never overwrites a mapping table" in result.stderr
    assert table.read_text() == "precious\n"


@pytest.mark.slow
def test_the_table_given_back_as_lookup_reproduces_every_pseudonym_and_date_under_any_key(
    four_patients: Path, tmp_path: Path
) -> None:
    table = tmp_path / "table.csv"
    run_veil("mapping", "export", four_patients, "--out", table, check=True)
    assert len(read_lookup_table(table)) == 3  # the reader takes the file as written

    keyed, looked_up = tmp_path / "keyed", tmp_path / "looked-up"
    research = ("--layout", "mirror", "--policy", "research-longitudinal", "-q")
    run_veil("deid", four_patients, "--out", keyed, *research, check=True)
    run_veil(
        "deid",
        four_patients,
        "--out",
        looked_up,
        *research,
        "--lookup",
        table,
        key=OTHER_KEY,
        check=True,
    )
    for index in range(3):  # the placeholder patient is keyed per study: key-dependent
        a = pydicom.dcmread(keyed / f"{index}.dcm", stop_before_pixels=True)
        b = pydicom.dcmread(looked_up / f"{index}.dcm", stop_before_pixels=True)
        assert a.PatientID == b.PatientID
        assert a.StudyDate and a.StudyDate == b.StudyDate  # shifted by the same offset
        assert a.get("AcquisitionDate") == b.get("AcquisitionDate")
