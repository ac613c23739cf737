"""Input folders are often named after the patient. With `--layout hierarchy` the output tree is
named by pseudonyms, so the report must not be the one place that still names the patient."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from tests.security.support import copy_real, run_measured

PATIENT_FOLDER = "DOE_JOHN_MRN123456"


def test_hierarchy_report_lists_keyed_digests_not_input_paths(tmp_path: Path) -> None:
    folder = tmp_path / "in" / PATIENT_FOLDER
    copy_real(folder, 2)
    (folder / "notes.zip").write_bytes(b"PK not really a zip")
    report = tmp_path / "report.json"
    run = run_measured(
        "deid", tmp_path / "in", "--out", tmp_path / "out", "--layout", "hierarchy",
        "--report", report, "-q",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    text = report.read_text()
    assert PATIENT_FOLDER not in text and "MRN123456" not in text
    data = json.loads(text)
    assert data["paths"] == "digest"
    inputs = [entry["input"] for entry in data["files"]]
    assert all(name.startswith("path-") and len(name) == 29 for name in inputs), inputs
    assert len(set(inputs)) == len(inputs)

    # Same key, same paths: the same digests (reports of two runs can be compared).
    again = tmp_path / "again.json"
    run_measured(
        "deid", tmp_path / "in", "--out", tmp_path / "out2", "--layout", "hierarchy",
        "--report", again, "-q",
    )  # fmt: skip
    assert [e["input"] for e in json.loads(again.read_text())["files"]] == inputs


def test_problem_lines_in_the_report_do_not_name_the_input_either(tmp_path: Path) -> None:
    folder = tmp_path / "in" / PATIENT_FOLDER
    copy_real(folder)
    with zipfile.ZipFile(folder / "a.zip", "w") as archive:
        archive.writestr("../x.dcm", b"x")
    report = tmp_path / "report.json"
    run = run_measured(
        "deid", tmp_path / "in", "--out", tmp_path / "out", "--layout", "hierarchy",
        "--report", report, "-q",
    )  # fmt: skip
    assert run.returncode == 1
    text = report.read_text()
    assert PATIENT_FOLDER not in text
    assert "a zip member whose name leaves the archive" in text


def test_plain_paths_can_be_asked_for(tmp_path: Path) -> None:
    folder = tmp_path / "in" / PATIENT_FOLDER
    copy_real(folder)
    report = tmp_path / "report.json"
    run = run_measured(
        "deid", tmp_path / "in", "--out", tmp_path / "out", "--layout", "hierarchy",
        "--report-paths", "plain", "--report", report, "-q",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert PATIENT_FOLDER in report.read_text()
