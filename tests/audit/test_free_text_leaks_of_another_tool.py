"""Issue 18's leaks, as another tool leaves them (header replaced, free text kept as written):
the audit reports every one as an error, each with its kind and place, never the value."""

from __future__ import annotations

import copy

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.engine import builders as b
from veil.audit import audit_output


def _input() -> Dataset:
    ds = b.mr_dataset()
    ds.PatientID = "MRN-0055120394"
    ds.ReferringPhysicianName = "OKONKWO^CHIDI"
    ds.ImageComments = "MRN 55120394 - follow-up scan"
    ds.PatientComments = "SSN 536-22-4817; contact evelyn.hartley@example.org"
    ds.AdditionalPatientHistory = "Headaches since 2015. Call 501-555-0147"
    code = Dataset()
    code.CodeValue = "MRBRN01"
    code.CodingSchemeDesignator = "99LOCAL"
    code.CodeMeaning = "MR BRAIN per Dr. Okonkwo"
    request = Dataset()
    request.RequestedProcedureCodeSequence = Sequence([code])
    ds.RequestAttributesSequence = Sequence([request])
    return ds


def test_every_free_text_leak_is_an_error_with_its_kind() -> None:
    original = _input()
    output = copy.deepcopy(original)  # what a tool that only replaces the header leaves
    output.PatientID = "ANON0001"
    output.PatientName = "ANON^0001"
    output.ReferringPhysicianName = ""
    findings = audit_output(original, output, b"", "out.dcm")
    errors = {(f.path, f.kind) for f in findings if f.is_error}
    assert ("(0020,4000)", "patient-id") in errors  # the MRN's digits without its prefix
    assert ("(0010,4000)", "looks-like-national-id") in errors  # the SSN
    assert ("(0010,4000)", "looks-like-email") in errors
    assert ("(0010,21B0)", "looks-like-phone") in errors
    code_meaning = "(0040,0275)[0].(0032,1064)[0].(0008,0104)"
    assert (code_meaning, "physician") in errors
    for finding in findings:
        text = str(finding.to_dict())
        for secret in ("55120394", "536-22-4817", "evelyn", "501-555", "Okonkwo"):
            assert secret.lower() not in text.lower()
