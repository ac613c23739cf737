"""Will the destination be able to process this study? Judged on the study as received.

A destination profile (`deidentify.profiles`, e.g. `neuroquant`) says what a destination needs.
A study that does not have it (a 2D EPI sent to a 3D-T1 volumetry service) would be sent,
charged for and rejected there; the node holds it instead, in the `not-eligible` state, with
the reason (`deidentify.send_ineligible: true` sends it all the same).

The rule, per profile, is `veil check`'s verdict per study (`veil.check.study`): a profile
says which series the destination uses (neuroquant: a 3D T1-weighted MR volume) and whether one
passing series is enough (`study: any`, a volumetry service ignores the localizer and the other
series) or each series it uses must pass (`study: every`, a converter). A study that fails that
verdict is not eligible, and the reason names the profile and the rules that decided (the rules
its used series fail, or, when it uses none, the rules that exclude each series; rule ids,
never a value). A study is judged before
anything of it is sent: instances that arrive after part of it went out (a sender that stalled
longer than `stable_seconds`) complete what the destination has and are not judged alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread

from veil.check.evaluate import Collector, ProfileUse, SeriesResult, Use
from veil.check.model import Outcome, RequirementProfile
from veil.check.study import profile_verdict
from veil.node.controls import FindingSource, StudyFinding

DEFER_BYTES = 64 * 1024  # values larger than this are read only if a check asks for them


@dataclass(frozen=True)
class Eligibility:
    eligible: bool
    reason: str = ""  # why not (profile and rule ids; never a value)
    findings: tuple[StudyFinding, ...] = ()  # one per failing rule, for the console


def _deciding_rules(profile: RequirementProfile, series: Sequence[SeriesResult]) -> set[str]:
    """The rule ids behind a failing verdict: what the series the destination uses fail, or,
    when it uses none, what excludes each series (not 3D, not T1-weighted)."""
    used = [s for s in series if s.used_by(profile.name)]
    if used:
        return {
            r.rule_id for s in used for r in s.results_of(profile.name) if r.outcome is Outcome.FAIL
        }
    return {rule for s in series for rule in (s.use_by(profile.name) or _NONE).rules}


_NONE = ProfileUse("", Use.NOT_USED)


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
        verdict = profile_verdict(profile, series)
        if verdict.outcome is not Outcome.FAIL:
            continue  # the destination has what it needs
        rules = sorted(_deciding_rules(profile, series))
        failing_rules.update(rules)
        shown = ", ".join(rules[:5]) + (f" and {len(rules) - 5} more" if len(rules) > 5 else "")
        reasons.append(
            f"no series meets the destination profile {profile.name} ({verdict.reason}; "
            f"{len(series)} series" + (f"; failing: {shown})" if rules else ")")
        )
    if not reasons:
        return Eligibility(True)
    findings = tuple(StudyFinding(FindingSource.CHECK, rule=rule) for rule in sorted(failing_rules))
    return Eligibility(False, "not eligible: " + "; ".join(reasons), findings)
