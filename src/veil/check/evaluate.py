"""Running requirement profiles over files grouped by study and series.

Files are evaluated one at a time as they are read (rule outcomes per file, geometry facts per
frame), so no dataset is kept in memory; series results are aggregated at the end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from pathlib import PurePath
from typing import Any

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from veil.check.access import lookup, private_creators
from veil.check.age import read_age
from veil.check.geometry import CheckResult, SeriesFacts, add_dataset, run_check
from veil.check.model import (
    AgeRule,
    AttributeRule,
    Outcome,
    PrivateRule,
    RequirementProfile,
    SeriesCheck,
    SeriesRule,
    Severity,
)
from veil.check.provenance import deidentified_before
from veil.check.reads import EVERYWHERE, EVERYWHERE_OR_ZERO, GEOMETRY, rule_reads
from veil.check.results import ProfileUse, RuleResult, SeriesResult, Use
from veil.check.series import FileOutcome, ProfileState, SeriesState, merge_regenerated

__all__ = [  # RuleResult, SeriesResult and Use are imported from here by callers
    "Collector",
    "Creators",
    "FileFacts",
    "FileOutcome",
    "ProfileUse",
    "RuleResult",
    "SeriesResult",
    "Use",
    "common_folder",
    "evaluate_attribute",
    "evaluate_private",
    "facts_after",
    "file_facts",
    "show_value",
    "with_geometry",
]
from veil.check.values import SEX_CODES, Validity, validate
from veil.dicom import keyword_vr, tag_of, values_of

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


@dataclass(frozen=True)
class FileFacts:
    """Everything the profiles need from one file, evaluated where the file is (a worker
    process) and aggregated per series elsewhere; picklable, with no dataset kept."""

    key: tuple[str, str]
    modality: str
    series_number: str
    facts: SeriesFacts
    outcomes: tuple[tuple[str, FileOutcome], ...]  # rule id (names its profile) -> outcome
    series_when: tuple[tuple[str, bool], ...]
    uses: tuple[tuple[str, bool], ...]  # profile name -> the profile uses this file
    before: str  # why the file looks de-identified already ("" when it does not)


def with_geometry(facts: FileFacts, geometry: SeriesFacts) -> FileFacts:
    """``facts`` with another geometry (a file of the same series at another position)."""
    return FileFacts(
        facts.key,
        facts.modality,
        facts.series_number,
        geometry,
        facts.outcomes,
        facts.series_when,
        facts.uses,
        facts.before,
    )


# Outcomes of attribute rules by (rule, quality checks, the raw bytes they read): the files
# of a series share most of those values, so the "before" facts of a batch are mostly looked
# up. Only for datasets of raw elements (as read), never across character sets.
_CHARSET = tag_of("SpecificCharacterSet")
_OUTCOMES: dict[tuple[object, ...], FileOutcome] = {}  # (quality checks, rule id, raw key)


def _raw_key(ds: Dataset, tags: frozenset[int]) -> tuple[object, ...] | None:
    """The raw bytes of ``tags`` (and the character set) in ``ds``; None when one is not raw."""
    key: list[object] = []
    for tag in sorted(tags | {_CHARSET}):
        if tag not in ds:
            key.append(None)
            continue
        raw: object = ds.get_item(tag)  # a RawDataElement until something reads it
        value = getattr(raw, "value", None)
        if not isinstance(raw, RawDataElement) or not isinstance(value, bytes):
            return None
        key.append((raw.VR, value))
    return tuple(key)


def _memo_key(rule: AttributeRule, ds: Dataset) -> tuple[object, ...] | None:
    """Where to memoise the rule's outcome on ``ds``; taken before anything reads ``ds``
    (reading converts raw elements in place)."""
    reads = rule_reads(rule)
    if reads is None or reads & EVERYWHERE_OR_ZERO or any(tag in ds for tag in EVERYWHERE):
        return None
    key = _raw_key(ds, reads)
    return None if key is None else (id(rule), key)


def _outcome(
    rule: AttributeRule, ds: Dataset, quality_checks: bool, key: tuple[object, ...] | None
) -> FileOutcome:
    if key is None:
        return evaluate_attribute(rule, ds, quality_checks)
    memo = (quality_checks, *key)
    found = _OUTCOMES.get(memo)
    if found is None:
        if len(_OUTCOMES) > 20000:
            _OUTCOMES.clear()
        found = _OUTCOMES[memo] = evaluate_attribute(rule, ds, quality_checks)
    return found


# The private creators of a file (at any level), found only when something asks for them.
Creators = Callable[[], set[str]]


def _creators(ds: Dataset, given: Creators | None) -> Creators:
    return given if given is not None else cache(partial(private_creators, ds))


def file_facts(
    profiles: Sequence[RequirementProfile],
    quality_checks: bool,
    ds: Dataset,
    creators: Creators | None = None,
) -> FileFacts:
    """Evaluate every rule of ``profiles`` on one dataset (a profile's rules only when the
    profile uses the file). ``creators`` gives the dataset's private creators when the
    dataset does not carry its sequences (`veil.check.rawfacts`)."""
    keys = {id(rule): _memo_key(rule, ds) for profile in profiles for rule in profile.rules}
    facts = SeriesFacts()
    add_dataset(facts, ds)
    creators = _creators(ds, creators)
    outcomes: list[tuple[str, FileOutcome]] = []
    when: list[tuple[str, bool]] = []
    uses: list[tuple[str, bool]] = []
    for profile in profiles:
        used = profile.uses.when is None or profile.uses.when.holds(ds)
        uses.append((profile.name, used))
        if not used:
            continue
        for rule in profile.rules:
            outcomes.append((rule.rule_id, _outcome(rule, ds, quality_checks, keys[id(rule)])))
        for private in profile.private_rules:
            outcomes.append((private.rule_id, evaluate_private(private, ds, creators())))
        if profile.age is not None:
            outcomes.append((profile.age.rule_id, evaluate_age(profile.age, ds)))
        for series_rule in profile.series_rules:
            when.append(
                (series_rule.rule_id, series_rule.when is None or series_rule.when.holds(ds))
            )
    return FileFacts(
        series_key(ds),
        str(ds.get("Modality", "") or ""),
        str(ds.get("SeriesNumber", "") or ""),
        facts,
        tuple(outcomes),
        tuple(when),
        tuple(uses),
        deidentified_before(ds, creators),
    )


def facts_after(
    profiles: Sequence[RequirementProfile],
    quality_checks: bool,
    before: FileFacts,
    after: Dataset,
    changed: frozenset[int],
    creators: Creators | None = None,
) -> FileFacts:
    """``file_facts(after)`` when ``after`` differs from the dataset ``before`` was made of
    only in the top-level elements ``changed``: what reads none of them is taken from
    ``before`` (de-identification changes no geometry and few of the attributes a
    destination needs), the rest evaluated on ``after``. Whether a profile uses the file,
    its age and its de-identification markers are always evaluated on ``after``."""
    if changed & EVERYWHERE:
        return file_facts(profiles, quality_checks, after)
    keys = {id(rule): _memo_key(rule, after) for profile in profiles for rule in profile.rules}
    facts = before.facts
    if changed & GEOMETRY:
        facts = SeriesFacts()
        add_dataset(facts, after)
    known = dict(before.outcomes)
    when_known = dict(before.series_when)
    creators = _creators(after, creators)
    outcomes: list[tuple[str, FileOutcome]] = []
    when: list[tuple[str, bool]] = []
    uses: list[tuple[str, bool]] = []
    for profile in profiles:
        used = profile.uses.when is None or profile.uses.when.holds(after)
        uses.append((profile.name, used))
        if not used:
            continue
        for rule in profile.rules:
            reads = rule_reads(rule)
            if reads is not None and not reads & changed and rule.rule_id in known:
                outcomes.append((rule.rule_id, known[rule.rule_id]))
            else:
                outcome = _outcome(rule, after, quality_checks, keys[id(rule)])
                outcomes.append((rule.rule_id, outcome))
        for private in profile.private_rules:
            outcomes.append((private.rule_id, evaluate_private(private, after, creators())))
        if profile.age is not None:
            outcomes.append((profile.age.rule_id, evaluate_age(profile.age, after)))
        for series_rule in profile.series_rules:
            reads = rule_reads(series_rule)
            if reads is not None and not reads & changed and series_rule.rule_id in when_known:
                when.append((series_rule.rule_id, when_known[series_rule.rule_id]))
            else:
                holds = series_rule.when is None or series_rule.when.holds(after)
                when.append((series_rule.rule_id, holds))
    return FileFacts(
        series_key(after),
        str(after.get("Modality", "") or ""),
        str(after.get("SeriesNumber", "") or ""),
        facts,
        tuple(outcomes),
        tuple(when),
        tuple(uses),
        deidentified_before(after, creators),
    )


def _rule_ids(profile: RequirementProfile) -> list[str]:
    rule_ids = [rule.rule_id for rule in profile.rules]
    rule_ids.extend(private.rule_id for private in profile.private_rules)
    if profile.age is not None:
        rule_ids.append(profile.age.rule_id)
    return rule_ids


# Series checks already run, by (check, params, the identity of each slice and acquisition,
# the non-images): a check reads nothing else, and those objects are frozen or never changed.
# Shared by two collectors of the same files' facts (`veil deid --for`'s before and after:
# de-identification changes no geometry, so "after" carries "before"'s slices, the same
# objects), a series' checks run once for both: -0.01 s of 0.05 s in the parent's tail on
# 4,120 files (issue 12). Each entry keeps the facts it was run on, so no identity is reused
# while the memo lives.
ChecksMemo = dict[tuple[object, ...], tuple[CheckResult, SeriesFacts]]

# (uses, outcomes, series conditions) of the last file `Collector.add_facts` saw, and their
# tables (read only).
_Tables = tuple[
    tuple[tuple[str, bool], ...],
    tuple[tuple[str, FileOutcome], ...],
    tuple[tuple[str, bool], ...],
    tuple[dict[str, bool], dict[str, FileOutcome], dict[str, bool]],
]


class Collector:
    """Evaluates profiles file by file and aggregates the results per series and study."""

    def __init__(
        self,
        profiles: Sequence[RequirementProfile],
        quality_checks: bool = True,
        checks: ChecksMemo | None = None,
    ) -> None:
        self.profiles = list(profiles)
        self.checks = checks
        self.quality_checks = quality_checks
        self.series: dict[tuple[str, str], SeriesState] = {}
        # Each profile's rule ids (a file it uses has an outcome for each).
        self.rule_ids = [_rule_ids(profile) for profile in self.profiles]
        self._last: _Tables | None = None

    def add(self, ds: Dataset, name: str) -> tuple[str, str]:
        """Evaluate one dataset (read from `name`); returns its (study, series) key."""
        return self.add_facts(file_facts(self.profiles, self.quality_checks, ds), name)

    def add_facts(
        self, facts: FileFacts, name: str, geometry: SeriesFacts | None = None
    ) -> tuple[str, str]:
        """Aggregate one file's facts (from ``file_facts``); returns its (study, series) key.
        ``geometry`` stands for ``facts.facts`` (`veil.check.regression.PairFacts.geometry`:
        the file's own, where ``facts`` are its series' shared facts)."""
        return self.add_run(facts, [name], facts.facts if geometry is None else geometry)

    def add_run(self, facts: FileFacts, names: list[str], geometry: SeriesFacts) -> tuple[str, str]:
        """``add_facts`` of consecutive files sharing ``facts`` but their geometry, whose
        slices and acquisitions, file after file, are ``geometry``'s: one step per run of a
        series' files, not one per file (`veil.batch.for_check`)."""
        key = facts.key
        state = self.series.get(key)
        if state is None:
            state = self.series[key] = SeriesState(key)
            state.modality = facts.modality
            state.series_number = facts.series_number
        state.names.extend(names)
        state.frames += len(geometry.slices)
        if state.first_slice is None and geometry.slices:
            state.first_slice = geometry.slices[0]
        uses, outcomes, series_when = self._tables(facts)
        for profile, rule_ids in zip(self.profiles, self.rule_ids, strict=True):
            used = state.profile(profile.name)
            if not uses.get(profile.name, True):
                used.other_files += len(names)
                continue
            used.add_files(names, outcomes, rule_ids)
            used.facts.extend(geometry)
            used.before = used.before or facts.before
            if len(used.series_when) < len(profile.series_rules):
                for series_rule in profile.series_rules:
                    # Decided by the first file: a series is one acquisition.
                    rule_id = series_rule.rule_id
                    used.series_when.setdefault(rule_id, series_when[rule_id])
        return key

    def _tables(
        self, facts: FileFacts
    ) -> tuple[dict[str, bool], dict[str, FileOutcome], dict[str, bool]]:
        """``facts``' uses, outcomes and series conditions as tables; the files of a series
        share those tuples (the workers' facts memo; pickling keeps the sharing within a
        chunk: 196 distinct of 4,120 files), so the last file's tables serve again
        (-5 us per file in `veil deid --for`'s parent). Held by reference: no identity reused."""
        last = self._last
        if (
            last is not None
            and last[0] is facts.uses
            and last[1] is facts.outcomes
            and last[2] is facts.series_when
        ):
            return last[3]
        tables = (dict(facts.uses), dict(facts.outcomes), dict(facts.series_when))
        self._last = (facts.uses, facts.outcomes, facts.series_when, tables)
        return tables

    # -- results -----------------------------------------------------------------------
    def _run_check(
        self, check: SeriesCheck, facts: SeriesFacts, params: dict[str, float]
    ) -> CheckResult:
        if self.checks is None:
            return run_check(check, facts, params)
        key = (
            check,
            tuple(sorted(params.items())),
            tuple(map(id, facts.slices)),
            tuple(map(id, facts.acquisitions)),
            facts.non_images,
        )
        found = self.checks.get(key)
        if found is None:
            found = self.checks[key] = (run_check(check, facts, params), facts)
        return found[0]

    def _aggregate(
        self,
        profile: RequirementProfile,
        rule: AttributeRule | PrivateRule | AgeRule,
        state: ProfileState,
    ) -> RuleResult:
        worst, count, shown = _fold(state.counted(rule.rule_id))
        if isinstance(rule, AttributeRule):
            kind, target = "attribute", rule.keyword
        elif isinstance(rule, PrivateRule):
            kind, target = "private", rule.creator
        else:
            kind, target = "age", "PatientAge"
        observed = worst.observed
        if worst.outcome in (Outcome.PASS, Outcome.SKIP):
            observed = observed if shown == 1 else f"{shown} different values"
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
            + (f" ({count} of {len(state.files)} files)" if unmet and len(state.files) > 1 else ""),
            why=rule.text.why,
            fix=fix,
            files=count,
            names=tuple(n for n, o in state.named(rule.rule_id) if o.outcome is worst.outcome)
            if unmet
            else (),
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
        checked = self._run_check(rule.check, state.facts, rule.params)
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
            checked = self._run_check(check, state.facts, rule.params if rule is not None else {})
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


