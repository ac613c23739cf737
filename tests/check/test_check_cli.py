"""`veil check` as users run it: grouping, verdicts, masked values, JSON, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.check.samples import corpus_path
from tests.conftest import run_veil

GE_T1 = corpus_path("dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22")
MOSAIC = corpus_path("dcm_qa/axasc35")
XA_ENHANCED = corpus_path("dcm_qa_xa30/5_anat-T1w_acq-tfl")


def test_3d_t1_passes_with_warnings_and_exits_0(tmp_path: Path) -> None:
    report_path = tmp_path / "check.json"
    run = run_veil("check", GE_T1, "--for", "neuroquant", "--json", report_path)
    assert run.returncode == 0, run.stderr
    assert "WARN study 1 - 1 series, 130 file(s)" in run.stdout
    assert "uses #5 MR" in run.stdout
    assert "neuroquant/patient-sex" in run.stdout and "fix:" in run.stdout
    report = json.loads(report_path.read_text())
    (study,) = report["studies"]
    (series,) = study["series"]
    assert series["files"] == 130 and series["verdict"] == "warn"
    assert report["counts"] == {"pass": 0, "warn": 1, "fail": 0}
    assert report["skipped_files"] >= 1  # the reference/ folder is not DICOM


def test_epi_mosaic_fails_neuroquant_and_exits_1_saying_why_and_how_to_fix() -> None:
    run = run_veil("check", MOSAIC, "--for", "neuroquant")
    assert run.returncode == 1
    assert "FAIL study 1" in run.stdout
    assert "neuroquant: fail - no series it uses: it needs a 3D T1-weighted MR volume" in run.stdout
    # The EPI is not what volumetry uses: skipped with the reason, its rules not evaluated.
    assert "not used: #6 MR" in run.stdout and "not a 3D acquisition (MRAcquisitionType 2D)" in (
        run.stdout
    )
    assert "neuroquant/coverage" not in run.stdout


def test_report_never_shows_identifying_values(tmp_path: Path) -> None:
    from pydicom import dcmread

    first = sorted(p for p in MOSAIC.iterdir() if p.is_file())[0]
    ds = dcmread(first, stop_before_pixels=True)
    report_path = tmp_path / "check.json"
    run = run_veil(
        "check", MOSAIC, "--for", "neuroquant", "--for", "dcm2niix", "--json", report_path
    )
    text = run.stdout + run.stderr + report_path.read_text()
    for keyword in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "StudyDate",
        "SeriesInstanceUID",
        "StudyInstanceUID",
        "InstitutionName",
        "StationName",
    ):
        value = str(ds.get(keyword, "") or "")
        if len(value) >= 4:
            assert value not in text, keyword


def test_no_quality_checks_skips_manufacturer_rules(tmp_path: Path) -> None:
    report_path = tmp_path / "check.json"
    run_veil(
        "check", XA_ENHANCED, "--for", "neuroquant", "--no-quality-checks", "--json", report_path
    )
    report = json.loads(report_path.read_text())
    (series,) = report["studies"][0]["series"]
    outcomes = {rule["rule"]: rule["outcome"] for rule in series["rules"]}
    assert outcomes["neuroquant/manufacturer"] == "skip"
    assert outcomes["neuroquant/manufacturer-model"] == "skip"
    assert series["frames"] == 96
    assert report["quality_checks"] is False


def test_unknown_profile_is_a_usage_error() -> None:
    run = run_veil("check", GE_T1, "--for", "nope")
    assert run.returncode == 2
    assert "unknown profile 'nope'" in run.stderr
