"""Every conflict between a privacy rule and a destination requirement, named by both rules,
all at once (the studio shows them live), while the compile for real stops at the first."""

from __future__ import annotations

from pathlib import Path

import pytest

from veil.check.catalog import ProfileCatalog
from veil.errors import ProfileError, RequirementConflictError
from veil.policy import parse_policy
from veil.policy.plan import compile_plan, find_conflicts
from veil.policy_review import review_policy_text

TWO_CONFLICTS = """name: trial
options: [retain-patient-characteristics]
requirements: [neuroquant]
overrides:
  - {attribute: PatientSex, action: remove}
  - {attribute: Manufacturer, action: empty}
"""


def test_all_conflicts_are_found_each_naming_the_override_and_the_requirement() -> None:
    catalog = ProfileCatalog.build()
    policy = parse_policy(TWO_CONFLICTS, "draft")
    plan, conflicts = find_conflicts(policy, [catalog.get("neuroquant")])
    assert [c.attribute for c in conflicts] == ["PatientSex", "Manufacturer"]
    sex = conflicts[0]
    assert sex.privacy_rule == "override at draft line 5: PatientSex -> remove"
    assert sex.requirement == "neuroquant/patient-sex (profile neuroquant)"
    assert sex.line == 5 and "remove one of the two" in sex.message
    assert plan.policy_name == "trial"
    with pytest.raises(RequirementConflictError, match="line 5"):
        compile_plan(policy, [catalog.get("neuroquant")])


def test_the_review_gives_errors_conflicts_notes_and_will_it_process() -> None:
    catalog = ProfileCatalog.build()
    review = review_policy_text(TWO_CONFLICTS, "draft", catalog)
    assert not review.ok and len(review.conflicts) == 2 and not review.errors
    verdicts = {c.rule_id: c.verdict.value for c in review.coverage["neuroquant"]}
    assert verdicts["neuroquant/patient-sex"] == "removed"
    assert verdicts["neuroquant/patient-age"] == "kept"  # retain-patient-characteristics
    without = review_policy_text("name: p\nrequirements: [neuroquant]\n", "draft", catalog)
    age = {c.rule_id: c for c in without.coverage["neuroquant"]}["neuroquant/patient-age"]
    assert age.verdict.value == "transformed" and "derived" in age.how
    assert any("PatientAge kept" in note for note in without.notes)
    # A destination the policy does not name: what would break there.
    niix = {c.rule_id: c.verdict.value for c in review.coverage["dcm2niix"]}
    assert niix["dcm2niix/manufacturer"] == "removed"


def test_a_policy_from_the_console_names_profiles_never_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "elsewhere.yaml"
    secret.write_text(
        "name: elsewhere\nrules: [{id: x, attribute: Modality, severity: warn, need: n}]\n"
    )
    review = review_policy_text(
        f"name: p\nrequirements: [{secret}]\n", "draft", ProfileCatalog.build()
    )
    assert review.errors and "line 2" in review.errors[0] and "never files" in review.errors[0]
    with pytest.raises(ProfileError):
        ProfileCatalog.build().get(str(secret))


def test_a_site_profile_is_offered_by_its_name_and_may_not_shadow_a_built_in(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(
        "name: site-pacs\nrules:\n"
        "  - {id: sex, attribute: PatientSex, severity: warn, need: reports}\n"
    )
    catalog = ProfileCatalog.build([site])
    assert catalog.names()[-1] == "site-pacs" and catalog.is_site("site-pacs")
    review = review_policy_text("name: p\nrequirements: [site-pacs]\n", "draft", catalog)
    assert review.ok and review.requirements == ("site-pacs",)
    shadow = tmp_path / "shadow.yaml"
    shadow.write_text(site.read_text().replace("site-pacs", "neuroquant"))
    with pytest.raises(ProfileError, match="taken by"):
        ProfileCatalog.build([shadow])
