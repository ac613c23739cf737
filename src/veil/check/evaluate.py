"""Running requirement profiles over files grouped by study and series.

Files are evaluated one at a time as they are read (rule outcomes per file, geometry facts per
frame), so no dataset is kept in memory; series results are aggregated at the end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from pydicom.dataset import Dataset

from veil.check.access import lookup, private_creators
from veil.check.age import read_age
from veil.check.geometry import SeriesFacts, add_dataset, run_check
from veil.check.model import (
    AgeRule,
    AttributeRule,
    Outcome,
    PrivateRule,
    RequirementProfile,
    SeriesRule,
    Severity,
)
from veil.check.provenance import deidentified_before
from veil.check.results import ProfileUse, RuleResult, SeriesResult, Use
from veil.check.series import FileOutcome, ProfileState, SeriesState, merge_regenerated

__all__ = [  # RuleResult, SeriesResult and Use are imported from here by callers
    "Collector",
    "FileOutcome",
    "ProfileUse",
    "RuleResult",
    "SeriesResult",
    "Use",
    "common_folder",
    "evaluate_attribute",
    "evaluate_private",
    "show_value",
]
from veil.check.values import SEX_CODES, Validity, validate
from veil.dicom import keyword_vr, values_of

# Values never shown in a report: they may identify the patient, the site or the study.
MASKED_VRS = frozenset({"PN", "DA", "DT", "TM", "UI"})
MASKED_KEYWORDS = frozenset(
    {
        "PatientID",
        "OtherPatientIDs",
        "AccessionNumber",
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "StationName",
        "DeviceSerialNumber",
        "ProtocolName",
        "SeriesDescription",
        "StudyDescription",
        "StudyID",
        "ImageComments",
        "RequestedProcedureDescription",
        "PerformedProcedureStepDescription",
        "PatientAddress",
        "PatientComments",
        "AdditionalPatientHistory",
        "RequestAttributesSequence",
    }
)


def show_value(keyword: str, value: Any) -> str:
    """How a report shows a value it saw: as is when harmless, else only its kind."""
    items = values_of(value)
    if not items or all(str(item).strip() == "" for item in items):
        return "(missing)"
    vr = keyword_vr(keyword)
    if vr == "SQ":
        return f"<sequence of {len(items)} item(s)>"
    if vr in MASKED_VRS or keyword in MASKED_KEYWORDS:
        return "(present, masked)"
    if keyword == "PatientAge":
        text = str(items[0]).strip()
        # Ages of 90 years and over identify (HIPAA safe harbour): shown only as a band.
        if text.endswith("Y") and text[:-1].isdigit() and int(text[:-1]) >= 90:
            return "090Y or older"
        return text
    if keyword == "PatientSex":
        text = str(items[0]).strip().upper()
        return text if text in SEX_CODES else "(present, masked)"
    if isinstance(items[0], bytes | bytearray):
        return f"<{len(items[0])} bytes>"
    text = "\\".join(str(item).strip() for item in items)
    return text if len(text) <= 64 else text[:61] + "..."


def _unmet(severity: Severity) -> Outcome:
    return Outcome.FAIL if severity is Severity.FAIL else Outcome.WARN


def evaluate_attribute(rule: AttributeRule, ds: Dataset, quality_checks: bool) -> FileOutcome:
    """One attribute rule on one dataset."""
    if rule.quality_check and not quality_checks:
        return FileOutcome(Outcome.SKIP, problem="data quality checks disabled")
    if rule.when is not None and not rule.when.holds(ds):
        return FileOutcome(Outcome.SKIP, problem=f"applies only when {rule.when.text}")
    if rule.unless is not None and rule.unless.holds(ds):
        return FileOutcome(Outcome.SKIP, problem=f"not needed: {rule.unless.text}")
    value = lookup(ds, rule.keyword)
    observed = show_value(rule.keyword, value)
    validity, problem = validate(rule.keyword, value)
    if validity is Validity.VALID and rule.allowed:
        allowed = {a.upper() for a in rule.allowed}
        if not all(str(item).strip().upper() in allowed for item in values_of(value)):
            validity, problem = Validity.INVALID, f"not one of: {', '.join(rule.allowed)}"
    if validity is Validity.VALID:
        return FileOutcome(Outcome.PASS, observed)
    return FileOutcome(
        _unmet(rule.severity),
        observed,
        f"{rule.keyword} {problem}",
        missing=validity is Validity.MISSING,
    )


def evaluate_age(rule: AgeRule, ds: Dataset) -> FileOutcome:
    """Which rule gives the patient's age, and whether the age is one the norms cover."""
    reading = read_age(ds)
    years = reading.years
    if years is None:
        return FileOutcome(Outcome.SKIP, reading.describe(), "no age to check")
    if rule.min_years <= years <= rule.max_years:
        return FileOutcome(Outcome.PASS, reading.describe())
    return FileOutcome(
        _unmet(rule.severity),
        reading.describe(),
        f"an implausible age for this destination (its norms cover {rule.min_years:g} to "
        f"{rule.max_years:g} years): a placeholder age or a wrong birth date?",
    )


