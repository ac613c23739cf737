"""Policies: every row of Table E.1-1 compiled, options by name, YAML errors with lines."""

from __future__ import annotations

import pytest

from veil.errors import PolicyError
from veil.policy import compile_plan, load_policy, parse_policy
from veil.standard import Option, profile_rows, safe_private_rows

SOP_INSTANCE_UID = 0x00080018
PATIENT_SEX = 0x00100040
STUDY_DATE = 0x00080020
DEVICE_SERIAL = 0x00181000
SERIES_DESCRIPTION = 0x0008103E


def test_table_e11_ships_with_every_row_and_the_safe_private_list() -> None:
    rows = profile_rows()
    assert len(rows) == 621
    assert len(safe_private_rows()) == 130
    assert sum(1 for row in rows if not row.pattern.exact) == 4  # 50xx, 60xx x2, odd groups


def test_every_row_becomes_a_rule_of_the_basic_plan() -> None:
    plan = compile_plan(load_policy("basic"))
    for row in profile_rows():
        if row.pattern.exact:
            assert plan.rule_for(row.pattern.tag) is not None, row.tag_text
    # the odd-group row decides private elements
    assert plan.private_default.action == "X"


@pytest.mark.parametrize(
    ("option", "tag", "basic", "with_option"),
    [
        (Option.RETAIN_UIDS, SOP_INSTANCE_UID, "U", "K"),
        (Option.RETAIN_PATIENT_CHARACTERISTICS, PATIENT_SEX, "Z", "K"),
        (Option.RETAIN_DEVICE_IDENTITY, DEVICE_SERIAL, "X/Z/D", "K"),
        (Option.RETAIN_LONG_MODIFIED_DATES, STUDY_DATE, "Z", "shift"),
        (Option.CLEAN_DESCRIPTORS, SERIES_DESCRIPTION, "X", "C"),
    ],
)
def test_each_option_changes_its_column(
    option: Option, tag: int, basic: str, with_option: str
) -> None:
    base = compile_plan(load_policy("basic")).rule_for(tag)
    text = f"name: t\nbase: basic\noptions: [{option.value}]\n"
    chosen = compile_plan(parse_policy(text, "t.yaml")).rule_for(tag)
    assert base is not None and chosen is not None
    assert base.action.value == basic
    assert chosen.action.value == with_option
    assert option.value in chosen.source


def test_retain_safe_private_keeps_listed_creators_only() -> None:
    plan = compile_plan(
        parse_policy("name: t\nbase: basic\noptions: [retain-safe-private]\n", "t.yaml")
    )
    safe = safe_private_rows()[0]
    assert plan.private_rule(safe.creator, safe.group, safe.element_low).action == "K"
    assert plan.private_rule("SOME VENDOR", 0x0029, 0x10).action == "X"


def test_builtin_policies_load_and_research_keeps_characteristics_and_modified_dates() -> None:
    plan = compile_plan(load_policy("research-longitudinal"))
    assert Option.RETAIN_PATIENT_CHARACTERISTICS in plan.options
    assert Option.RETAIN_LONG_MODIFIED_DATES in plan.options
    assert plan.shift_dates


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("name: t\nbase: basic\noptions: [retain-everything]\n", 3, "option"),
        (
            "name: t\nbase: basic\noverrides:\n  - {attribute: NoSuchKeyword, action: keep}\n",
            4,
            "keyword",
        ),
        (
            "name: t\nbase: basic\noverrides:\n  - {attribute: PatientAge, action: explode}\n",
            4,
            "action",
        ),
        ("name: t\nbase: basic\noptions: [clean-pixel-data]\n", 3, "pixel"),
        ("name: t\nbase: basic\n  bad: [indent\n", 3, ""),
    ],
)
def test_policy_errors_name_the_line_and_the_problem(text: str, line: int, words: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "my-policy.yaml")
    message = str(caught.value)
    assert "my-policy.yaml" in message
    assert f"line {line}" in message
    assert words.lower() in message.lower()


def test_overrides_by_keyword_tag_and_private_creator() -> None:
    text = """name: t
base: basic
overrides:
  - {attribute: PatientAge, action: keep}
  - {attribute: "(0008,103E)", action: replace, value: T1}
  - {attribute: {creator: SIEMENS CSA HEADER, element: "0x10"}, action: keep}
"""
    plan = compile_plan(parse_policy(text, "t.yaml"))
    age = plan.rule_for(0x00101010)
    description = plan.rule_for(SERIES_DESCRIPTION)
    assert age is not None and age.action == "K" and "line 4" in age.source
    assert description is not None and description.action == "replace"
    assert description.value == "T1"
    assert plan.private_rule("SIEMENS CSA HEADER", 0x0029, 0x10).action == "K"
    assert plan.private_rule("SIEMENS CSA HEADER", 0x0029, 0x20).action == "X"


def test_unknown_policy_name_is_a_clear_error() -> None:
    with pytest.raises(PolicyError, match="not a built-in policy"):
        load_policy("no-such-policy")


def test_requirements_declare_the_option_they_act_as() -> None:
    from veil.check.profile import load_profile

    plan = compile_plan(load_policy("basic"), [load_profile("neuroquant")])
    age = plan.rule_for(0x00101010)
    assert age is not None and age.declares is Option.RETAIN_PATIENT_CHARACTERISTICS
    assert Option.RETAIN_PATIENT_CHARACTERISTICS in plan.declared_options
    assert Option.RETAIN_PATIENT_CHARACTERISTICS not in plan.options  # other rows unchanged
    assert plan.rule_for(0x00101030).action == "X"  # PatientWeight still removed
    assert compile_plan(load_policy("basic")).declared_options == frozenset()
