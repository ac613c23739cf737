"""Requirements compiled into the privacy plan: the safest transform that satisfies both, or a
refusal naming both rules; and the engine carrying it out on real files."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from tests.check.samples import sample
from veil.check import load_profile, parse_profile
from veil.engine import deidentify
from veil.errors import RequirementConflictError
from veil.keys import load_mapper
from veil.policy import compile_plan, load_policy, parse_policy
from veil.policy.model import Action


def _deid(ds: Dataset, *profiles: str, quality_checks: bool = True) -> Dataset:
    plan = compile_plan(
        load_policy("basic"), [load_profile(p) for p in profiles], quality_checks=quality_checks
    )
    return deidentify(ds, plan, load_mapper())


def _creator_elements(ds: Dataset, creator: str) -> set[int]:
    """Element numbers (low byte) present in the private block of that creator."""
    found: set[int] = set()
    for element in ds:
        if element.tag.is_private_creator and str(element.value).strip() == creator:
            block = (element.tag.group, element.tag.element)
            for other in ds:
                tag = other.tag
                if tag.group == block[0] and tag.element >> 8 == block[1]:
                    found.add(tag.element & 0xFF)
    return found


def test_neuroquant_plan_derives_age_keeps_sex_and_still_removes_the_birth_date() -> None:
    plan = compile_plan(load_policy("basic"), [load_profile("neuroquant")])
    assert plan.rule_for(0x00101010).action == Action.DERIVE_AGE.value  # PatientAge
    assert plan.rule_for(0x00100040).action == Action.KEEP.value  # PatientSex
    assert plan.rule_for(0x00100030).action in ("Z", "X")  # PatientBirthDate
    assert plan.derive_age
    assert any("PatientBirthDate" in note for note in plan.notes)
    assert plan.requirement_names == ("neuroquant",)


def test_deid_for_neuroquant_writes_a_derived_age_and_no_birth_date() -> None:
    ds = sample("siemens-xa-classic")
    del ds.PatientAge
    ds.PatientBirthDate = "19800615"
    ds.StudyDate = "20230614"
    out = _deid(ds, "neuroquant")
    assert out.PatientAge == "042Y"
    assert not str(out.get("PatientBirthDate", "") or "")
    assert out.PatientSex == ds.PatientSex
    assert out.Manufacturer == ds.Manufacturer
    assert out.ManufacturerModelName == ds.ManufacturerModelName
    assert "DeviceSerialNumber" not in out and "StationName" not in out


def test_basic_alone_drops_age_and_sex_that_neuroquant_needs() -> None:
    ds = sample("siemens-xa-classic")
    out = _deid(ds)
    assert "PatientAge" not in out
    assert not str(out.get("PatientSex", "") or "")


def test_dcm2niix_plan_keeps_named_private_elements_by_creator_and_drops_identifying_ones() -> None:
    out = _deid(sample("siemens-mosaic"), "dcm2niix")
    kept = _creator_elements(out, "SIEMENS CSA HEADER")
    # Image and series headers kept, with identifying values masked inside (veil.vendor).
    assert kept == {0x08, 0x10, 0x18, 0x20}
    assert _creator_elements(out, "SIEMENS MR HEADER")  # whole block kept
    assert not _creator_elements(out, "SIEMENS MEDCOM HEADER2")  # not named: removed
    ge = _deid(sample("ge-t1"), "dcm2niix")
    sers = _creator_elements(ge, "GEMS_SERS_01")
    assert sers and 0x1A not in sers  # the scanner's host name goes, the rest stays
    assert not _creator_elements(ge, "GEMS_IDEN_01")


def test_dcm2niix_keeps_acquisition_date_shifted_and_time_unchanged() -> None:
    ds = sample("ge-t1")
    out = _deid(ds, "dcm2niix")
    assert out.AcquisitionTime == ds.AcquisitionTime
    assert out.AcquisitionDate and out.AcquisitionDate != ds.AcquisitionDate
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"


def test_private_element_one_profile_removes_stays_removed_when_another_keeps_the_block() -> None:
    keeper = parse_profile(
        "name: keeper\nprivate:\n  - {id: csa, creator: SIEMENS CSA HEADER, severity: warn,"
        " need: everything}\n",
        "keeper.yaml",
    )
    plan = compile_plan(load_policy("basic"), [load_profile("dcm2niix"), keeper])
    assert plan.private_rule("SIEMENS CSA HEADER", 0x0029, 0x09).action == "X"
    assert plan.private_rule("SIEMENS CSA HEADER", 0x0029, 0x20).action == "C"  # masked inside
    assert plan.private_rule("SIEMENS CSA HEADER", 0x0029, 0x10).action in ("K", "C")


def test_requirement_no_option_allows_stops_the_compile_naming_both_rules() -> None:
    needs_name = parse_profile(
        "name: needs-name\nrules:\n  - {id: name, attribute: PatientName, severity: fail,"
        " need: matching by name}\n",
        "needs-name.yaml",
    )
    with pytest.raises(RequirementConflictError) as caught:
        compile_plan(load_policy("basic"), [needs_name])
    message = str(caught.value)
    assert "needs-name/name" in message  # the requirement side
    assert "Table E.1-1 (0010,0010)" in message  # the privacy side


def test_policy_override_that_removes_a_required_attribute_stops_naming_both() -> None:
    policy = parse_policy(
        "name: strict\nbase: basic\noptions: [retain-patient-characteristics]\n"
        "overrides:\n  - {attribute: PatientSex, action: remove}\n",
        "strict.yaml",
    )
    with pytest.raises(RequirementConflictError) as caught:
        compile_plan(policy, [load_profile("neuroquant")])
    message = str(caught.value)
    assert "strict.yaml: line 5" in message
    assert "neuroquant/patient-sex" in message


def test_quality_checks_off_changes_nothing_that_must_be_removed() -> None:
    with_checks = compile_plan(load_policy("basic"), [load_profile("neuroquant")])
    without = compile_plan(load_policy("basic"), [load_profile("neuroquant")], quality_checks=False)
    # Manufacturer and model are not identifying: kept either way, by the basic profile.
    assert with_checks.rule_for(0x00080070) is None and without.rule_for(0x00080070) is None
    assert without.rule_for(0x00101010).action == Action.DERIVE_AGE.value
