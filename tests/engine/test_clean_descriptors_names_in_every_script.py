"""Clean Descriptors removes the patient's and physicians' names from the descriptions it
keeps, in every script and character set: Latin with accents, Japanese (ISO 2022 IR 87),
Chinese (GB18030), Korean (ISO 2022 IR 149). Issue 9: Japanese and Chinese names stayed in
descriptions (the audit caught them and quarantined the file). Also IDs with a prefix whose
digits are written alone, and a physician's name inside a nested code meaning (issue 18)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.engine import builders as b
from veil.audit import audit_output
from veil.engine import deidentify
from veil.io.dicomfile import encode_dataset
from veil.mapping import Mapper, Patient
from veil.policy import compile_plan, load_policy

MAPPER = Mapper(bytes(range(32)))

# (name, character set, descriptions written with it, the parts that must go)
CASES = [
    (
        "Yamada^Tarou=山田^太郎=やまだ^たろう",
        ["", "ISO 2022 IR 87"],
        ("頭部MRI 山田太郎様", "山田 太郎 T1", "やまだ たろう 再検査"),
        ("山田", "太郎", "やまだ", "たろう"),
    ),
    (
        "Wang^Xiaoming=王^小明",
        "GB18030",
        ("王小明 头部MRI", "小明 复查", "WANG XIAOMING T2"),
        ("王小明", "小明", "XIAOMING"),
    ),
    (
        "Hong^Gildong=洪^吉洞=홍^길동",
        ["", "ISO 2022 IR 149"],
        ("홍길동 뇌 MRI", "洪吉洞 T1", "Gildong Hong FLAIR"),
        ("홍길동", "洪吉洞", "Gildong", "Hong"),
    ),
    (
        "Brännström^Åsa",
        "ISO_IR 100",
        ("MR hjärna Åsa Brännström", "BRANNSTROM T1", "Braennstroem, A. kontroll"),
        ("Brännström", "BRANNSTROM", "Braennstroem", "Åsa"),
    ),
]


def _dataset(name: str, charset: str | list[str], texts: tuple[str, ...]) -> Dataset:
    ds = b.mr_dataset()
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.PatientID = "MRN-0055120394"
    ds.StudyDescription, ds.SeriesDescription, ds.ImageComments = texts
    ds.PatientComments = "record 55120394, compare with prior"
    code = Dataset()
    code.CodeValue = "MRBRN01"
    code.CodingSchemeDesignator = "99LOCAL"
    code.CodeMeaning = "MR BRAIN per Dr. House"
    request = Dataset()
    request.RequestedProcedureDescription = "MR BRAIN ROUTINE"
    request.RequestedProcedureCodeSequence = Sequence([code])
    ds.RequestAttributesSequence = Sequence([request])
    # Round trip through the character set, as a real file would arrive.
    return dcmread(io.BytesIO(encode_dataset(ds)), force=True)


@pytest.mark.parametrize(("name", "charset", "texts", "gone"), CASES, ids=lambda v: str(v)[:12])
@pytest.mark.parametrize("policy", ["research-longitudinal", "research-release"])
def test_names_leave_descriptions_in_every_script_and_the_audit_agrees(
    name: str, charset: str | list[str], texts: tuple[str, ...], gone: tuple[str, ...], policy: str
) -> None:
    original = _dataset(name, charset, texts)
    output = deidentify(original, compile_plan(load_policy(policy)), MAPPER)
    encoded = encode_dataset(output)
    written = dcmread(io.BytesIO(encoded), force=True)
    kept = " | ".join(
        str(written.get(k, "")) for k in ("StudyDescription", "SeriesDescription", "ImageComments")
    )
    for part in gone:
        assert part.lower() not in kept.lower()
    assert "MRI" in kept or "T1" in kept  # the clinical words stay
    comments = str(written.get("PatientComments", ""))
    assert "55120394" not in comments and "compare with prior" in comments
    meaning = str(
        written.RequestAttributesSequence[0].RequestedProcedureCodeSequence[0].CodeMeaning
    )
    assert "House" not in meaning and "MR BRAIN" in meaning
    errors = [f for f in audit_output(original, written, encoded, "out.dcm") if f.is_error]
    assert errors == []


def test_type_1_dates_in_dummy_sequences_shift_under_modified_dates_and_stay_dummies_in_basic() -> (
    None
):
    ds = b.mr_dataset()
    observer = Dataset()
    observer.VerifyingObserverName = "HOUSE^GREGORY"
    observer.VerificationDateTime = "20240131101500"
    observer.VerifyingOrganization = "ST ELSEWHERE HOSPITAL"
    ds.VerifyingObserverSequence = Sequence([observer])  # Table E.1-1: D
    shifted = deidentify(ds, compile_plan(load_policy("research-release")), MAPPER)
    basic = deidentify(ds, compile_plan(load_policy("basic")), MAPPER)
    offset = MAPPER.date_offset_days(Patient.of(ds))
    item = shifted.VerifyingObserverSequence[0]
    assert item.VerificationDateTime != "20240131101500"
    assert not item.VerificationDateTime.startswith("1900")
    moved = dt.datetime.strptime(item.VerificationDateTime[:8], "%Y%m%d").date()
    assert (dt.date(2024, 1, 31) - moved).days == offset
    assert item.VerificationDateTime[8:] == "101500"  # the time of day stays
    assert str(item.VerifyingObserverName) != "HOUSE^GREGORY"
    assert basic.VerifyingObserverSequence[0].VerificationDateTime.startswith("19000101")
