"""`veil deid` as a user runs it: bad input, exit codes, the report, the output location."""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from pydicom import dcmread

from tests.cli.broken import deeply_nested, write_broken_files
from tests.conftest import run_veil
from tests.engine import builders
from veil.batch.naming import study_part
from veil.io.dicomfile import encode_dataset

GE_T1 = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"


@pytest.fixture
def ge_series(corpus: Path, tmp_path: Path) -> Path:
    """Three real files of a GE 3D T1 series, copied so tests can check they stay unchanged."""
    folder = tmp_path / "in"
    folder.mkdir()
    for path in sorted((corpus / GE_T1).iterdir())[:3]:
        shutil.copy2(path, folder / path.name)
    return folder


def _snapshot(folder: Path) -> dict[str, tuple[bytes, float]]:
    return {str(p): (p.read_bytes(), p.stat().st_mtime) for p in folder.rglob("*") if p.is_file()}


def test_a_batch_with_broken_files_goes_on_and_names_each_problem(
    ge_series: Path, tmp_path: Path
) -> None:
    good = next(ge_series.iterdir()).read_bytes()
    expected = write_broken_files(ge_series / "broken", good)
    (ge_series / "notes.txt").write_text("not a DICOM file\n")
    nested = ge_series / "deep.dcm"
    nested.write_bytes(encode_dataset(deeply_nested(200)))
    before = _snapshot(ge_series)
    out, report = tmp_path / "out", tmp_path / "report.json"

    result = run_veil(
        "deid", ge_series, "--layout", "mirror", "--out", out, "--report", report, "-j", "2", "-q"
    )

    assert result.returncode == 1, result.stderr
    data = json.loads(report.read_text())
    outcomes = {Path(f["input"]).name: f for f in data["files"]}
    for name, words in expected.items():
        entry = outcomes[name]
        if not words:
            assert entry["outcome"] == "written", entry
            continue
        assert entry["outcome"] == "failed", entry
        assert name in entry["problem"]
        assert words in entry["problem"]
        assert f"failed: {ge_series / 'broken' / name}" in result.stderr
    assert outcomes["notes.txt"]["outcome"] == "skipped"
    assert outcomes["deep.dcm"]["outcome"] == "written"
    assert data["counts"]["written"] == 3 + 2  # the series, odd-length, deep nesting
    assert _snapshot(ge_series) == before  # inputs never modified
    for text in (result.stdout, result.stderr, report.read_text()):
        assert "DOE^JANE" not in text and "PID-007" not in text


def test_deep_nesting_is_de_identified_at_every_level(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "deep.dcm").write_bytes(encode_dataset(deeply_nested(50)))
    run_veil(
        "deid", tmp_path / "in", "--layout", "mirror", "--out", tmp_path / "out", "-q", check=True
    )
    written = (tmp_path / "out" / "deep.dcm").read_bytes()
    assert builders.PATIENT_NAME.encode() not in written


def test_exit_0_when_every_dicom_file_is_written(ge_series: Path, tmp_path: Path) -> None:
    result = run_veil("deid", ge_series, "--layout", "mirror", "--out", tmp_path / "out", "-q")
    assert result.returncode == 0, result.stderr
    assert re.search(r"\bwritten\s*│\s*3\s*│", result.stderr), result.stderr
    assert re.search(r"\bfailed\s*│\s*0\s*│", result.stderr), result.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name != ".veil") == sorted(
        p.name for p in ge_series.iterdir()
    )


@pytest.mark.parametrize("inside", ["same", "inside", "parent"])
def test_refuses_to_write_into_or_over_its_input(
    ge_series: Path, tmp_path: Path, inside: str
) -> None:
    out = {"same": ge_series, "inside": ge_series / "out", "parent": tmp_path}[inside]
    before = _snapshot(ge_series)
    result = run_veil("deid", ge_series, "--layout", "mirror", "--out", out, "-q")
    assert result.returncode == 2
    assert "veil: error:" in result.stderr and "input" in result.stderr
    assert _snapshot(ge_series) == before


def test_usage_errors_exit_2(ge_series: Path, tmp_path: Path) -> None:
    assert run_veil("deid", ge_series).returncode == 2  # no --out
    bad_policy = run_veil("deid", ge_series, "--out", tmp_path / "o", "--policy", "nope")
    assert bad_policy.returncode == 2 and "not a built-in policy" in bad_policy.stderr
    missing = run_veil("deid", tmp_path / "missing", "--out", tmp_path / "o2")
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr


