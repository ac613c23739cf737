"""The neuroquant profile's conditional age rules and the data quality check switch."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from tests.check.samples import sample
from veil.check import load_profile
from veil.check.evaluate import evaluate_attribute
from veil.check.model import AttributeRule, Outcome

DATES = ("AcquisitionDate", "ContentDate", "StudyDate", "SeriesDate")


def _rule(name: str) -> AttributeRule:
    (rule,) = [r for r in load_profile("neuroquant").rules if r.rule_id == f"neuroquant/{name}"]
    return rule


def _outcome(name: str, ds: Dataset, quality_checks: bool = True) -> Outcome:
    return evaluate_attribute(_rule(name), ds, quality_checks).outcome


def _without(ds: Dataset, *keywords: str) -> Dataset:
    for keyword in keywords:
        if keyword in ds:
            del ds[keyword]
    return ds


def test_age_present_passes_and_birth_date_is_then_not_needed() -> None:
    ds = _without(sample("siemens-mosaic"), "PatientBirthDate")
    assert _outcome("patient-age", ds) is Outcome.PASS
    assert _outcome("patient-birth-date", ds) is Outcome.SKIP


def test_age_missing_but_computable_from_birth_date_and_each_single_date_is_not_needed() -> None:
    for kept in DATES:
        ds = _without(sample("siemens-mosaic"), "PatientAge", *[d for d in DATES if d != kept])
        ds.PatientBirthDate = "19800101"
        setattr(ds, kept, "20200102")
        assert _outcome("patient-age", ds) is Outcome.SKIP, kept
        assert _outcome("patient-birth-date", ds) is Outcome.PASS, kept


def test_age_missing_and_birth_date_missing_warns_for_both_rules() -> None:
    ds = _without(sample("siemens-mosaic"), "PatientAge", "PatientBirthDate")
    assert _outcome("patient-age", ds) is Outcome.WARN
    assert _outcome("patient-birth-date", ds) is Outcome.WARN


def test_age_missing_and_birth_date_without_any_date_warns_for_age_only() -> None:
    ds = _without(sample("siemens-mosaic"), "PatientAge", *DATES)
    ds.PatientBirthDate = "19800101"
    assert _outcome("patient-age", ds) is Outcome.WARN  # cannot be computed
    assert _outcome("patient-birth-date", ds) is Outcome.SKIP  # useless without a date


def test_invalid_birth_date_does_not_make_the_age_computable() -> None:
    ds = _without(sample("siemens-mosaic"), "PatientAge")
    ds.PatientBirthDate = "19800231"  # not a real calendar date
    assert _outcome("patient-age", ds) is Outcome.WARN
    assert _outcome("patient-birth-date", ds) is Outcome.WARN


@pytest.mark.parametrize("age", ["45", "045", "45Y", "045y ", "0045Y", "045X"])
def test_age_must_be_nnn_and_a_unit(age: str) -> None:
    ds = _without(sample("siemens-mosaic"), "PatientBirthDate")
    ds.PatientAge = age
    assert _outcome("patient-age", ds) is Outcome.WARN


@pytest.mark.parametrize(
    ("sex", "outcome"),
    [("M", "pass"), ("F", "pass"), ("O", "pass"), ("X", "warn"), ("", "warn"), ("male", "warn")],
)
def test_sex_must_be_m_f_or_o(sex: str, outcome: str) -> None:
    ds = sample("siemens-mosaic")
    ds.PatientSex = sex
    assert _outcome("patient-sex", ds).value == outcome


@pytest.mark.parametrize("keyword", ["Manufacturer", "ManufacturerModelName"])
def test_manufacturer_and_model_fail_unless_quality_checks_are_disabled(keyword: str) -> None:
    name = "manufacturer" if keyword == "Manufacturer" else "manufacturer-model"
    ds = sample("ge-t1")
    assert _outcome(name, ds) is Outcome.PASS
    del ds[keyword]
    assert _outcome(name, ds) is Outcome.FAIL
    assert _outcome(name, ds, quality_checks=False) is Outcome.SKIP


def test_quality_switch_removes_manufacturer_and_model_from_what_deid_keeps() -> None:
    profile = load_profile("neuroquant")
    with_checks = {p.keyword for p in profile.preservations(True)}
    without = {p.keyword for p in profile.preservations(False)}
    assert {"Manufacturer", "ManufacturerModelName"} <= with_checks
    assert not {"Manufacturer", "ManufacturerModelName"} & without
    assert {"PatientAge", "PatientSex"} <= without
    assert "PatientBirthDate" not in with_checks  # carried as PatientAge instead
