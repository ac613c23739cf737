"""Scenario: another tool cleaned the header but named the folders after the patient
(`HARLOWE_QUENTIN/MRN4477120/IM1.dcm`): the paired audit reports the file name as a leak,
without printing it; the folder the user chose to audit is not judged."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pydicom import dcmread

from tests.conftest import run_veil

SERIES = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
NAME, MRN = "Harlowe^Quentin", "MRN4477120"


def test_a_patient_named_folder_is_a_finding(tmp_path: Path, corpus: Path) -> None:
    originals = tmp_path / "originals"
    originals.mkdir()
    source = sorted((corpus / SERIES).iterdir())[0]
    ds = dcmread(source)
    ds.PatientName, ds.PatientID = NAME, MRN
    ds.save_as(originals / "IM1.dcm")
    # The user's own folder may hold anything (here the patient's name): it is not judged.
    clean = tmp_path / "Harlowe-study" / "out"
    run_veil("deid", originals, "--out", clean, "-j", "1", "-q", check=True)
    report = tmp_path / "audit.json"
    assert run_veil("audit", originals, clean, "--json", report, "-j", "1").returncode == 0

    leaky = tmp_path / "received" / "HARLOWE_QUENTIN" / MRN
    leaky.mkdir(parents=True)
    shutil.copy2(next(p for p in sorted(clean.rglob("*.dcm")) if p.is_file()), leaky / "IM1.dcm")
    result = run_veil("audit", originals, tmp_path / "received", "--json", report, "-j", "1")
    assert result.returncode == 1
    data = json.loads(report.read_text())
    kinds = {f["kind"] for f in data["findings"] if f["path"] == "(file path)"}
    assert {"patient-name", "patient-id"} <= kinds
    assert "Harlowe" not in result.stdout and MRN not in result.stdout
    printed = json.dumps(data["groups"]) + json.dumps([f["form"] for f in data["findings"]])
    assert "Harlowe" not in printed.replace("Harlowe-study", "") and MRN not in printed
