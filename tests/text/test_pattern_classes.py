"""Every pattern class of identifying text, in several languages and character sets: the
cleaner removes it, and the audit reports it as an error when it is found in an output."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset
from pydicom.uid import MRImageStorage

from veil.audit import audit_output
from veil.audit.heuristics import KIND_OF
from veil.text import PatternClass, clean_text, find_patterns

# (class, text holding it, the identifying part, the character set the text is stored in)
CASES: list[tuple[PatternClass, str, str, str]] = [
    (PatternClass.PHONE, "Call 501-555-0147 after 5pm", "501-555-0147", "ISO_IR 100"),
    (PatternClass.PHONE, "Rückruf +49 30 901820 erbeten", "+49 30 901820", "ISO_IR 100"),
    (PatternClass.PHONE, "連絡先 03-3212-2323 まで", "03-3212-2323", "\\ISO 2022 IR 87"),
    (PatternClass.PHONE, "电话 +86 10 6552 8888", "+86 10 6552 8888", "GB18030"),
    (PatternClass.PHONE, "Tel. 0123 4567 (night)", "0123 4567", "ISO_IR 100"),
    (
        PatternClass.EMAIL,
        "contact evelyn.hartley@example.org",
        "evelyn.hartley@example.org",
        "ISO_IR 100",
    ),
    (
        PatternClass.EMAIL,
        "メール taro.yamada@example.jp",
        "taro.yamada@example.jp",
        "\\ISO 2022 IR 87",
    ),
    (
        PatternClass.URL,
        "Report at https://portal.example.org/r/4711",
        "https://portal.example.org/r/4711",
        "ISO_IR 100",
    ),
    (
        PatternClass.URL,
        "voir www.clinique-exemple.fr/dossier",
        "www.clinique-exemple.fr/dossier",
        "ISO_IR 100",
    ),
    (PatternClass.NATIONAL_ID, "SSN 536-22-4817 on file", "536-22-4817", "ISO_IR 100"),
    (PatternClass.NATIONAL_ID, "personnummer 480117-5524", "480117-5524", "ISO_IR 100"),
    (PatternClass.NATIONAL_ID, "身份证 110105198506120034", "110105198506120034", "GB18030"),
    (PatternClass.NATIONAL_ID, "주민번호 900101-1234568", "900101-1234568", "ISO_IR 192"),
    (PatternClass.NATIONAL_ID, "NHS 943 476 5919", "943 476 5919", "ISO_IR 100"),
    (PatternClass.NATIONAL_ID, "AHV 756.9217.0769.85", "756.9217.0769.85", "ISO_IR 100"),
    (
        PatternClass.STREET_ADDRESS,
        "lives at 1261 Leawood Street, Little Rock AR 72223",
        "1261 Leawood Street",
        "ISO_IR 100",
    ),
    (
        PatternClass.STREET_ADDRESS,
        "wohnt Hauptstraße 12, 10115 Berlin",
        "Hauptstraße 12",
        "ISO_IR 100",
    ),
    (PatternClass.STREET_ADDRESS, "domicile 12 rue de la Paix", "12 rue de la Paix", "ISO_IR 100"),
    (
        PatternClass.STREET_ADDRESS,
        "住所 東京都千代田区丸の内1丁目9-1",
        "東京都千代田区丸の内1丁目9-1",
        "\\ISO 2022 IR 87",
    ),
    (
        PatternClass.STREET_ADDRESS,
        "地址 北京市朝阳区建国路88号",
        "北京市朝阳区建国路88号",
        "GB18030",
    ),
    (PatternClass.STREET_ADDRESS, "주소 세종대로 110", "세종대로 110", "\\ISO 2022 IR 149"),
    (PatternClass.RECORD_NUMBER, "MRN 55120394 follow-up", "55120394", "ISO_IR 100"),
    (PatternClass.RECORD_NUMBER, "Patient ID: H-0042317", "H-0042317", "ISO_IR 100"),
    (PatternClass.RECORD_NUMBER, "Fallnummer 12345678", "12345678", "ISO_IR 100"),
    (PatternClass.RECORD_NUMBER, "患者ID 4711235 確認", "4711235", "\\ISO 2022 IR 87"),
    (
        PatternClass.RECORD_NUMBER,
        "マイナンバー 1234 5678 9018",
        "1234 5678 9018",
        "\\ISO 2022 IR 87",
    ),
    (PatternClass.NAME, "Referred by Dr. Hans Müller", "Hans Müller", "ISO_IR 100"),
    (PatternClass.NAME, "Seen by DR. OKONKWO today", "OKONKWO", "ISO_IR 100"),
    (PatternClass.NAME, "Read by Jane Roe, MD", "Jane Roe", "ISO_IR 100"),
    (PatternClass.NAME, "Referring physician: Smithers", "Smithers", "ISO_IR 100"),
    (PatternClass.NAME, "MR BRAIN 鈴木先生", "鈴木", "\\ISO 2022 IR 87"),
    (PatternClass.NAME, "王医生 复查", "王", "GB18030"),
    (PatternClass.NAME, "김민준 선생님 의뢰", "김민준", "ISO_IR 192"),
    (PatternClass.NAME, "MR BRAIN Smith先生", "Smith", "\\ISO 2022 IR 87"),
    (PatternClass.DATE, "seen 23/04/1961", "23/04/1961", "ISO_IR 100"),
    (PatternClass.DATE, "scan of March 4, 2019", "March 4, 2019", "ISO_IR 100"),
    (PatternClass.DATE, "Untersuchung 4. März 2019", "4. März 2019", "ISO_IR 100"),
    (PatternClass.DATE, "検査日 2019年3月4日", "2019年3月4日", "\\ISO 2022 IR 87"),
    (PatternClass.DATE, "검사 2019년 3월 4일", "2019년 3월 4일", "ISO_IR 192"),
]
IDS = [f"{c.value}-{i}" for i, (c, *_rest) in enumerate(CASES)]


@pytest.mark.parametrize(("pattern", "text", "part", "charset"), CASES, ids=IDS)
def test_the_pattern_is_found_by_its_class(
    pattern: PatternClass, text: str, part: str, charset: str
) -> None:
    spans = [s for s in find_patterns(text) if s.pattern is pattern]
    assert spans, f"{pattern.value} not found"
    covered = "".join(text[s.start : s.end] for s in spans)
    assert part in covered or all(token in covered for token in part.split())


@pytest.mark.parametrize(("pattern", "text", "part", "charset"), CASES, ids=IDS)
def test_the_cleaner_removes_it_and_keeps_the_rest(
    pattern: PatternClass, text: str, part: str, charset: str
) -> None:
    cleaned = clean_text(text)
    assert part not in cleaned
    for token in part.split():
        if len(token) > 2:
            assert token not in cleaned
    assert cleaned.strip() and "*" in cleaned  # the rest of the text stays


def _pair(charset: str) -> tuple[Dataset, Dataset]:
    original = Dataset()
    original.SOPClassUID = MRImageStorage
    original.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.3"
    original.PatientName = "NOBODY^IN PARTICULAR"
    terms = charset.split("\\") if "\\" in charset else charset
    original.SpecificCharacterSet = terms
    output = Dataset()
    output.SOPClassUID = MRImageStorage
    output.SOPInstanceUID = "2.25.1"
    output.SpecificCharacterSet = terms
    return original, output


@pytest.mark.parametrize(("pattern", "text", "part", "charset"), CASES, ids=IDS)
def test_the_audit_reports_it_as_an_error_in_an_output(
    pattern: PatternClass, text: str, part: str, charset: str
) -> None:
    original, output = _pair(charset)
    output.ImageComments = text
    from veil.io.dicomfile import encode_dataset

    encoded = encode_dataset(_with_meta(output))  # through the character set and back
    findings = audit_output(original, output, encoded, "out.dcm")
    kinds = {(f.path, f.kind, f.severity) for f in findings}
    assert ("(0020,4000)", KIND_OF[pattern].value, "error") in kinds
    for finding in findings:  # never the value in a finding
        assert part not in str(finding.to_dict())


def _with_meta(ds: Dataset) -> Dataset:
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


@pytest.mark.parametrize(
    "text",
    [
        "T1 MPRAGE SAG 1.0mm iso",
        "MR BRAIN W/O CONTRAST",
        "DR CHEST PA",
        "MS lesion protocol",
        "FLAIR AX 5mm 20 slices",
        "3 AXIAL CT",
        "Series No. 5",
        "TR 2300 TE 30 TI 900 256x256",
        "syngo MR E11 1.5.10",
        "M. Gastrocnemius T2",
        "ep2d_diff_mddw_20_p2 b1000",
        "頭部MRI 造影なし",
    ],
)
def test_ordinary_imaging_text_is_left_alone(text: str) -> None:
    assert find_patterns(text) == []
    assert clean_text(text) == text
