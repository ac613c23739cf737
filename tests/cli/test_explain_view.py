"""Scenario: `veil explain` on a real GE file reads like a page, not a dump: one line per
private block and creator, the attributes veil adds shown with why, every line within the
terminal's width."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from pydicom import dcmread

from tests.conftest import TEST_KEY, VEIL

GE_FILE = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"


@pytest.fixture()
def ge_file(corpus: Path) -> Path:
    return sorted((corpus / GE_FILE).iterdir())[0]


def explain(*args: str | Path, columns: int = 200) -> str:
    env = {**os.environ, "VEIL_KEY": TEST_KEY, "COLUMNS": str(columns), "NO_COLOR": "1"}
    result = subprocess.run(
        [*VEIL, "explain", *map(str, args)], capture_output=True, text=True, env=env, check=True
    )
    return result.stdout


def test_private_blocks_fold_into_one_line_per_creator(ge_file: Path) -> None:
    text = explain(ge_file)
    block_lines = [line for line in text.splitlines() if "(0043,10xx) private block" in line]
    assert len(block_lines) == 1
    assert "'GEMS_PARM_01'" in block_lines[0] and "(removed)" in block_lines[0]
    assert "element(s)" in block_lines[0]
    assert "(0043,1084)" not in text  # folded
    assert "(0043,1084)" in explain(ge_file, "--all-private")
    folded, unfolded = len(text.splitlines()), len(explain(ge_file, "--all-private").splitlines())
    assert folded < unfolded - 100


def test_attributes_veil_adds_are_shown_with_why(ge_file: Path) -> None:
    lines = explain(ge_file, "--values", "--changed-only").splitlines()
    for keyword in (
        "PatientIdentityRemoved",
        "DeidentificationMethod ",
        "DeidentificationMethodCodeSequence",
    ):
        line = next(line for line in lines if keyword in line)
        assert "(absent)" in line and "added" in line
    removed = next(line for line in lines if "PatientIdentityRemoved" in line)
    assert "YES" in removed


def test_a_derived_age_and_shifted_dates_are_shown_as_added(ge_file: Path, tmp_path: Path) -> None:
    ds = dcmread(ge_file)
    ds.PatientBirthDate = "19700101"
    if "PatientAge" in ds:
        del ds.PatientAge
    path = tmp_path / "no-age.dcm"
    ds.save_as(path)
    text = explain(path, "--values", "--for", "neuroquant")
    age = next(line for line in text.splitlines() if "(0010,1010)" in line)
    assert "(absent or invalid)" in age and "050Y" in age and "derived" in age
    text = explain(path, "--values", "--policy", "research-longitudinal")
    modified = next(line for line in text.splitlines() if "(0028,0303)" in line)
    assert "LongitudinalTemporalInformationModified" in text  # may wrap below the tag
    assert "MODIFIED" in modified and "added" in modified


@pytest.mark.parametrize("columns", [80, 120])
def test_every_line_fits_the_terminal_width(ge_file: Path, columns: int) -> None:
    text = explain(ge_file, "--values", columns=columns)
    assert max(len(line) for line in text.splitlines()) <= columns
    assert "(0008,0080)" in text  # paths wrap but stay whole at the start of their cell