def _fold(counted: list[tuple[FileOutcome, int]]) -> tuple[FileOutcome, int, int]:
    """The worst of the outcomes (the first of the worst rank), how many files have its
    outcome, and how many values those files show; ``counted``: (outcome, files in a row)
    in file order. Each outcome object is weighed once with its count: the files of a
    series share their outcome objects (the workers' memo), so 3,000 outcomes are a few
    distinct ones (the parent's rule aggregation 0.10 -> 0.03 s on 4,120 files, issue 12)."""
    counts: dict[int, int] = {}
    first: dict[int, FileOutcome] = {}  # first occurrences, in order
    for outcome, count in counted:
        key = id(outcome)
        counts[key] = counts.get(key, 0) + count
        first.setdefault(key, outcome)
    distinct = list(first.values())
    worst = max(distinct, key=lambda o: o.outcome.rank)
    same = [o for o in distinct if o.outcome is worst.outcome]
    return worst, sum(counts[id(o)] for o in same), len({o.observed for o in same})


def _parents(names: Sequence[str]) -> list[str]:
    """``PurePath(name).parent.as_posix()`` of each name, worked out once per folder: a name
    whose last part is a plain name has the parent of any name of the same folder text
    (a series' files are in one folder; 8 us per name in pathlib)."""
    known: dict[str, str] = {}
    parents: list[str] = []
    for name in names:
        tail = name.rpartition("/")[2]
        if tail in ("", ".", ".."):
            parents.append(PurePath(name).parent.as_posix())
            continue
        folder = name[: len(name) - len(tail)]
        parent = known.get(folder)
        if parent is None:
            parent = known[folder] = PurePath(name).parent.as_posix()
        parents.append(parent)
    return parents


def common_folder(names: Sequence[str]) -> str:
    parents = _parents(names)
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
