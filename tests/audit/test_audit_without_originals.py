"""Scenario: data arrives from elsewhere, without its originals. `veil audit DEIDENTIFIED`
judges it by the standard's tables alone: what Table E.1-1 removes but is there, private
elements outside the safe list, original UIDs, missing declarations, burned-in text, names and
dates in free text. One line per kind and element, never a value; --details lists every file."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from tests.conftest import run_veil
from veil.audit.findings import Finding, Kind, Severity
from veil.audit.grouping import group_findings, group_path
from veil.audit.standalone import audit_alone, is_safe_private, likely_burned_in
from veil.audit.uid_roots import original_root
from veil.standard import safe_private_rows

SERIES = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
INSTITUTION = "Saint Quentin Memorial Hospital"
SITE_TEXT = "ACME site secret 7741"
COMMENT = "reviewed by Dr. Quentin Harlowe on 2021-03-04"
GE_UID = "1.2.840.113619.2.44.99887766.1"


@pytest.fixture(scope="module")
def clean_outputs(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Path:
    """Three GE files de-identified by veil: the clean baseline."""
    base = tmp_path_factory.mktemp("alone")
    source = base / "in"
    source.mkdir()
    for path in sorted((corpus / SERIES).iterdir())[:3]:
        shutil.copy2(path, source / path.name)
    out = base / "out"
    run_veil("deid", source, "--out", out, "-j", "1", "-q", check=True)
    return out


def rewrite(folder: Path, target: Path, change: Callable[[Dataset], None]) -> Path:
    """A copy of ``folder`` with ``change`` applied to every file (a broken tool's output)."""
    target.mkdir()
    for path in sorted(folder.rglob("*.dcm")):
        if path.is_file():
            ds = dcmread(path)
            change(ds)
            ds.save_as(target / path.name)
    return target


def leaky(ds: Dataset) -> None:
    ds.InstitutionName = INSTITUTION  # Table E.1-1: X/Z/D, type 3 in MR -> X
    block = ds.private_block(0x0011, "ACME_SITE_01", create=True)
    block.add_new(0x01, "LO", SITE_TEXT)
    ds.SOPInstanceUID = GE_UID + "." + str(ds.InstanceNumber)
    del ds.PatientIdentityRemoved
    ds.BurnedInAnnotation = "YES"
    ds.ImageComments = COMMENT


def audit(*args: str | Path) -> tuple[int, str, dict]:
    report = Path(args[0]).parent / "alone.json"
    result = run_veil("audit", *args, "--json", report, "-j", "1")
    return result.returncode, result.stdout + result.stderr, json.loads(report.read_text())


def kinds_at(data: dict) -> dict[tuple[str, str], dict]:
    return {(g["kind"], g["path"]): g for g in data["groups"]}


def test_veils_own_output_passes_the_audit_without_originals(clean_outputs: Path) -> None:
    code, text, data = audit(clean_outputs)
    assert code == 0, text
    assert data["summary"]["errors"] == 0 and data["summary"]["files_audited"] == 3
    assert data["summary"]["mode"] == "without-originals"


def test_every_kind_of_problem_is_reported_once_per_element_without_values(
    clean_outputs: Path, tmp_path: Path
) -> None:
    broken = rewrite(clean_outputs, tmp_path / "broken", leaky)
    code, text, data = audit(broken)
    assert code == 1
    groups = kinds_at(data)
    assert groups[("not-removed", "(0008,0080)")]["severity"] == "error"
    assert groups[("unsafe-private", "(0011,10xx) 'ACME_SITE_01'")]["severity"] == "warning"
    uid = groups[("original-uid", "(0008,0018)")]
    assert "GE Healthcare" in uid["forms"][0]
    assert ("not-declared", "(0012,0062)") in groups
    assert groups[("burned-in", "(0028,0301)")]["severity"] == "error"
    assert ("looks-like-name", "(0020,4000)") in groups
    assert ("looks-like-date", "(0020,4000)") in groups
    # Grouped: one line per (kind, element) with the count of files and examples.
    assert all(g["files"] == 3 and len(g["examples"]) == 3 for g in data["groups"])
    assert "(0008,0080) InstitutionName  3 file(s)" in text
    assert len(data["findings"]) >= 3 * len(data["groups"]) - 3  # the JSON keeps every file
    for secret in (INSTITUTION, SITE_TEXT, "Harlowe", "2021-03-04", GE_UID):
        assert secret not in text and secret not in json.dumps(data)


def test_details_lists_every_file_and_grouped_output_does_not(
    clean_outputs: Path, tmp_path: Path
) -> None:
    broken = rewrite(clean_outputs, tmp_path / "broken", leaky)
    grouped = run_veil("audit", broken, "-j", "1").stdout
    detailed = run_veil("audit", broken, "--details", "-j", "1").stdout
    names = sorted(p.name for p in broken.iterdir())
    assert grouped.count("(0008,0080)") == 1
    assert detailed.count("(0008,0080)") == 3
    assert all(str(broken / name) in detailed for name in names)


def test_warnings_alone_pass_unless_strict(clean_outputs: Path, tmp_path: Path) -> None:
    def undeclared(ds: Dataset) -> None:
        del ds.PatientIdentityRemoved

    folder = rewrite(clean_outputs, tmp_path / "undeclared", undeclared)
    assert run_veil("audit", folder, "-j", "1").returncode == 0
    assert run_veil("audit", folder, "--strict", "-j", "1").returncode == 1


def test_declared_retain_uids_keeps_original_uids_legitimate(clean_outputs: Path) -> None:
    ds = dcmread(next(p for p in sorted(clean_outputs.rglob("*.dcm")) if p.is_file()))
    ds.SOPInstanceUID = GE_UID
    assert any(f.kind == "original-uid" for f in audit_alone(ds, "x.dcm"))
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "113110", "DCM", "Retain UIDs"
    ds.DeidentificationMethodCodeSequence.append(item)
    assert not any(f.kind == "original-uid" for f in audit_alone(ds, "x.dcm"))


def test_a_secondary_capture_without_burned_in_flag_is_a_warning(clean_outputs: Path) -> None:
    ds = dcmread(next(p for p in sorted(clean_outputs.rglob("*.dcm")) if p.is_file()))
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture Image Storage
    found = [f for f in audit_alone(ds, "sc.dcm") if f.kind == "burned-in"]
    assert [(f.path, f.severity) for f in found] == [("(0008,0016)", "warning")]
    ds.BurnedInAnnotation = "NO"
    assert not [f for f in audit_alone(ds, "sc.dcm") if f.kind == "burned-in"]


def test_tables_behind_the_checks() -> None:
    row = safe_private_rows()[0]
    assert is_safe_private(row.group, 0x1000 | row.element_low, row.creator)
    assert not is_safe_private(row.group, 0x1000 | row.element_low, "SOMEONE_ELSE")
    assert original_root("1.2.840.113619.2.44.1") == "GE Healthcare"
    assert original_root("1.2.840.1136190.1") is None  # whole arcs only
    assert (
        original_root("2.25.1234") is None and original_root("1.2.826.0.1.3680043.8.498.1") is None
    )
    assert likely_burned_in("1.2.840.10008.5.1.4.1.1.6.1")  # Ultrasound Image Storage
    assert not likely_burned_in("1.2.840.10008.5.1.4.1.1.4")  # MR Image Storage


def test_grouping_folds_item_indices_and_byte_offsets() -> None:
    assert group_path("(0040,0275)[2].(0032,1060)") == "(0040,0275)[*].(0032,1060)"
    assert group_path("(7FE0,0010) bytes@1234") == "(7FE0,0010) bytes@*"
    findings = [
        Finding(
            f"f{i}.dcm", f"(0040,0275)[{i % 2}].(0032,1060)", Kind.DATE, "as stored", Severity.ERROR
        )
        for i in range(5)
    ] + [Finding("f0.dcm", "(0010,0010)", Kind.PATIENT_NAME, "as stored", Severity.ERROR)]
    groups = group_findings(findings)
    assert [(g.path, len(g.files), g.examples) for g in groups] == [
        ("(0010,0010)", 1, ["f0.dcm"]),
        ("(0040,0275)[*].(0032,1060)", 5, ["f0.dcm", "f1.dcm", "f2.dcm"]),
    ]
