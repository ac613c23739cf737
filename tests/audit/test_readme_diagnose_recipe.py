"""Scenario: the README's "Diagnose data anonymized elsewhere" recipe, step by step, on the
real corpus series anonymized by dicognito (with Manufacturer dropped, as some tools do):
`veil check` names what is missing, `veil audit` without originals names what the tool left,
and a `set` policy repairs it so that `veil deid` + `veil audit` come out clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread

from tests.conftest import run_veil

SERIES = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
REPAIR = """\
name: repair
base: basic
set:
  Manufacturer: GE MEDICAL SYSTEMS
"""


@pytest.fixture(scope="module")
def received(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Path:
    """The corpus series through dicognito, then Manufacturer removed."""
    base = tmp_path_factory.mktemp("recipe")
    out = base / "received"
    subprocess.run(
        [sys.executable, "-m", "dicognito", str(corpus / SERIES), "-o", str(out), "--quiet"],
        check=True,
        capture_output=True,
        cwd=base,
        timeout=600,
    )
    for path in out.iterdir():
        ds = dcmread(path)
        del ds.Manufacturer
        ds.save_as(path)
    return out


def test_step_1_check_names_what_the_destination_misses(received: Path) -> None:
    result = run_veil("check", received, "--for", "neuroquant")
    assert result.returncode == 1
    assert "neuroquant/manufacturer" in result.stdout and "Manufacturer missing" in result.stdout


def test_step_2_audit_without_originals_names_what_the_tool_left(received: Path) -> None:
    result = run_veil("audit", received, "-j", "1")
    assert result.returncode == 1
    for expected in ("(0018,1000) DeviceSerialNumber", "(0040,0243) PerformedLocation"):
        line = next(line for line in result.stdout.splitlines() if expected in line)
        assert "not-removed" in line and "file(s)" in line
    assert "'GEMS_IDEN_01'" in result.stdout
    # Grouped: a line per kind and element, not per file.
    assert len(result.stdout.splitlines()) < 60 < len(list(received.iterdir())) * 10


def test_step_3_a_set_policy_repairs_and_the_result_audits_clean(
    received: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "repair.yaml"
    policy.write_text(REPAIR)
    repaired = tmp_path / "repaired"
    deid = run_veil("deid", received, "--out", repaired, "--policy", policy, "-j", "1", "-q")
    assert deid.returncode == 0, deid.stderr
    files = [p for p in repaired.rglob("*") if p.is_file() and p.suffix == ".dcm"]
    assert files and all(dcmread(p).Manufacturer == "GE MEDICAL SYSTEMS" for p in files)
    assert run_veil("audit", repaired, "-j", "1").returncode == 0
