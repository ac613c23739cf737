"""Every rule of every built-in profile, passing and failing, on real corpus files.

A rule passes on a real file that carries what it needs, and fails (or warns, by its
severity) on the same file with that attribute removed, emptied, or given an invalid value.
"""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from tests.check.samples import SAMPLES, sample
from veil.check import load_profile
from veil.check.access import private_creators
from veil.check.evaluate import FileOutcome, evaluate_attribute, evaluate_private
from veil.check.model import AttributeRule, Outcome, PrivateRule, Severity

PROFILES = ("neuroquant", "dcm2niix", "basic-viewing")
ATTRIBUTE_RULES = [
    pytest.param(rule, id=rule.rule_id) for name in PROFILES for rule in load_profile(name).rules
]
PRIVATE_RULES = [
    pytest.param(rule, id=rule.rule_id)
    for name in PROFILES
    for rule in load_profile(name).private_rules
]


def _unmet(rule: AttributeRule | PrivateRule) -> Outcome:
    return Outcome.FAIL if rule.severity is Severity.FAIL else Outcome.WARN


def _prepared(rule: AttributeRule | PrivateRule, ds: Dataset) -> Dataset:
    """Real files where a conditional rule applies as written."""
    if rule.rule_id == "neuroquant/patient-birth-date":
        del ds.PatientAge  # the birth date is needed only when the age is missing
    if rule.rule_id == "dcm2niix/toshiba-mr":
        # No Toshiba MR file in the corpus: a Canon file as Toshiba wrote it before the rename.
        ds.Manufacturer = "TOSHIBA_MEC"
        for element in ds:
            if element.tag.is_private_creator and element.value == "CANON_MEC_MR3":
                element.value = "TOSHIBA_MEC_MR3"
    return ds


def _remove_everywhere(ds: Dataset, keyword: str) -> None:
    """Delete an attribute at every level (enhanced objects keep it in functional groups)."""
    if keyword in ds:
        del ds[keyword]
    for element in ds:
        if element.VR == "SQ":
            for item in element.value:
                _remove_everywhere(item, keyword)


def _attribute(rule: AttributeRule, ds: Dataset) -> FileOutcome:
    return evaluate_attribute(rule, ds, quality_checks=True)


def _passing_sample(rule: AttributeRule) -> Dataset:
    for name in SAMPLES:
        ds = _prepared(rule, sample(name))
        if _attribute(rule, ds).outcome is Outcome.PASS:
            return ds
    raise AssertionError(f"no corpus sample passes {rule.rule_id}")


@pytest.mark.parametrize("rule", ATTRIBUTE_RULES)
def test_attribute_rule_passes_on_real_file_and_fails_when_missing_or_empty(
    rule: AttributeRule,
) -> None:
    ds = _passing_sample(rule)
    assert _attribute(rule, ds).outcome is Outcome.PASS
    empty = Dataset()
    empty.update(ds)
    if rule.keyword in empty:
        empty[rule.keyword].value = ""  # an empty string counts as missing
        found = _attribute(rule, empty)
        assert found.outcome is _unmet(rule), found
        assert "missing" in found.problem
    _remove_everywhere(ds, rule.keyword)
    found = _attribute(rule, ds)
    assert found.outcome is _unmet(rule), found
    assert rule.keyword in found.problem


@pytest.mark.parametrize("rule", PRIVATE_RULES)
def test_private_block_rule_passes_with_the_block_and_fails_without_it(rule: PrivateRule) -> None:
    for name in SAMPLES:
        ds = _prepared(rule, sample(name))
        if evaluate_private(rule, ds, private_creators(ds)).outcome is Outcome.PASS:
            break
    else:
        raise AssertionError(f"no corpus sample passes {rule.rule_id}")
    creators = private_creators(ds) - {rule.creator}
    found = evaluate_private(rule, ds, creators)
    assert found.outcome is _unmet(rule)
    assert rule.creator in found.problem


def test_every_rule_says_which_downstream_feature_needs_it() -> None:
    for name in PROFILES:
        profile = load_profile(name)
        for rule in (*profile.rules, *profile.series_rules, *profile.private_rules):
            assert rule.text.need, rule.rule_id
            assert rule.text.fix, rule.rule_id
