"""The engine on a synthetic MR image with identifiers in every kind of place."""

from __future__ import annotations

import io

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset

from tests.engine import builders as b
from veil.engine import IMPLEMENTATION_CLASS_UID, deidentify
from veil.io.dicomfile import encode_dataset
from veil.mapping import Mapper, Patient
from veil.policy import compile_plan, load_policy, parse_policy

MAPPER = Mapper(bytes(range(32)))


def _all_text(ds: Dataset) -> str:
    """Every value of every element, nested ones included, as one string."""
    parts: list[str] = []
    for elem in ds.iterall():
        if elem.VR != "SQ":
            parts.append(str(elem.value))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def basic_output() -> tuple[Dataset, Dataset]:
    original = b.mr_dataset()
    return original, deidentify(original, compile_plan(load_policy("basic")), MAPPER)


def test_the_input_dataset_is_not_modified() -> None:
    original = b.mr_dataset()
    before = encode_dataset(original)
    deidentify(original, compile_plan(load_policy("basic")), MAPPER)
    assert encode_dataset(original) == before


def test_identifiers_are_gone_at_every_level(basic_output: tuple[Dataset, Dataset]) -> None:
    _, out = basic_output
    text = _all_text(out)
    for value in (
        b.PATIENT_NAME,
        b.PATIENT_ID,
        b.BIRTH_DATE,
        b.INSTITUTION,
        "ACC778899",
        "HOUSE^GREGORY",
        "SN12345",
        "MRC01",
        "DOE JOHN",
        b.STUDY_UID,
        b.SOP_UID,
    ):
        assert value not in text, value
    assert "PatientBirthDate" not in out or not out.PatientBirthDate
    assert out.PatientName == MAPPER.patient_pseudonym(Patient(b.PATIENT_ID))


def test_uids_are_remapped_in_every_reference(basic_output: tuple[Dataset, Dataset]) -> None:
    _, out = basic_output
    assert out.StudyInstanceUID == MAPPER.uid(b.STUDY_UID)
    assert out.SeriesInstanceUID == MAPPER.uid(b.SERIES_UID)
    assert out.FrameOfReferenceUID == MAPPER.uid(b.FRAME_UID)
    assert "ReferencedImageSequence" not in out  # X/Z/U*, type 3 in the MR IOD: removed
    referenced = out.ReferencedInstanceSequence[0]
    assert referenced.ReferencedSOPInstanceUID == MAPPER.uid("1.2.826.0.1.3680043.8.498.99")
    assert referenced.ReferencedSOPClassUID == b.mr_dataset().SOPClassUID  # classes kept


def test_private_blocks_are_removed_with_their_creators(
    basic_output: tuple[Dataset, Dataset],
) -> None:
    _, out = basic_output
    assert not [elem for elem in out if elem.tag.is_private]


def test_overlay_and_trailing_elements_are_handled(basic_output: tuple[Dataset, Dataset]) -> None:
    _, out = basic_output
    assert not [elem for elem in out if 0x6000 <= elem.tag.group <= 0x60FF]
    assert 0x7FE11001 not in out


def test_pixel_data_is_the_same_object_byte_for_byte(
    basic_output: tuple[Dataset, Dataset],
) -> None:
    _, out = basic_output
    assert out.PixelData == b.PIXELS


def test_file_meta_is_veils_and_follows_the_new_instance_uid(
    basic_output: tuple[Dataset, Dataset],
) -> None:
    _, out = basic_output
    meta = out.file_meta
    assert meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID == MAPPER.uid(b.SOP_UID)
    assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert meta.ImplementationVersionName.startswith("VEIL")
    assert "SourceApplicationEntityTitle" not in meta
    assert meta.TransferSyntaxUID == b.mr_dataset().file_meta.TransferSyntaxUID


def test_deidentification_is_recorded_with_cid_7050_codes(
    basic_output: tuple[Dataset, Dataset],
) -> None:
    _, out = basic_output
    assert out.PatientIdentityRemoved == "YES"
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert codes == ["113100"]
    assert all(
        item.CodingSchemeDesignator == "DCM" for item in out.DeidentificationMethodCodeSequence
    )
    assert out.DeidentificationMethod


def test_research_policy_shifts_dates_keeps_intervals_and_age() -> None:
    original = b.mr_dataset()
    out = deidentify(original, compile_plan(load_policy("research-longitudinal")), MAPPER)
    offset = MAPPER.date_offset_days(Patient(b.PATIENT_ID))
    assert out.StudyDate != b.STUDY_DATE
    from datetime import date, timedelta

    expected = (date(2024, 1, 31) - timedelta(days=offset)).strftime("%Y%m%d")
    assert out.StudyDate == expected
    assert out.PatientSex == "M"
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    codes = {item.CodeValue for item in out.DeidentificationMethodCodeSequence}
    assert {"113100", "113107", "113108"} <= codes


def test_clean_descriptors_removes_names_and_dates_from_free_text() -> None:
    plan = compile_plan(
        parse_policy("name: t\nbase: basic\noptions: [clean-descriptors]\n", "t.yaml")
    )
    out = deidentify(b.mr_dataset(), plan, MAPPER)
    comments = str(out.get("ImageComments", ""))
    assert "DOE" not in comments.upper() and "JOHN" not in comments.upper()
    assert "31/01/2024" not in comments
    assert out.SeriesDescription == "T1 MPRAGE"  # a descriptor without identifiers survives


def test_output_encodes_and_reads_back_in_the_same_transfer_syntax(
    basic_output: tuple[Dataset, Dataset],
) -> None:
    _, out = basic_output
    back = dcmread(io.BytesIO(encode_dataset(out)))
    assert back.file_meta.TransferSyntaxUID == out.file_meta.TransferSyntaxUID
    assert back.PixelData == b.PIXELS


def test_same_key_same_output_different_key_different_output() -> None:
    plan = compile_plan(load_policy("basic"))
    first = encode_dataset(deidentify(b.mr_dataset(), plan, MAPPER))
    second = encode_dataset(deidentify(b.mr_dataset(), plan, MAPPER))
    other = encode_dataset(deidentify(b.mr_dataset(), plan, Mapper(bytes(32))))
    assert first == second
    assert first != other


def test_a_requirement_keeping_age_declares_retain_patient_characteristics() -> None:
    from veil.check.profile import load_profile

    plan = compile_plan(load_policy("basic"), [load_profile("neuroquant")])
    out = deidentify(b.mr_dataset(), plan, MAPPER)
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113108"]
    assert out.PatientAge == "054Y"  # derived from 19700131 and 20240131
    assert not out.get("PatientBirthDate")  # Z: type 2, kept empty