def evaluate_private(rule: PrivateRule, ds: Dataset, creators: set[str]) -> FileOutcome:
    """One private-block rule on one dataset (creators found anywhere in it)."""
    if rule.when is not None and not rule.when.holds(ds):
        return FileOutcome(Outcome.SKIP, problem=f"applies only when {rule.when.text}")
    if rule.creator in creators:
        return FileOutcome(Outcome.PASS, f'private block "{rule.creator}" present')
    return FileOutcome(
        _unmet(rule.severity),
        "(missing)",
        f'private block "{rule.creator}" missing',
        missing=True,
    )


def short_hash(text: str) -> str:
    """A short digest to tell series apart in a report without showing their UIDs."""
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def series_key(ds: Dataset) -> tuple[str, str]:
    return (
        str(ds.get("StudyInstanceUID", "") or ""),
        str(ds.get("SeriesInstanceUID", "") or ""),
    )


def removed_before_fix(profile: str, what: str, reason: str) -> str:
    """The fix for something missing from data that was de-identified before."""
    return (
        f"The input was de-identified before ({reason}): {what} was probably removed by that "
        f"de-identification, not missing at the scanner. De-identify the original data with "
        f"`veil deid --for {profile}`, which keeps it, or add the value with a `set` override "
        "in your policy."
    )


