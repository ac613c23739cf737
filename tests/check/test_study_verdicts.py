"""A verdict per study: what a destination uses is checked, the rest is skipped (not failed);
identical results are grouped; `--details` lists every rule and file; fixes know when an
anonymizer removed what is missing; the age rule that decided is shown."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from pydicom import dcmread
from pydicom.uid import generate_uid

from tests.check.samples import corpus_path
from tests.conftest import run_veil

PHILIPS = corpus_path("dcm_qa_philips_enh")
XA30 = corpus_path("dcm_qa_xa30")
GE_T1 = corpus_path("dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22")
DEIDENTIFIED_BEFORE = corpus_path("dcm_qa_deident")


def _check(tmp_path: Path, *args: str | Path) -> tuple[int, str, dict]:
    report = tmp_path / "check.json"
    run = run_veil("check", *args, "--json", report)
    return run.returncode, run.stdout, json.loads(report.read_text())


def test_philips_study_passes_neuroquant_with_its_pcasl_and_raw_data_not_used(
    tmp_path: Path,
) -> None:
    code, out, report = _check(tmp_path, PHILIPS, "--for", "neuroquant")
    assert code == 0, out
    assert "PASS study 1 - 3 series, 173 file(s)" in out
    assert "neuroquant: pass - a 3D T1-weighted MR volume is there and passes" in out
    assert "uses #1301 MR" in out and "1 other file(s) of the series not used" in out
    assert "not used: #1901 MR" in out and "not those of a T1-weighted scan" in out
    assert "not an image (no pixel data" in out
    assert " fail " not in out and "fail neuroquant" not in out
    (study,) = report["studies"]
    (verdict,) = study["destinations"]
    assert verdict["verdict"] == "pass" and verdict["not_used_series"] == 2
    assert len(verdict["used_series"]) == 1
    assert report["series_counts"] == {"used": 1, "not_used": 2}


def test_xa30_phoenix_document_is_skipped_not_failed_on_geometry(tmp_path: Path) -> None:
    code, out, report = _check(tmp_path, XA30, "--for", "neuroquant", "--for", "dcm2niix")
    assert code == 0, out
    assert "not used: #99 SR" in out and "not an image" in out
    (study,) = report["studies"]
    phoenix = next(s for s in study["series"] if s["modality"] == "SR")
    assert phoenix["verdict"] == "skip" and phoenix["rules"] == []
    assert {u["use"] for u in phoenix["uses"]} == {"not used"}


def test_study_without_what_the_destination_uses_fails_and_says_what_it_needs(
    tmp_path: Path,
) -> None:
    code, out, _ = _check(tmp_path, PHILIPS / "philips_raw_data_storage", "--for", "dcm2niix")
    assert code == 1
    assert "dcm2niix: fail - no series it uses: it needs every image series it converts" in out


def test_identical_results_are_one_line_with_counts_and_details_list_every_rule(
    tmp_path: Path,
) -> None:
    charsets = corpus_path("pydicom/charset_files")
    _, out, _ = _check(tmp_path, charsets, "--for", "basic-viewing")
    lines = [line for line in out.splitlines() if "basic-viewing/series-description  " in line]
    assert len(lines) == 1 and "11 series in 11 studies" in lines[0]
    assert out.count("why: Without a description") == 1
    _, details, _ = _check(tmp_path, charsets, "--for", "basic-viewing", "--details")
    assert details.count("basic-viewing/series-description") == 11
    assert "files: " in details  # the file each warning comes from
    assert "pass basic-viewing/modality" in details


def test_fix_says_an_anonymizer_removed_what_is_missing_and_how_to_get_it_back(
    tmp_path: Path,
) -> None:
    _, out, report = _check(tmp_path, DEIDENTIFIED_BEFORE, "--for", "neuroquant")
    assert "The input was de-identified before (Patient Identity Removed is YES)" in out
    assert "veil deid --for neuroquant" in out and "`set` override" in out
    assert "at the scanner or in the RIS" not in out.split("patient-sex")[1].split("\n  ")[0]
    rules = {r["rule"]: r for r in report["studies"][0]["series"][0]["rules"]}
    assert "de-identified before" in rules["neuroquant/patient-sex"]["fix"]


def test_age_rule_that_decided_is_printed_and_an_implausible_age_warns(tmp_path: Path) -> None:
    _, out, _ = _check(tmp_path, GE_T1, "--for", "neuroquant")
    # This GE phantom carries PatientAge 000Y: present and valid, but not an age norms cover.
    assert "age for neuroquant: PatientAge 000Y (present and valid)" in out
    assert "warn neuroquant/plausible-age" in out and "norms cover 3 to 100 years" in out
    _, philips, _ = _check(tmp_path, PHILIPS, "--for", "neuroquant")
    assert "age for neuroquant: PatientAge 041Y (present and valid)" in philips
    assert "plausible-age" not in philips


def test_age_derived_from_birth_date_says_which_date(tmp_path: Path) -> None:
    folder = tmp_path / "t1"
    folder.mkdir()
    for source in sorted(PHILIPS.glob("1301_ADNI_Sag3D_MPRAGE_classic/1301_00[0-4]*.dcm")):
        ds = dcmread(source)
        del ds.PatientAge
        ds.PatientBirthDate = "19800101"
        ds.save_as(folder / source.name)
    _, out, _ = _check(tmp_path, folder, "--for", "neuroquant")
    assert "derived from PatientBirthDate and AcquisitionDate" in out


def test_series_uids_regenerated_per_file_are_checked_as_one_series(tmp_path: Path) -> None:
    # What an anonymizer that draws a fresh UID for every value of every file does to a
    # volume: 130 single-file "series" with one study, one series number and one geometry.
    folder = tmp_path / "regenerated"
    folder.mkdir()
    for source in sorted(GE_T1.glob("i*")):
        ds = dcmread(source)
        ds.SeriesInstanceUID = generate_uid()
        ds.save_as(folder / source.name)
    shutil.copy(next(GE_T1.glob("i*")), tmp_path / "unused")  # not part of the check
    code, out, report = _check(tmp_path, folder, "--for", "neuroquant")
    assert code == 0, out
    assert "(130 series UIDs, probably regenerated per file)" in out
    assert "WARN study 1 - 1 series, 130 file(s)" in out
    assert "coverage" not in out and "complete-slices" not in out
    (series,) = report["studies"][0]["series"]
    assert series["series_uids_regenerated"] == 130 and series["frames"] == 130
