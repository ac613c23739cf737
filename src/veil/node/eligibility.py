"""Will the destination be able to process this study? Judged on the study as received.

A destination profile (`deidentify.profiles`, e.g. `neuroquant`) says what a destination needs.
A study that does not have it (a 2D EPI sent to a 3D-T1 volumetry service) would be sent,
charged for and rejected there; the node holds it instead, in the `not-eligible` state, with
the reason (`deidentify.send_ineligible: true` sends it all the same).

The rule, per profile: a study is eligible when at least one of its series meets the profile
(nothing at severity `fail` fails on it): a volumetry service needs one 3D T1 and ignores the
localizer and the other series. A study none of whose series meets a profile is not eligible,
and the reason names that profile and the rules its series fail (rule ids, never a value).
The verdict is the same as `veil check`'s on the received files. A study is judged before
anything of it is sent: instances that arrive after part of it went out (a sender that stalled
longer than `stable_seconds`) complete what the destination has and are not judged alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread

from veil.check.evaluate import Collector, SeriesResult
from veil.check.model import Outcome, RequirementProfile
from veil.node.controls import FindingSource, StudyFinding

DEFER_BYTES = 64 * 1024  # values larger than this are read only if a check asks for them


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reason: str = ""  # why not (profile and rule ids; never a value)
    findings: tuple[StudyFinding, ...] = ()  # one per failing rule, for the console


def _failing(series: SeriesResult, rule_ids: frozenset[str]) -> set[str]:
    return {
        r.rule_id for r in series.results if r.rule_id in rule_ids and r.outcome is Outcome.FAIL
    }


def _rule_ids(profile: RequirementProfile) -> frozenset[str]:
    return frozenset(
        [r.rule_id for r in profile.rules]
        + [r.rule_id for r in profile.series_rules]
        + [r.rule_id for r in profile.private_rules]
    )


def judge(files: Sequence[tuple[str, Path]], profiles: Sequence[RequirementProfile]) -> Eligibility:
    """Judge the study made of ``files`` ((name for messages, path)) against ``profiles``.

    Large values, pixel data among them, are deferred (present, never loaded: the checks ask
    whether an object is an image, not what it shows). A file that cannot be read is left to
    the de-identification, which reports it (and quarantines the study) as it always does.
    """
    if not profiles:
        return Eligibility(True)
    collector = Collector(profiles)
    for name, path in files:
        try:
            collector.add(dcmread(path, force=True, defer_size=DEFER_BYTES), name)
        except Exception:  # reported, with its reason, by the de-identification
            continue
    series = collector.results()
    if not series:
        return Eligibility(True)
    reasons: list[str] = []
    failing_rules: set[str] = set()
    for profile in profiles:
        rule_ids = _rule_ids(profile)
        failing = [_failing(s, rule_ids) for s in series]
        if any(not rules for rules in failing):
            continue  # one series meets it: the destination has what it needs
        rules = sorted(set().union(*failing))
        failing_rules.update(rules)
        shown = ", ".join(rules[:5]) + (f" and {len(rules) - 5} more" if len(rules) > 5 else "")
        reasons.append(
            f"no series meets the destination profile {profile.name} "
            f"({len(series)} series; failing: {shown})"
        )
    if not reasons:
        return Eligibility(True)
    findings = tuple(StudyFinding(FindingSource.CHECK, rule=rule) for rule in sorted(failing_rules))
    return Eligibility(False, "not eligible: " + "; ".join(reasons), findings)
