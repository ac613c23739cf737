"""Will it process? What a destination requires, why, and whether a compiled plan keeps it.

Read from the plan alone (no file needed): for each rule of a requirement profile, the rule the
plan applies to what that rule reads. The console's Privacy studio shows it per destination
next to the policy being edited; a rule the plan removes is a destination that will fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pydicom.datadict import tag_for_keyword

from veil.check.model import (
    SERIES_KEYWORDS,
    AttributeRule,
    Preserve,
    PrivateRule,
    RequirementProfile,
    SeriesRule,
    Severity,
)
from veil.policy.plan import REMOVING, Plan, Rule


class Verdict(str, Enum):
    """What the plan does to what one requirement reads."""

    KEPT = "kept"  # as it is
    TRANSFORMED = "transformed"  # kept in a safe form: shifted, derived, cleaned, remapped
    REPLACED = "replaced"  # present, but with a value the policy chose (pseudonym, dummy)
    REMOVED = "removed"  # removed or emptied: the requirement fails after de-identification
    NOT_NEEDED = "not-needed"  # read on the input only, or a quality check switched off

    @property
    def ok(self) -> bool:
        return self is not Verdict.REMOVED


_TRANSFORMING = {"derive-age": "derived", "shift": "shifted", "C": "cleaned", "U": "new UID"}
_TRANSFORMING["uid"] = "new UID"
_REPLACING = {"pseudonym", "hash", "replace", "D"}


@dataclass(frozen=True)
class Coverage:
    """One requirement and the plan's answer to it."""

    rule_id: str
    kind: str  # attribute, series, private
    target: str  # the keyword(s), the series check, or the private creator
    severity: Severity
    need: str
    why: str
    verdict: Verdict
    how: str  # the plan's rule in words (its source), or why it is not needed


def _verdict(rule: Rule | None) -> Verdict:
    if rule is None or rule.action.value == "K":
        return Verdict.KEPT
    if rule.action.value in REMOVING:
        return Verdict.REMOVED
    if rule.action.value in _TRANSFORMING:
        return Verdict.TRANSFORMED
    if rule.action.value in _REPLACING:
        return Verdict.REPLACED
    return Verdict.TRANSFORMED


def _attribute(plan: Plan, keyword: str) -> tuple[Verdict, str]:
    tag = tag_for_keyword(keyword)
    rule = plan.rule_for(tag) if tag is not None else None
    how = rule.source if rule is not None else "not in Table E.1-1: kept"
    return _verdict(rule), how


def _attribute_rule(plan: Plan, rule: AttributeRule, quality_checks: bool) -> Coverage:
    if rule.quality_check and not quality_checks:
        verdict, how = Verdict.NOT_NEEDED, "a data quality check, switched off"
    elif rule.preserve is Preserve.NO:
        verdict, how = Verdict.NOT_NEEDED, "read on the input only (satisfied another way)"
    else:
        verdict, how = _attribute(plan, rule.keyword)
    return Coverage(
        rule.rule_id,
        "attribute",
        rule.keyword,
        rule.severity,
        rule.text.need,
        rule.text.why,
        verdict,
        how,
    )


def _series_rule(plan: Plan, rule: SeriesRule, quality_checks: bool) -> Coverage:
    keywords = SERIES_KEYWORDS[rule.check]
    verdict, how = Verdict.KEPT, "every attribute it reads is kept"
    if rule.quality_check and not quality_checks:
        verdict, how = Verdict.NOT_NEEDED, "a data quality check, switched off"
    else:
        for keyword in keywords:
            found, source = _attribute(plan, keyword)
            if found is Verdict.REMOVED:
                verdict, how = found, f"{keyword}: {source}"
                break
    return Coverage(
        rule.rule_id,
        "series",
        f"{rule.check.value} ({', '.join(keywords)})",
        rule.severity,
        rule.text.need,
        rule.text.why,
        verdict,
        how,
    )


def _private_rule(plan: Plan, rule: PrivateRule) -> Coverage:
    # The elements the destination reads; a whole-block rule is asked of a data element.
    elements = rule.elements or rule.clean or (0x10,)
    verdict, how = Verdict.KEPT, ""
    for element in elements:
        found = plan.private_rule(rule.creator, 0, element)
        how = found.source
        if found.action.value in REMOVING:
            verdict = Verdict.REMOVED
            break
        if found.action.value == "C":
            verdict = Verdict.TRANSFORMED
    return Coverage(
        rule.rule_id,
        "private",
        f'private "{rule.creator}"',
        rule.severity,
        rule.text.need,
        rule.text.why,
        verdict,
        how,
    )


def coverage(
    plan: Plan, profile: RequirementProfile, quality_checks: bool = True
) -> list[Coverage]:
    """Every rule of ``profile`` with what ``plan`` does to what it reads."""
    found = [_attribute_rule(plan, rule, quality_checks) for rule in profile.rules]
    found += [_series_rule(plan, rule, quality_checks) for rule in profile.series_rules]
    found += [_private_rule(plan, rule) for rule in profile.private_rules]
    return found


def will_process(found: list[Coverage]) -> bool:
    """No rule that fails the processing is removed by the plan."""
    return not any(c.verdict is Verdict.REMOVED and c.severity is Severity.FAIL for c in found)


__all__ = ["Coverage", "Verdict", "coverage", "will_process"]
