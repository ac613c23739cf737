"""The research-release policy on real scanner files: it keeps what research needs (sex, age,
weight, descriptions, the safe private attributes: Philips scale slope and intercept, GE
b-value), shifts every date by the patient's one offset, and leaves nothing the audit finds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from veil.audit import audit_output
from veil.engine import deidentify
from veil.io.dicomfile import encode_dataset, read_dataset
from veil.mapping import Mapper
from veil.policy import compile_plan, load_policy
from veil.standard import Option

MAPPER = Mapper(bytes(range(32)))
PHILIPS = "dcm_qa_philips_enh/1301_ADNI_Sag3D_MPRAGE_classic/1301_0001.dcm"
GE = "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22/i152.MRDC.5"


def _release(corpus: Path, relative: str) -> tuple[Dataset, Dataset, bytes]:
    original = read_dataset(corpus / relative)
    output = deidentify(original, compile_plan(load_policy("research-release")), MAPPER)
    return original, output, encode_dataset(output)


def test_the_policy_declares_the_options_of_a_research_release() -> None:
    plan = compile_plan(load_policy("research-release"))
    assert plan.options == {
        Option.RETAIN_SAFE_PRIVATE,
        Option.RETAIN_PATIENT_CHARACTERISTICS,
        Option.RETAIN_LONG_MODIFIED_DATES,
        Option.CLEAN_DESCRIPTORS,
        Option.CLEAN_STRUCTURED_CONTENT,
    }
    assert plan.shift_dates


@pytest.mark.parametrize(
    ("relative", "creator", "group", "element"),
    [
        (PHILIPS, "Philips MR Imaging DD 001", 0x2005, 0x0E),  # Scale Slope
        (PHILIPS, "Philips MR Imaging DD 001", 0x2005, 0x0D),  # Scale Intercept
        (GE, "GEMS_PARM_01", 0x0043, 0x39),  # b-value
    ],
)
def test_safe_private_attributes_research_needs_are_kept_byte_for_byte(
    corpus: Path, relative: str, creator: str, group: int, element: int
) -> None:
    original, output, _ = _release(corpus, relative)
    before = original.private_block(group, creator)[element].value
    after = output.private_block(group, creator)[element].value
    assert after == before


@pytest.mark.parametrize("relative", [PHILIPS, GE])
def test_characteristics_and_descriptions_stay_and_dates_move_by_one_offset(
    corpus: Path, relative: str
) -> None:
    original, output, encoded = _release(corpus, relative)
    for keyword in ("PatientSex", "PatientWeight", "SeriesDescription", "ProtocolName"):
        if original.get(keyword):
            assert output.get(keyword) == original.get(keyword), keyword
    assert output.Manufacturer == original.Manufacturer
    shifts = set()
    for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
        if original.get(keyword):
            before = dt.datetime.strptime(str(original.get(keyword)), "%Y%m%d").date()
            after = dt.datetime.strptime(str(output.get(keyword)), "%Y%m%d").date()
            shifts.add((before - after).days)
    assert len(shifts) == 1 and shifts.pop() > 0
    assert "PatientBirthDate" not in output or not output.PatientBirthDate
    errors = [f for f in audit_output(original, output, encoded, relative) if f.is_error]
    assert errors == []
