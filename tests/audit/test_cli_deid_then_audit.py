"""Scenario: a user de-identifies planted files with `veil deid`, then proves it with
`veil audit`; a weakened policy gets the file quarantined; nothing printed or reported by
either command ever holds a planted value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread

from tests.audit.plant import IDENTITIES, plant
from tests.audit.test_recall_on_planted_identifiers import sample_path

VEIL = str(Path(sys.executable).parent / "veil")
CLI_CASES = [("ge-explicit", "ascii"), ("siemens-mosaic", "latin1"), ("philips-classic", "utf8")]
WEAK_POLICY = """\
name: weakened
description: basic, but the institution name is kept (a removal turned into keep)
base: basic
overrides:
  - {attribute: PatientID, action: pseudonym}
  - {attribute: PatientName, action: pseudonym}
  - {attribute: InstitutionName, action: keep}
"""


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run(
        [VEIL, *map(str, args)], capture_output=True, text=True, env=env, timeout=300, check=False
    )


@pytest.fixture()
def planted_inputs(tmp_path: Path, corpus: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for sample, variant in CLI_CASES:
        planted = plant(sample_path(corpus, sample), variant, pixels=False, preamble=False)
        (folder / f"{sample}.dcm").write_bytes(planted.data)
    return folder


def _json_text(path: Path) -> str:
    # Reports escape non-ASCII characters; search their decoded text, not the escapes.
    return json.dumps(json.loads(path.read_text(encoding="utf-8")), ensure_ascii=False)


def assert_no_secret(texts: list[str]) -> None:
    secrets = [s for who in IDENTITIES.values() for s in who.secrets() if len(s) >= 3]
    blob = "\n".join(texts).lower()
    leaked = [s for s in secrets if s.lower() in blob]
    assert not leaked, f"{len(leaked)} planted value(s) appear in the commands' output"


def test_deid_then_audit_is_clean_and_says_nothing_identifying(
    planted_inputs: Path, tmp_path: Path
) -> None:
    out, report, audit_json = tmp_path / "out", tmp_path / "deid.json", tmp_path / "audit.json"
    # The hierarchy layout renames every file: pairing must go through the mapping.
    deid = run(
        "deid",
        planted_inputs,
        "--out",
        out,
        "--report",
        report,
        "-j",
        "1",
        "-q",
        "--layout",
        "hierarchy",
    )
    assert deid.returncode == 0, deid.stderr
    assert not {p.name for p in out.rglob("*.dcm")} & {p.name for p in planted_inputs.iterdir()}
    assert json.loads(report.read_text())["counts"]["written"] == len(CLI_CASES)
    audit = run("audit", planted_inputs, out, "--json", audit_json)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    summary = json.loads(audit_json.read_text())["summary"]
    assert summary["files_audited"] == len(CLI_CASES)
    assert summary["errors"] == 0 and summary["unpaired_outputs"] == 0
    # The untouched inputs audited against themselves: many findings, still no value shown.
    raw_json = tmp_path / "raw.json"
    raw = run("audit", planted_inputs, planted_inputs, "--json", raw_json)
    assert raw.returncode == 1
    assert json.loads(raw_json.read_text())["summary"]["errors"] > 30
    assert_no_secret(
        [
            deid.stdout,
            deid.stderr,
            audit.stdout,
            audit.stderr,
            raw.stdout,
            raw.stderr,
            _json_text(report),
            _json_text(audit_json),
            _json_text(raw_json),
        ]
    )


def test_weakened_policy_is_caught_and_the_file_quarantined(
    planted_inputs: Path, tmp_path: Path
) -> None:
    policy = tmp_path / "weakened.yaml"
    policy.write_text(WEAK_POLICY, encoding="utf-8")
    out, report = tmp_path / "out", tmp_path / "deid.json"
    deid = run(
        "deid",
        planted_inputs,
        "--out",
        out,
        "--policy",
        policy,
        "--report",
        report,
        "-j",
        "1",
        "-q",
    )
    assert deid.returncode == 1
    data = json.loads(report.read_text())
    assert data["counts"]["quarantined"] == len(CLI_CASES)
    assert not list(out.rglob("*.dcm")), "a quarantined file was written"
    for record in data["files"]:
        assert record["outcome"] == "quarantined"
        assert {(f["path"], f["kind"]) for f in record["findings"]} >= {
            ("(0008,0080)", "institution")
        }
    assert all(not study["complete"] for study in data["studies"])
    # The same weakened output written without the audit is caught by `veil audit`.
    unaudited = tmp_path / "unaudited"
    assert (
        run(
            "deid",
            planted_inputs,
            "--out",
            unaudited,
            "--policy",
            policy,
            "--no-audit",
            "-j",
            "1",
            "-q",
        ).returncode
        == 0
    )
    audit_json = tmp_path / "audit.json"
    audit = run("audit", planted_inputs, unaudited, "--json", audit_json)
    assert audit.returncode == 1
    findings = json.loads(audit_json.read_text())["findings"]
    assert {f["kind"] for f in findings if f["severity"] == "error"} == {"institution"}
    assert_no_secret(
        [
            deid.stdout,
            deid.stderr,
            audit.stdout,
            audit.stderr,
            _json_text(report),
            _json_text(audit_json),
        ]
    )


def test_outputs_of_another_key_pair_by_pixel_data_and_say_so(
    planted_inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert run("deid", planted_inputs, "--out", out, "-j", "1", "-q").returncode == 0
    monkeypatch.setenv("VEIL_KEY", "17" * 32)
    audit_json = tmp_path / "audit.json"
    audit = run("audit", planted_inputs, out, "--json", audit_json)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    data = json.loads(audit_json.read_text())
    assert data["summary"]["files_audited"] == len(CLI_CASES)
    assert data["summary"]["paired_by"]["keyed-uid"] == 0
    assert data["summary"]["paired_by"]["pixel-digest"] == len(CLI_CASES)
    assert {p["method"] for p in data["pairs"]} == {"pixel-digest"}
    assert "no output pairs through this key" in audit.stderr


def test_one_leaking_file_makes_its_study_incomplete(tmp_path: Path, corpus: Path) -> None:
    series = sorted((corpus / "dcm_qa_ge" / "05_3D_Ax_T1_MP_RAGE_R22").glob("i*"))[:3]
    folder = tmp_path / "in"
    folder.mkdir()
    for index, path in enumerate(series):
        ds = dcmread(path)
        if index == 0:
            ds.InstitutionName = IDENTITIES["ascii"].institution
        elif "InstitutionName" in ds:
            del ds.InstitutionName
        ds.save_as(folder / path.name)
    policy = tmp_path / "weakened.yaml"
    policy.write_text(WEAK_POLICY, encoding="utf-8")
    report = tmp_path / "deid.json"
    deid = run(
        "deid",
        folder,
        "--out",
        tmp_path / "out",
        "--policy",
        policy,
        "--report",
        report,
        "-j",
        "1",
        "-q",
    )
    assert deid.returncode == 1
    data = json.loads(report.read_text())
    assert data["counts"]["quarantined"] == 1 and data["counts"]["written"] == 2
    assert [study["complete"] for study in data["studies"]] == [False]


def test_audit_without_a_key_still_pairs_and_creates_none(
    planted_inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    assert run("deid", planted_inputs, "--out", out, "-j", "1", "-q").returncode == 0
    monkeypatch.delenv("VEIL_KEY")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    audit_json = tmp_path / "audit.json"
    audit = run("audit", planted_inputs, out, "--json", audit_json)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "no project key" in audit.stderr
    summary = json.loads(audit_json.read_text())["summary"]
    assert summary["keyed"] is False and summary["files_audited"] == len(CLI_CASES)
    assert not (tmp_path / "config").exists()
    # The untouched inputs against themselves: paired by identical UID, and every leak found.
    leaked = run("audit", planted_inputs, planted_inputs)
    assert leaked.returncode == 1 and "by identical SOP Instance UID" in leaked.stderr
