"""Issue 10, `veil deid`: no silent outcomes. Paths that never carry an identifier, a zip to
send, the key announced once, skipped files named, a re-run with another key or policy said
once, and a verdict per study with --for. All on real corpus files, through the real CLI."""

from __future__ import annotations

import os
import re
import shutil
import stat
import zipfile
from pathlib import Path

import pydicom
import pytest

from tests.conftest import run_veil

GE_T1 = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
OTHER_KEY = "0123" * 16


def _ge_files(corpus: Path, count: int) -> list[Path]:
    return sorted(p for p in (corpus / GE_T1).iterdir() if ".MRDC." in p.name)[:count]


@pytest.fixture
def smith(corpus: Path, tmp_path: Path) -> Path:
    """The issue's example: MRN12345_SMITH/SMITH_JOHN_001.dcm, with those values inside."""
    root = tmp_path / "in"
    folder = root / "MRN12345_SMITH"
    folder.mkdir(parents=True)
    for index, path in enumerate(_ge_files(corpus, 3), start=1):
        ds = pydicom.dcmread(path)
        ds.PatientID = "MRN12345"
        ds.PatientName = "SMITH^JOHN"
        ds.save_as(folder / f"SMITH_JOHN_{index:03d}.dcm")
    return root


def _tree(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def test_mirror_layout_renames_a_path_that_holds_the_patients_id_or_name(
    smith: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_veil("deid", smith, "--out", out, "--layout", "mirror", "-j", "1", "-q")

    assert result.returncode == 0, result.stderr
    files = [f for f in _tree(out) if f.endswith(".dcm")]
    assert len(files) == 3
    for name in files:
        assert not re.search(r"mrn|12345|smith|john", name, re.I), name
        assert re.fullmatch(r"path-[a-z0-9]{12}/path-[a-z0-9]{12}\.dcm", name), name
    assert len({Path(f).parent for f in files}) == 1  # one input folder stays one folder
    assert "renamed 3 output path(s)" in result.stderr
    assert "patient-id" in result.stderr and "patient-name" in result.stderr
    assert "SMITH" not in result.stderr.upper().replace("SMITH_JOHN", "")  # no value echoed


def test_mirror_layout_keeps_names_that_identify_nobody(corpus: Path, tmp_path: Path) -> None:
    source = tmp_path / "in" / "t1"
    source.mkdir(parents=True)
    for path in _ge_files(corpus, 2):
        shutil.copy2(path, source / path.name)
    out = tmp_path / "out"
    result = run_veil("deid", tmp_path / "in", "--out", out, "--layout", "mirror", "-q")

    assert result.returncode == 0, result.stderr
    assert [f for f in _tree(out) if f.endswith(".MRDC.5") or "MRDC" in f]
    assert "renamed" not in result.stderr


def test_hierarchy_is_the_default_named_pseudonym_study_series_instance(
    smith: Path, tmp_path: Path
) -> None:
    basic, research = tmp_path / "basic", tmp_path / "research"
    first = run_veil("deid", smith, "--out", basic, "-q")
    second = run_veil("deid", smith, "--out", research, "--policy", "research-longitudinal", "-q")

    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    # basic removes the study date and the series description: a digest and the number
    for name in [f for f in _tree(basic) if f.endswith(".dcm")]:
        assert re.fullmatch(r"VEIL[A-Z0-9]{12}/study_[0-9a-f]{6}/5/\d{4}\.dcm", name), name
    # research keeps the description and shifts the date
    names = [f for f in _tree(research) if f.endswith(".dcm")]
    for name in names:
        assert re.fullmatch(
            r"VEIL[A-Z0-9]{12}/\d{4}-\d\d-\d\d_[0-9a-f]{6}/5_3D_Ax_T1_MP-RAGE_R22/\d{4}\.dcm", name
        ), name
        assert not name.split("/")[1].startswith("2013-06-06")  # shifted, not the real date
    assert "layout" in first.stderr and "hierarchy" in first.stderr


def _policy(tmp_path: Path, text: str, name: str = "policy.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_hierarchy_names_from_received_values_are_sanitised(corpus: Path, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    hostile = ["../../../etc/x", "a/b\\c:d*?<>|", ".hidden", "\x00\x01 weird\tname"]
    for index, (path, text) in enumerate(zip(_ge_files(corpus, 4), hostile, strict=True)):
        ds = pydicom.dcmread(path)
        ds.SeriesDescription = text
        ds.SeriesNumber = index + 1
        ds.InstanceNumber = "-3" if index == 0 else "7"
        ds.save_as(source / f"{index}.dcm")
    keep = _policy(tmp_path, "overrides:\n  - {attribute: SeriesDescription, action: keep}\n")
    out = tmp_path / "out"
    result = run_veil("deid", source, "--out", out, "--policy", keep, "-q")

    assert result.returncode == 0, result.stderr
    written = [p for p in out.rglob("*.dcm")]
    assert len(written) == 4
    for path in written:
        assert path.resolve().is_relative_to(out.resolve())
        for part in path.relative_to(out).parts:
            assert re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9._-]*", part), part
            assert part not in (".", "..")
    assert not (tmp_path / "etc").exists()


def test_two_series_with_one_name_and_duplicate_instance_numbers_stay_apart(
    corpus: Path, tmp_path: Path
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    files = _ge_files(corpus, 4)
    for index, path in enumerate(files):
        ds = pydicom.dcmread(path)
        ds.InstanceNumber = 1  # every instance claims number 1
        if index >= 2:  # a second series with the same number (5)
            ds.SeriesInstanceUID = ds.SeriesInstanceUID + ".2"
        ds.save_as(source / f"{index}.dcm")
    out = tmp_path / "out"
    result = run_veil("deid", source, "--out", out, "-j", "2", "-q")

    assert result.returncode == 0, result.stderr
    names = [f for f in _tree(out) if f.endswith(".dcm")]
    assert len(names) == 4
    series = {}
    for name in names:
        uid = str(pydicom.dcmread(out / name, stop_before_pixels=True).SeriesInstanceUID)
        series.setdefault(Path(name).parent.name, set()).add(uid)
    assert sorted(series) == ["5", "5_2"]
    assert all(len(uids) == 1 for uids in series.values())  # one folder, one series
    assert {Path(n).name for n in names} == {"0001.dcm", "0001_2.dcm"}

    again = run_veil("deid", source, "--out", out, "-j", "2", "-q")  # idempotent
    assert again.returncode == 0, again.stderr
    assert [f for f in _tree(out) if f.endswith(".dcm")] == names


def test_zip_out_is_one_owner_only_archive_never_overwritten(smith: Path, tmp_path: Path) -> None:
    case = tmp_path / "send" / "case.zip"
    result = run_veil("deid", smith, "--out", case, "-j", "2", "-q")

    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(case.stat().st_mode) == 0o600
    with zipfile.ZipFile(case) as archive:
        names = archive.namelist()
        assert len(names) == 3
        for name in names:
            assert re.fullmatch(r"VEIL[A-Z0-9]{12}/study_[0-9a-f]{6}/5/\d{4}\.dcm", name)
            ds = pydicom.dcmread(archive.open(name))
            assert ds.PatientID.startswith("VEIL")
    assert sorted(p.name for p in case.parent.iterdir()) == ["case.zip"]  # no staging left
    before = case.read_bytes()

    again = run_veil("deid", smith, "--out", case, "-q")
    assert again.returncode == 2
    assert "never overwrites an archive" in again.stderr
    assert case.read_bytes() == before

    mirror = run_veil("deid", smith, "--out", tmp_path / "m.zip", "--layout", "mirror", "-q")
    assert mirror.returncode == 2 and "hierarchy" in mirror.stderr
    assert not (tmp_path / "m.zip").exists()


def test_the_run_that_creates_the_key_says_where_it_is_and_what_losing_it_means(
    smith: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VEIL_KEY", "VEIL_KEY_FILE")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    key = tmp_path / "config" / "veil" / "key"

    def deid(out: str) -> str:
        import subprocess
        import sys

        done = subprocess.run(
            [sys.executable, "-m", "veil", "deid", str(smith), "--out", str(tmp_path / out), "-q"],
            capture_output=True,
            text=True,
            env={**env, "COLUMNS": "200"},
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        return done.stderr

    first = deid("one")
    assert "created a new project key" in first
    assert str(key) in first
    assert "losing it breaks the link" in first
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "created a new project key" not in deid("two")  # once


def test_skipped_files_are_named_a_few_and_the_rest_counted(corpus: Path, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    shutil.copy2(_ge_files(corpus, 1)[0], source / "image.dcm")
    for index in range(8):
        (source / f"note{index}.txt").write_text("not DICOM\n")
    result = run_veil("deid", source, "--out", tmp_path / "out", "-q")

    assert result.returncode == 0, result.stderr
    assert "skipped 8 file(s)" in result.stderr
    named = [line for line in result.stderr.splitlines() if re.search(r"note\d\.txt: ", line)]
    assert len(named) == 5
    assert "... and 3 more" in result.stderr


def test_a_rerun_with_another_key_or_policy_is_said_once_not_per_file(
    smith: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert run_veil("deid", smith, "--out", out, "--layout", "mirror", "-q").returncode == 0
    before = {name: (out / name).read_bytes() for name in _tree(out)}

    other_key = run_veil("deid", smith, "--out", out, "--layout", "mirror", "-q", key=OTHER_KEY)
    assert other_key.returncode == 2
    assert other_key.stderr.count("another key") == 1
    assert "failed:" not in other_key.stderr
    other_policy = run_veil(
        "deid", smith, "--out", out, "--layout", "mirror", "--policy", "research-longitudinal"
    )
    assert other_policy.returncode == 2
    assert other_policy.stderr.count("another policy") == 1
    assert {name: (out / name).read_bytes() for name in _tree(out)} == before  # untouched

    same = run_veil("deid", smith, "--out", out, "--layout", "mirror", "-q")  # same: fine
    assert same.returncode == 0, same.stderr
    replaced = run_veil(
        "deid", smith, "--out", out, "--layout", "mirror", "--overwrite", "-q", key=OTHER_KEY
    )
    assert replaced.returncode == 0, replaced.stderr
    assert replaced.stderr.count("another key") == 1


@pytest.fixture
def without_manufacturer(corpus: Path, tmp_path: Path) -> Path:
    """A GE 3D T1 series after another tool removed Manufacturer."""
    folder = tmp_path / "broken-elsewhere"
    folder.mkdir()
    for path in sorted((corpus / GE_T1).iterdir()):
        if ".MRDC." not in path.name:
            continue
        ds = pydicom.dcmread(path)
        del ds.Manufacturer
        ds.save_as(folder / f"{path.name}.dcm")
    return folder


@pytest.mark.slow
def test_for_profile_says_the_output_does_not_meet_it_and_set_repairs_it(
    without_manufacturer: Path, tmp_path: Path
) -> None:
    broken = run_veil(
        "deid", without_manufacturer, "--out", tmp_path / "a.zip", "--for", "neuroquant", "-q"
    )
    assert broken.returncode == 1, broken.stderr
    assert "does NOT meet neuroquant" in broken.stderr
    assert "neuroquant/manufacturer" in broken.stderr

    repair = _policy(tmp_path, "name: repair\nset:\n  Manufacturer: GE MEDICAL SYSTEMS\n")
    fixed = run_veil(
        "deid",
        without_manufacturer,
        "--out",
        tmp_path / "b.zip",
        "--for",
        "neuroquant",
        "--policy",
        repair,
        "-q",
    )
    assert fixed.returncode == 0, fixed.stderr
    assert "meets neuroquant" in fixed.stderr and "does NOT" not in fixed.stderr
    with zipfile.ZipFile(tmp_path / "b.zip") as archive:
        first = archive.namelist()[0]
        assert pydicom.dcmread(archive.open(first)).Manufacturer == "GE MEDICAL SYSTEMS"


def test_a_zip_run_that_writes_nothing_makes_no_archive_and_says_so(tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "notes.txt").write_text("not DICOM\n")
    result = run_veil("deid", source, "--out", tmp_path / "case.zip", "-q")

    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "case.zip").exists()
    assert "nothing was written, so no case.zip was made" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]  # no staging left
