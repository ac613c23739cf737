"""Two patients must never share a pseudonym (and a date offset): not when their PatientID is
empty or a placeholder, not when one MRN comes from two issuers. One patient keeps one."""

from __future__ import annotations

from datetime import date

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from tests.security.support import real_files, run_measured

# (file, PatientID, IssuerOfPatientID, PatientName, study)
CASES = [
    ("empty-a", "", "", "ALPHA^ANN", "s1"),
    ("empty-b", "", "", "BETA^BOB", "s2"),
    ("zero-a", "0", "", "GAMMA^GUS", "s3"),
    ("zero-b", "0", "", "DELTA^DOT", "s4"),
    ("unknown-a", "UNKNOWN", "", "EPSILON^EVE", "s5"),
    ("unknown-b", "UNKNOWN", "", "ZETA^ZED", "s6"),
    ("north", "12345", "NORTH-HOSPITAL", "ETA^ED", "s7"),
    ("south", "12345", "SOUTH-HOSPITAL", "THETA^TOM", "s8"),
    ("north-again", "12345", "NORTH-HOSPITAL", "ETA^ED", "s9"),
]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, date]]:
    """Each case de-identified by `veil deid` (research policy: dates shift per patient)."""
    folder = tmp_path_factory.mktemp("in")
    studies = {study: generate_uid() for *_, study in CASES}
    source = real_files(1)[0]
    for name, patient_id, issuer, patient_name, study in CASES:
        ds = dcmread(source)
        ds.PatientID, ds.PatientName = patient_id, patient_name
        if issuer:
            ds.IssuerOfPatientID = issuer
        ds.StudyInstanceUID = studies[study]
        ds.SeriesInstanceUID = generate_uid()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        # Dates stay as the scanner wrote them (all one day): a study date changed alone could,
        # once shifted, equal an unchanged original date by chance, which the audit rightly flags.
        ds.save_as(folder / f"{name}.dcm")
    out = tmp_path_factory.mktemp("out")
    run = run_measured(
        "deid",
        folder,
        "--out",
        out,
        "--layout",
        "mirror",
        "--policy",
        "research-longitudinal",
        "-q",
    )
    assert run.returncode == 0, run.stderr
    result = {}
    for name, *_ in CASES:
        ds = dcmread(out / f"{name}.dcm", stop_before_pixels=True)
        shifted = date(int(ds.StudyDate[:4]), int(ds.StudyDate[4:6]), int(ds.StudyDate[6:]))
        result[name] = (str(ds.PatientID), shifted)
    return result


@pytest.mark.parametrize("placeholder", ["empty", "zero", "unknown"])
def test_patients_without_a_real_id_get_their_own_pseudonym_and_offset(
    outputs: dict[str, tuple[str, date]], placeholder: str
) -> None:
    first, second = outputs[f"{placeholder}-a"], outputs[f"{placeholder}-b"]
    assert first[0] != second[0], "two unknown patients share one pseudonym"
    assert first[1] != second[1], "two unknown patients share one date offset"


def test_one_mrn_from_two_issuers_is_two_patients(outputs: dict[str, tuple[str, date]]) -> None:
    assert outputs["north"][0] != outputs["south"][0]


def test_one_patient_keeps_one_pseudonym_and_offset_across_studies(
    outputs: dict[str, tuple[str, date]],
) -> None:
    assert outputs["north"] == outputs["north-again"]