class Collector:
    """Evaluates profiles file by file and aggregates the results per series and study."""

    def __init__(self, profiles: Sequence[RequirementProfile], quality_checks: bool = True) -> None:
        self.profiles = list(profiles)
        self.quality_checks = quality_checks
        self.series: dict[tuple[str, str], SeriesState] = {}

    def add(self, ds: Dataset, name: str) -> tuple[str, str]:
        """Evaluate one dataset (read from `name`); returns its (study, series) key."""
        key = series_key(ds)
        state = self.series.get(key)
        if state is None:
            state = self.series[key] = SeriesState(key)
            state.modality = str(ds.get("Modality", "") or "")
            state.series_number = str(ds.get("SeriesNumber", "") or "")
        state.names.append(name)
        found = SeriesFacts()
        add_dataset(found, ds)
        state.frames += len(found.slices)
        if state.first_slice is None and found.slices:
            state.first_slice = found.slices[0]
        creators = private_creators(ds)
        before = deidentified_before(ds, creators)
        for profile in self.profiles:
            used = state.profile(profile.name)
            if profile.uses.when is not None and not profile.uses.when.holds(ds):
                used.other_files += 1
                continue
            used.files.append(name)
            used.facts.extend(found)
            used.before = used.before or before
            for rule in profile.rules:
                used.add(rule.rule_id, name, evaluate_attribute(rule, ds, self.quality_checks))
            for private in profile.private_rules:
                used.add(private.rule_id, name, evaluate_private(private, ds, creators))
            if profile.age is not None:
                used.add(profile.age.rule_id, name, evaluate_age(profile.age, ds))
            for series_rule in profile.series_rules:
                if series_rule.rule_id not in used.series_when:
                    # Decided by the first file: a series is one acquisition.
                    used.series_when[series_rule.rule_id] = (
                        series_rule.when is None or series_rule.when.holds(ds)
                    )
        return key

    # -- results -----------------------------------------------------------------------
    def _aggregate(
        self,
        profile: RequirementProfile,
        rule: AttributeRule | PrivateRule | AgeRule,
        state: ProfileState,
    ) -> RuleResult:
        named = state.outcomes[rule.rule_id]
        outcomes = [outcome for _, outcome in named]
        worst = max(outcomes, key=lambda o: o.outcome.rank)
        count = sum(1 for o in outcomes if o.outcome is worst.outcome)
        if isinstance(rule, AttributeRule):
            kind, target = "attribute", rule.keyword
        elif isinstance(rule, PrivateRule):
            kind, target = "private", rule.creator
        else:
            kind, target = "age", "PatientAge"
        observed = worst.observed
        if worst.outcome in (Outcome.PASS, Outcome.SKIP):
            shown = {o.observed for o in outcomes if o.outcome is worst.outcome}
            observed = observed if len(shown) == 1 else f"{len(shown)} different values"
        unmet = worst.outcome in (Outcome.WARN, Outcome.FAIL)
        fix = rule.text.fix
        if unmet and worst.missing and state.before:
            what = f'the private block "{target}"' if kind == "private" else target
            fix = removed_before_fix(profile.name, what, state.before)
        return RuleResult(
            rule_id=rule.rule_id,
            kind=kind,
            target=target,
            outcome=worst.outcome,
            severity=rule.severity,
            need=rule.text.need,
            observed=observed,
            problem=worst.problem
            + (f" ({count} of {len(outcomes)} files)" if unmet and len(outcomes) > 1 else ""),
            why=rule.text.why,
            fix=fix,
            files=count,
            names=tuple(n for n, o in named if o.outcome is worst.outcome) if unmet else (),
        )

    def _series_result(
        self, profile: RequirementProfile, rule: SeriesRule, state: ProfileState
    ) -> RuleResult:
        def result(outcome: Outcome, observed: str, problem: str, fix: str) -> RuleResult:
            return RuleResult(
                rule.rule_id,
                "series",
                rule.check.value,
                outcome,
                rule.severity,
                rule.text.need,
                observed,
                problem,
                rule.text.why,
                fix,
                len(state.files),
            )

        if rule.quality_check and not self.quality_checks:
            return result(Outcome.SKIP, "", "data quality checks disabled", rule.text.fix)
        if not state.series_when.get(rule.rule_id, True):
            text = rule.when.text if rule.when else ""
            return result(Outcome.SKIP, "", f"applies only when {text}", rule.text.fix)
        checked = run_check(rule.check, state.facts, rule.params)
        if checked.ok:
            return result(Outcome.PASS, checked.observed, "", rule.text.fix)
        fix = rule.text.fix
        if checked.ok is None and state.before:
            # "cannot tell": what the check reads is missing, likely removed by the anonymizer.
            fix = removed_before_fix(profile.name, checked.observed, state.before)
        return result(_unmet(rule.severity), checked.observed, checked.problem, fix)

    def _use(self, profile: RequirementProfile, state: ProfileState, images: bool) -> ProfileUse:
        """Does the destination use this series? Not used is skipped, never failed."""
        uses = profile.uses
        if not state.files:
            if not images:
                reason = "not an image (no pixel data: raw data, a report or a document)"
            else:
                condition = uses.when.text.strip("()") if uses.when is not None else ""
                reason = f"no file of it meets: {condition}"
            return ProfileUse(profile.name, Use.NOT_USED, reason, 0, state.other_files)
        excluded: list[tuple[str, str]] = []  # (rule id, why) of each check that excludes it
        for check in uses.series:
            rule = next((r for r in profile.series_rules if r.check is check), None)
            checked = run_check(check, state.facts, rule.params if rule is not None else {})
            if checked.ok is False:  # None (cannot tell) keeps it: its rules say what is missing
                why = f"{checked.problem} ({checked.observed})"
                excluded.append((rule.rule_id if rule is not None else check.value, why))
        if excluded:
            return ProfileUse(
                profile.name,
                Use.NOT_USED,
                excluded[0][1],
                len(state.files),
                state.other_files,
                tuple(rule_id for rule_id, _ in excluded),
            )
        left_out = (
            f"{state.other_files} other file(s) of the series not used" if state.other_files else ""
        )
        return ProfileUse(profile.name, Use.USED, left_out, len(state.files), state.other_files)

    def _results_of(self, profile: RequirementProfile, state: ProfileState) -> list[RuleResult]:
        found: list[RuleResult] = []
        for rule in profile.rules:
            found.append(self._aggregate(profile, rule, state))
        if profile.age is not None:
            found.append(self._aggregate(profile, profile.age, state))
        for series_rule in profile.series_rules:
            found.append(self._series_result(profile, series_rule, state))
        for private in profile.private_rules:
            found.append(self._aggregate(profile, private, state))
        return found

    def used_files(self) -> set[str]:
        """The names of the files some destination uses (in a series it uses)."""
        found: set[str] = set()
        for state in merge_regenerated(list(self.series.values())):
            for profile in self.profiles:
                used = state.profile(profile.name)
                if self._use(profile, used, state.frames > 0).use is Use.USED:
                    found.update(used.files)
        return found

    def results(self) -> list[SeriesResult]:
        """Per-series results, ordered by where the files were, then series number; series
        whose UIDs were regenerated per file are checked as one series."""
        studies: dict[str, str] = {}
        ordered = sorted(
            merge_regenerated(list(self.series.values())),
            key=lambda s: (min(s.names), s.series_number.zfill(8)),
        )
        found: list[SeriesResult] = []
        for state in ordered:
            study_label = studies.setdefault(state.key[0], f"study {len(studies) + 1}")
            rule_results: list[RuleResult] = []
            uses: list[ProfileUse] = []
            for profile in self.profiles:
                used = state.profile(profile.name)
                use = self._use(profile, used, state.frames > 0)
                uses.append(use)
                if use.use is Use.USED:
                    rule_results.extend(self._results_of(profile, used))
            label = (
                f"#{state.series_number or '?'} {state.modality or '?'} "
                f"[{short_hash(state.key[1])}]"
            )
            if len(state.members) > 1:
                label += f" ({len(state.members)} series UIDs, probably regenerated per file)"
            found.append(
                SeriesResult(
                    key=state.key,
                    label=label,
                    study_label=study_label,
                    where=common_folder(state.names),
                    modality=state.modality,
                    series_number=state.series_number,
                    files=len(state.names),
                    frames=state.frames,
                    results=tuple(rule_results),
                    uses=tuple(uses),
                    members=tuple(state.members),
                )
            )
        return found


def common_folder(names: Sequence[str]) -> str:
    parents = [PurePath(name).parent.as_posix() for name in names]
    if len(set(parents)) == 1:
        return parents[0]
    first = PurePath(parents[0]).parts
    common: list[str] = []
    for index, part in enumerate(first):
        if all(
            len(PurePath(p).parts) > index and PurePath(p).parts[index] == part for p in parents
        ):
            common.append(part)
        else:
            break
    return PurePath(*common).as_posix() if common else "."