def test_zip_archives_are_read_and_dicomdir_skipped(
    corpus: Path, ge_series: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for path in ge_series.iterdir():
            handle.write(path, f"series/{path.name}")
    dicomdir = next(corpus.rglob("DICOMDIR"))
    report = tmp_path / "r.json"
    result = run_veil(
        "deid",
        archive,
        dicomdir,
        "--layout",
        "mirror",
        "--out",
        tmp_path / "out",
        "--report",
        report,
        "--report-paths",
        "plain",
        "-q",
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(report.read_text())
    assert data["counts"]["written"] == 3 and data["counts"]["skipped"] == 1
    out = tmp_path / "out"
    written = sorted(
        str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and ".veil" not in p.parts
    )
    # The zip's members keep their path inside the archive (under its stem); the DICOMDIR
    # writes nothing.
    assert written == [f"study/series/{p.name}" for p in sorted(ge_series.iterdir())]


def test_hierarchy_layout_names_files_by_pseudonyms_only(ge_series: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run_veil("deid", ge_series, "--out", out, "--layout", "hierarchy", "-q", check=True)
    files = sorted(out.rglob("*.dcm"))
    assert len(files) == 3
    assert sorted(p.name for p in out.iterdir()) == [".veil", files[0].relative_to(out).parts[0]]
    original = dcmread(next(ge_series.iterdir()))
    for path in files:
        parts = path.relative_to(out).parts
        assert len(parts) == 4 and parts[0].startswith("VEIL")
        assert str(original.PatientID) not in str(path)
        assert str(original.StudyInstanceUID) not in str(path)
        ds = dcmread(path, stop_before_pixels=True)
        assert parts[0] == ds.PatientID
        assert parts[1] == study_part(ds) and parts[2] == str(ds.SeriesNumber)
        assert parts[3] == f"{int(ds.InstanceNumber):04d}.dcm"


def test_two_runs_are_byte_identical_and_another_key_differs(
    ge_series: Path, tmp_path: Path
) -> None:
    run_veil("deid", ge_series, "--layout", "mirror", "--out", tmp_path / "a", "-q", check=True)
    run_veil(
        "deid",
        ge_series,
        "--layout",
        "mirror",
        "--out",
        tmp_path / "b",
        "-q",
        "-j",
        "1",
        check=True,
    )
    run_veil(
        "deid",
        ge_series,
        "--layout",
        "mirror",
        "--out",
        tmp_path / "c",
        "-q",
        key="77" * 32,
        check=True,
    )
    for path in (tmp_path / "a").glob("*.MRDC.*"):
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()
        assert path.read_bytes() != (tmp_path / "c" / path.name).read_bytes()


def test_lookup_table_gives_the_trial_subject_id(ge_series: Path, tmp_path: Path) -> None:
    original = dcmread(next(ge_series.iterdir()), stop_before_pixels=True)
    table = tmp_path / "subjects.csv"
    table.write_text(f"PatientID,pseudonym,date_offset_days\n{original.PatientID},SUBJ-001,100\n")
    run_veil(
        "deid",
        ge_series,
        "--layout",
        "mirror",
        "--out",
        tmp_path / "out",
        "--lookup",
        table,
        "-q",
        check=True,
    )
    out = dcmread(next((tmp_path / "out").glob("*.MRDC.*")), stop_before_pixels=True)
    assert out.PatientID == "SUBJ-001"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file_is_reported(ge_series: Path, tmp_path: Path) -> None:
    locked = ge_series / "locked.dcm"
    shutil.copy2(next(ge_series.iterdir()), locked)
    locked.chmod(0)
    result = run_veil("deid", ge_series, "--layout", "mirror", "--out", tmp_path / "out", "-q")
    assert result.returncode == 1
    assert "locked.dcm: unreadable" in result.stderr


def test_a_file_that_cannot_be_opened_is_reported(ge_series: Path, tmp_path: Path) -> None:
    (ge_series / "dangling.dcm").symlink_to(tmp_path / "gone.dcm")  # fails even for root
    report = tmp_path / "r.json"
    result = run_veil(
        "deid", ge_series, "--layout", "mirror", "--out", tmp_path / "out", "--report", report, "-q"
    )
    assert result.returncode == 1
    assert "dangling.dcm: unreadable" in result.stderr
    data = json.loads(report.read_text())
    assert data["counts"] == {"written": 3, "skipped": 0, "failed": 1, "quarantined": 0}


def test_the_summary_and_report_give_the_fast_path_share_and_each_fallback_reason(
    ge_series: Path, corpus: Path, tmp_path: Path
) -> None:
    # A fourth file of the series without its preamble and DICM marker: the reference path
    # reads it, the fast path hands it over with a named reason (issue 12).
    fourth = sorted((corpus / GE_T1).iterdir())[3]
    (ge_series / "headless.dcm").write_bytes(fourth.read_bytes()[132:])
    report = tmp_path / "report.json"

    result = run_veil("deid", ge_series, "--out", tmp_path / "out", "--report", report)

    assert result.returncode == 0, result.stderr
    assert re.search(
        r"fast path\s*│\s*3 of 4 files \(75 %\); reference path: not Part 10 \(no DICM marker\) 1",
        result.stderr,
    ), result.stderr
    assert json.loads(report.read_text())["engine"] == {
        "fast_path": 3,
        "reference_path": {"not Part 10 (no DICM marker)": 1},
    }
