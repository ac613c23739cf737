"""The policy's clean-pixel-data option and its pixels: section."""

from __future__ import annotations

import pytest

from veil.errors import PolicyError
from veil.pixels import AtRisk, RedactMode
from veil.policy.loader import parse_policy
from veil.policy.plan import compile_plan
from veil.standard import Option


def test_clean_pixel_data_is_accepted_and_declared_per_file_not_by_the_plan() -> None:
    policy = parse_policy(
        "options: [clean-pixel-data]\npixels: {redact: sensitive, allow: ['Gn \\d+']}\n",
        "p.yaml",
    )
    assert policy.pixels.clean and policy.pixels.redact is RedactMode.SENSITIVE
    plan = compile_plan(policy)
    assert Option.CLEAN_PIXEL_DATA in plan.options
    assert Option.CLEAN_PIXEL_DATA not in plan.declared_options
    assert not any("clean-pixel-data" in line for line in plan.method_text)
    assert plan.pixels.allow == ("Gn \\d+",)


def test_without_the_option_files_at_risk_can_be_quarantined() -> None:
    policy = parse_policy("pixels: {burned-in-risk: quarantine}\n", "p.yaml")
    assert not policy.pixels.clean and policy.pixels.at_risk is AtRisk.QUARANTINE


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("options: [clean-pixel-data, retain-uids]\n", "new SOP Instance UID"),
        ("pixels: {redact: sensitive}\n", "need the option clean-pixel-data"),
        ("options: [clean-pixel-data]\npixels: {redact: some}\n", "redact must be one of"),
        ("options: [clean-pixel-data]\npixels: {allow: ['(']}\n", "regular expression"),
        ("options: [clean-pixel-data]\npixels: {colour: red}\n", "unknown key 'colour'"),
        ("options: [clean-pixel-data]\npixels: {rules: [nowhere.yaml]}\n", "cannot read"),
    ],
)
def test_pixel_settings_errors_name_the_line_and_the_fix(text: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=r"p\.yaml") as caught:
        parse_policy(text, "p.yaml")
    assert problem in str(caught.value)
