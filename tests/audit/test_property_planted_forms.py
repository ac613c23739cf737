"""Property: whatever the (made-up) name, ID and birth date, the forms people write them in
are found in free text of the output."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from veil.audit import audit_output
from veil.audit.identifiers import STOP_WORDS

# Stop words ("REMOVED", "TEST") are never searched alone, by design.
NAMES = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=4, max_size=10).filter(
    lambda n: n.lower() not in STOP_WORDS
)
DATES = st.dates(dt.date(1910, 1, 1), dt.date(2020, 12, 31))
IDS = st.integers(100000, 99999999).map(str)
FORMS = st.sampled_from(
    [
        "{f}^{g}",
        "{g} {f}",
        "{f}, {g}",
        "{g_}. {f}",
        "{f}",
        "{d:%d/%m/%Y}",
        "{d:%Y-%m-%d}",
        "{d:%m.%d.%Y}",
        "{d:%d %b %Y}",
        "MRN{i}",
        "{i0}",
    ]
)


@settings(max_examples=150, deadline=None)
@given(family=NAMES, given_name=NAMES, birth=DATES, pid=IDS, form=FORMS)
def test_a_written_form_is_found(
    family: str, given_name: str, birth: dt.date, pid: str, form: str
) -> None:
    original = Dataset()
    original.SOPInstanceUID = generate_uid()
    original.PatientName = f"{family}^{given_name}"
    original.PatientID = pid
    original.PatientBirthDate = birth.strftime("%Y%m%d")
    output = Dataset()
    output.file_meta = FileMetaDataset()
    output.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    output.SOPInstanceUID = generate_uid()
    text = form.format(
        f=family.title(), g=given_name.title(), g_=given_name[0], d=birth, i=pid, i0="00" + pid
    )
    output.ImageComments = f"note: {text} (seen)"
    findings = audit_output(original, output, b"", "o.dcm", heuristics=False)
    assert [f.path for f in findings if f.is_error][:1] == ["(0020,4000)"]
