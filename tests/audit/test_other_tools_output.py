"""Scenario: someone audits the output of another anonymizer against its originals, and the
same output with no originals at all. Real tools: dicognito (PyPI), gdcmanon (Debian's
libgdcm-tools), and a pydicom script that regenerates the UIDs. The audit pairs their files
(no veil key exists), says how, and finds what each one leaked; never printing a value."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from tests.conftest import VEIL

DUMB = ["gdcmanon", "--dumb", "--empty", "10,10", "--empty", "10,20", "--remove", "10,30"]
SERIES = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
FILES = 3


@pytest.fixture()
def originals(tmp_path: Path, corpus: Path) -> Path:
    folder = tmp_path / "originals"
    folder.mkdir()
    for path in sorted((corpus / SERIES).iterdir())[:FILES]:
        shutil.copy2(path, folder / path.name)
    return folder


def secrets_of(folder: Path) -> list[str]:
    """Identifying values of the originals that must never be printed."""
    found = set()
    for path in folder.iterdir():
        ds = dcmread(path, stop_before_pixels=True)
        for keyword in ("InstitutionName", "StationName", "DeviceSerialNumber", "StudyInstanceUID"):
            value = str(ds.get(keyword, "") or "").strip()
            if len(value) >= 4:
                found.add(value)
    return sorted(found)


def audit(tmp_path: Path, *folders: Path) -> tuple[subprocess.CompletedProcess[str], dict]:
    report = tmp_path / f"audit-{len(list(tmp_path.glob('audit-*')))}.json"
    env = {k: v for k, v in os.environ.items() if k not in ("VEIL_KEY", "VEIL_KEY_FILE")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "no-config"), COLUMNS="200", NO_COLOR="1")
    result = subprocess.run(
        [*VEIL, "audit", *map(str, folders), "--json", str(report), "-j", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    return result, json.loads(report.read_text())


def groups(data: dict) -> set[tuple[str, str]]:
    return {(g["kind"], g["path"]) for g in data["groups"]}


def assert_nothing_printed(
    secrets: list[str], result: subprocess.CompletedProcess[str], data: dict
) -> None:
    blob = result.stdout + result.stderr + json.dumps(data["groups"]) + json.dumps(data["findings"])
    assert secrets and not [s for s in secrets if s in blob]


def run_dicognito(source: Path, out: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "dicognito", str(source), "-o", str(out), "--seed", "7", "--quiet"],
        check=True,
        capture_output=True,
        cwd=out.parent,
        timeout=300,
    )


def run_gdcmanon(source: Path, out: Path) -> None:
    """gdcmanon's "dumb" mode, as a hurried user runs it: name and ID emptied, birth date
    removed, everything else left."""
    out.mkdir()
    for path in sorted(source.iterdir()):
        subprocess.run(
            [*DUMB, "-i", str(path), "-o", str(out / path.name)],
            check=True,
            capture_output=True,
            timeout=120,
        )


def run_uid_script(source: Path, out: Path) -> None:
    """What many labs do: new UIDs, name and ID overwritten, files renamed 0000.dcm..."""
    out.mkdir()
    for index, path in enumerate(sorted(source.iterdir())):
        ds = dcmread(path)
        for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
            setattr(ds, keyword, generate_uid())
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientName = "ANONYMOUS"
        ds.PatientID = "ANON"
        ds.save_as(out / f"{index:04d}.dcm")


def test_dicognito_output_pairs_by_pixel_data_and_its_leaks_are_found(
    originals: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dicognito-out"
    run_dicognito(originals, out)
    result, data = audit(tmp_path, originals, out)
    assert result.returncode == 1, result.stdout + result.stderr
    assert data["summary"]["paired_by"]["pixel-digest"] == FILES
    assert data["summary"]["unpaired_outputs"] == 0 and data["summary"]["keyed"] is False
    assert "by identical pixel data" in result.stderr and "no project key" in result.stderr
    # dicognito keeps the scanner's serial number and GE's private institution/site elements.
    found = groups(data)
    assert ("device", "(0018,1000)") in found
    assert ("institution", "(0009,1030)") in found
    assert_nothing_printed(secrets_of(originals), result, data)

    # The same output with no originals: judged by Table E.1-1 and the safe private list.
    alone, alone_data = audit(tmp_path, out)
    assert alone.returncode == 1
    found = groups(alone_data)
    assert ("not-removed", "(0018,1000)") in found  # DeviceSerialNumber: X/Z/D -> X
    assert ("unsafe-private", "(0009,10xx) 'GEMS_IDEN_01'") in found
    assert ("not-declared", "(0012,0062)") in found
    assert_nothing_printed(secrets_of(originals), alone, alone_data)


def test_gdcmanon_output_pairs_by_identical_uid_and_its_leaks_are_found(
    originals: Path, tmp_path: Path
) -> None:
    out = tmp_path / "gdcmanon-out"
    run_gdcmanon(originals, out)
    result, data = audit(tmp_path, originals, out)
    assert result.returncode == 1
    assert data["summary"]["paired_by"]["same-uid"] == FILES
    found = groups(data)
    assert {
        ("uid", "(0020,000D)"),
        ("date", "(0008,0020)"),
        ("institution", "(0008,0080)"),
    } <= found
    assert_nothing_printed(secrets_of(originals), result, data)

    alone, alone_data = audit(tmp_path, out)
    assert alone.returncode == 1
    found = groups(alone_data)
    assert ("original-uid", "(0020,000D)") in found  # GE's root: the original study UID
    assert ("not-removed", "(0008,0080)") in found
    uid_group = next(g for g in alone_data["groups"] if g["kind"] == "original-uid")
    assert "GE Healthcare" in uid_group["forms"][0] and uid_group["files"] == FILES
    assert_nothing_printed(secrets_of(originals), alone, alone_data)


def test_a_uid_regenerating_script_pairs_by_pixel_data_and_its_leaks_are_found(
    originals: Path, tmp_path: Path
) -> None:
    out = tmp_path / "script-out"
    run_uid_script(originals, out)
    result, data = audit(tmp_path, originals, out)
    assert result.returncode == 1
    assert data["summary"]["paired_by"]["pixel-digest"] == FILES
    found = groups(data)
    assert ("institution", "(0008,0080)") in found and ("device", "(0018,1000)") in found
    # The referenced performed procedure step keeps GE's original UID: found both ways.
    assert ("uid", "(0008,1111)[*].(0008,1155)") in found
    _, alone_data = audit(tmp_path, out)
    assert ("original-uid", "(0008,1111)[*].(0008,1155)") in groups(alone_data)
    assert_nothing_printed(secrets_of(originals), result, data)
