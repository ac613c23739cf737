"""Loading requirement profiles: built in by name, user files by path, errors with the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from veil.check import builtin_names, load_profile, parse_profile
from veil.check.model import Preserve, SeriesCheck, Severity
from veil.errors import ProfileError


def test_three_builtin_profiles_load() -> None:
    assert set(builtin_names()) >= {"neuroquant", "dcm2niix", "basic-viewing"}
    for name in builtin_names():
        profile = load_profile(name)
        assert profile.name == name
        assert profile.rules or profile.series_rules or profile.private_rules


def test_neuroquant_has_exactly_the_published_attribute_rules() -> None:
    profile = load_profile("neuroquant")
    rules = {rule.keyword: rule for rule in profile.rules}
    assert set(rules) == {
        "Manufacturer",
        "ManufacturerModelName",
        "PatientSex",
        "PatientBirthDate",
        "PatientAge",
    }
    assert rules["Manufacturer"].quality_check and rules["ManufacturerModelName"].quality_check
    assert not rules["PatientSex"].quality_check
    assert rules["PatientAge"].preserve is Preserve.DERIVE_AGE
    assert rules["PatientBirthDate"].preserve is Preserve.NO
    assert rules["PatientAge"].text.need == "age-normative report"
    checks = {rule.check for rule in profile.series_rules}
    assert checks == set(SeriesCheck)
    assert {r.severity for r in profile.series_rules} == {Severity.FAIL, Severity.WARN}


def test_user_profile_file_loads_by_path(tmp_path: Path) -> None:
    path = tmp_path / "pacs-ai.yaml"
    path.write_text(
        "name: pacs-ai\nrules:\n  - {id: sex, attribute: PatientSex, severity: fail,"
        " need: triage model input}\n",
        encoding="utf-8",
    )
    profile = load_profile(path)
    assert profile.name == "pacs-ai"
    assert profile.rules[0].rule_id == "pacs-ai/sex"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "name: x\nrules:\n  - {id: a, attribute: PatientSexx, severity: fail, need: n}\n",
            "line 3: 'PatientSexx' is not a DICOM keyword",
        ),
        (
            "name: x\nrules:\n  - {id: a, attribute: PatientSex, severity: fatal, need: n}\n",
            "severity 'fatal' is unknown; use one of: fail, warn",
        ),
        (
            "name: x\nrules:\n  - {id: a, attribute: PatientSex, severity: fail}\n",
            "line 3: a rule is missing 'need'",
        ),
        (
            "name: x\nrules:\n  - {id: a, attribute: PatientSex, severity: fail, need: n,"
            " colour: red}\n",
            "unknown key 'colour'",
        ),
        (
            "name: x\nseries:\n  - {id: a, check: four-d, severity: fail, need: n}\n",
            "check 'four-d' is unknown",
        ),
        (
            "name: x\nprivate:\n  - {id: a, creator: ACME, severity: warn, need: n,"
            " remove: [10]}\n",
            "write it as xx10",
        ),
        (
            "name: x\nrules:\n  - {id: a, attribute: PatientSex, severity: fail, need: n,"
            " when: {colour: red}}\n",
            "unknown condition 'colour'",
        ),
        (
            "name: x\nrules:\n  - {id: a, attribute: PatientSex, severity: fail, need: n}\n"
            "  - {id: a, attribute: PatientAge, severity: fail, need: n}\n",
            "line 4: id 'a' is used twice",
        ),
        ("name: X Y\nrules: []\n", "name 'X Y' must be lower-case"),
        ("rules: [\n", "not valid YAML"),
    ],
)
def test_invalid_profile_names_line_and_problem(text: str, problem: str) -> None:
    with pytest.raises(ProfileError) as caught:
        parse_profile(text, "mine.yaml")
    assert str(caught.value).startswith("mine.yaml: ")
    assert problem in str(caught.value)


def test_unknown_profile_name_lists_the_builtin_ones() -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile("neuroquantt")
    assert "neuroquant" in str(caught.value) and "dcm2niix" in str(caught.value)
