"""Public elements stored with VR UN (explicit VR files written by tools that did not know
them) still carry identifiers: the audit reads them by their dictionary VR."""

from __future__ import annotations

from pathlib import Path

from veil.audit import audit_output
from veil.io.dicomfile import read_dataset

UN_FILE = "pydicom_data/pypi_wheel_1.0.0/explicit_VR-UN.dcm"


def test_identifiers_in_un_elements_are_found_when_copied_through(corpus: Path) -> None:
    path = corpus / UN_FILE
    original = read_dataset(path)
    assert original.get_item(0x00100010).VR == "UN"  # the case this test is about
    findings = audit_output(read_dataset(path), original, path.read_bytes(), "copy.dcm")
    kinds = {f.kind for f in findings if f.severity == "error"}
    assert {"patient-name", "patient-id", "institution", "uid"} <= kinds, kinds
