"""`veil check --for neuroquant` gives the same verdict before and after
`veil deid --for neuroquant` on every corpus series, and the output keeps age (as PatientAge)
and sex while carrying no birth date."""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from tests.check.conftest import VEIL, by_input_names
from tests.conftest import TEST_KEY
from veil.check import Outcome, check_inputs, load_profile
from veil.check.values import Validity, validate

pytestmark = pytest.mark.slow

# Inputs whose PatientAge is present but not an age string ("99", "22Y", 2 characters): the
# the engine replaces the invalid PatientAge by one derived from the birth date before dropping
# the birth date, so the age-normative report is not lost (it was, before that fix).


def _invalid_age(ds: Dataset) -> bool:
    age = ds.get("PatientAge")
    return validate("PatientAge", age)[0] is Validity.INVALID


def _expected_regressions(report: dict, out: Path) -> set[str]:
    """The output series UIDs of inputs with a present but invalid PatientAge."""
    series = set()
    for record in report["files"]:
        if record["outcome"] != "written":
            continue
        source = dcmread(record["input"], stop_before_pixels=True, force=True)
        if _invalid_age(source):
            result = dcmread(out / record["output"], stop_before_pixels=True, force=True)
            series.add(str(result.get("SeriesInstanceUID", "") or ""))
    return series


T1_SERIES = (
    "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22",
    "dcm_qa_deident/Accelerated_SAG_IR-SPGR",
    "dcm_qa_philips_enh/1301_ADNI_Sag3D_MPRAGE_classic",
    "dcm_qa_xa30i/5001_anat-T1w_acq-tfl",
    "dcm_qa_xa30/5_anat-T1w_acq-tfl",
)


def _check(folder: Path, json_path: Path) -> dict:
    env = {**os.environ, "VEIL_KEY": TEST_KEY}
    run = subprocess.run(
        [str(VEIL), "check", str(folder), "--for", "neuroquant", "--json", str(json_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr[-2000:]
    report = json.loads(json_path.read_text())
    assert run.returncode == (0 if report["ok"] else 1)
    return report


def _verdicts(report: dict, root: Path) -> dict[tuple[str, str, str], list[str]]:
    found: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for study in report["studies"]:
        for series in study["series"]:
            where = Path(series["where"]).resolve().relative_to(root.resolve()).as_posix()
            key = (where, series["series_number"], series["modality"])
            found[key].append(series["verdict"])
    return {key: sorted(value) for key, value in found.items()}


def _study_verdicts(report: dict, root: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = defaultdict(list)
    for study in report["studies"]:
        where = Path(study["where"]).resolve().relative_to(root.resolve()).as_posix()
        found[where].append(study["verdict"])
    return {key: sorted(value) for key, value in found.items()}


def test_neuroquant_verdict_is_the_same_before_and_after_deid_on_every_series(
    corpus: Path, deid_corpus: Callable[..., tuple[Path, dict]], tmp_path: Path
) -> None:
    out, report = deid_corpus("--for", "neuroquant", "--no-audit")
    # Inputs with an invalid PatientAge ("99") get a valid one derived from the birth date
    # before it is dropped: no series may regress.
    assert _expected_regressions(report, out), "the corpus has inputs with an invalid age"
    assert report["check_regressions"] == []
    # Outputs paired with their inputs through the report (mirror paths may be renamed).
    named = by_input_names([corpus], out, report)
    before = _check(corpus, tmp_path / "before.json")
    after = _check(named, tmp_path / "after.json")
    verdicts_before = _verdicts(before, corpus)
    verdicts_after = _verdicts(after, named)
    # Series whose files were all refused (not storable, truncated) are not in the output.
    missing = {key for key in verdicts_before if key not in verdicts_after}
    assert len(missing) <= 3, missing
    changed = {
        key: (verdicts_before[key], verdicts_after[key])
        for key in verdicts_before
        if key in verdicts_after and verdicts_before[key] != verdicts_after[key]
    }
    assert not changed, f"verdicts differ before/after de-identification: {changed}"
    studies_before = _study_verdicts(before, corpus)
    studies_after = _study_verdicts(after, named)
    changed_studies = {
        key: (studies_before[key], studies_after[key])
        for key in studies_before
        if key in studies_after and studies_before[key] != studies_after[key]
    }
    assert not changed_studies, f"study verdicts differ: {changed_studies}"
    # 90 series in 73 studies (2026-12): 5 studies with a 3D T1 (2 pass, 3 warn); the other
    # studies have nothing volumetry uses and fail; 22 series used, 68 not used.
    assert sum(len(v) for k, v in verdicts_before.items() if k not in missing) >= 85
    assert before["counts"] == {"pass": 2, "warn": 3, "fail": 68}
    # The five 3D T1 series, each checked alone (two of them share their Series Instance UID
    # with partial copies in other folders): none fails, before or after.
    profile = load_profile("neuroquant")
    for folder in T1_SERIES:
        (alone_before,) = check_inputs([corpus / folder], [profile]).series
        (alone_after,) = check_inputs([named / folder], [profile]).series
        assert alone_before.verdict is alone_after.verdict, folder
        assert alone_after.verdict is not Outcome.FAIL, folder


def test_neuroquant_output_keeps_age_and_sex_and_has_no_birth_date(
    corpus: Path, deid_corpus: Callable[..., tuple[Path, dict]]
) -> None:
    out, report = deid_corpus("--for", "neuroquant", "--no-audit")
    checked = with_age = 0
    for record in report["files"]:
        if record["outcome"] != "written":
            continue
        source = dcmread(record["input"], stop_before_pixels=True, force=True)
        result = dcmread(out / record["output"], stop_before_pixels=True, force=True)
        checked += 1
        assert not str(result.get("PatientBirthDate", "") or "").strip(), record["output"]
        age_known = validate("PatientAge", source.get("PatientAge"))[0] is Validity.VALID or (
            validate("PatientBirthDate", source.get("PatientBirthDate"))[0] is Validity.VALID
            and validate("StudyDate", source.get("StudyDate"))[0] is Validity.VALID
        )
        source_path = Path(record["input"]).resolve().relative_to(corpus.resolve()).as_posix()
        if age_known and not _invalid_age(source):
            with_age += 1
            assert validate("PatientAge", result.get("PatientAge"))[0] is Validity.VALID, (
                source_path
            )
        sex = str(source.get("PatientSex", "") or "").strip()
        if sex:
            assert str(result.get("PatientSex", "") or "").strip() == sex
    assert checked >= 800
    assert with_age >= 500
