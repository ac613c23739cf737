"""Running requirement profiles over files grouped by study and series.

Files are evaluated one at a time as they are read (rule outcomes per file, geometry facts per
frame), so no dataset is kept in memory; series results are aggregated at the end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from pydicom.dataset import Dataset

from veil.check.access import lookup, private_creators
from veil.check.geometry import SeriesFacts, add_dataset, run_check
from veil.check.model import (
    AttributeRule,
    Outcome,
    PrivateRule,
    RequirementProfile,
    SeriesRule,
    Severity,
)
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


@dataclass(frozen=True)
class FileOutcome:
    """One rule on one file."""

    outcome: Outcome
    observed: str = ""
    problem: str = ""


@dataclass(frozen=True)
class RuleResult:
    """One rule on one series (the worst file decides)."""

    rule_id: str
    kind: str  # attribute, series, private
    target: str  # the keyword, check or private creator
    outcome: Outcome
    severity: Severity
    need: str
    observed: str
    problem: str
    why: str
    fix: str
    files: int = 0  # files with this outcome

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule_id,
            "kind": self.kind,
            "target": self.target,
            "outcome": self.outcome.value,
            "severity": self.severity.value,
            "need": self.need,
            "observed": self.observed,
            "problem": self.problem,
            "why": self.why,
            "fix": self.fix,
            "files": self.files,
        }


@dataclass(frozen=True)
class SeriesResult:
    """Every rule of every profile on one series; `key` (original UIDs) is never reported."""

    key: tuple[str, str]
    label: str
    study_label: str
    where: str
    modality: str
    series_number: str
    files: int
    frames: int
    results: tuple[RuleResult, ...]

    @property
    def verdict(self) -> Outcome:
        worst = max((r.outcome for r in self.results), key=lambda o: o.rank, default=Outcome.PASS)
        return Outcome.PASS if worst in (Outcome.PASS, Outcome.SKIP) else worst

    def to_dict(self) -> dict[str, Any]:
        return {
            "series": self.label,
            "study": self.study_label,
            "where": self.where,
            "modality": self.modality,
            "series_number": self.series_number,
            "files": self.files,
            "frames": self.frames,
            "verdict": self.verdict.value,
            "rules": [r.to_dict() for r in self.results],
        }


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
    return FileOutcome(_unmet(rule.severity), observed, f"{rule.keyword} {problem}")


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
    )


@dataclass
class _SeriesState:
    key: tuple[str, str]
    names: list[str] = field(default_factory=list)
    frames: int = 0
    modality: str = ""
    series_number: str = ""
    facts: SeriesFacts = field(default_factory=SeriesFacts)
    # rule id -> list of per-file outcomes
    outcomes: dict[str, list[FileOutcome]] = field(default_factory=dict)
    series_when: dict[str, bool] = field(default_factory=dict)


def short_hash(text: str) -> str:
    """A short digest to tell series apart in a report without showing their UIDs."""
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def series_key(ds: Dataset) -> tuple[str, str]:
    return (
        str(ds.get("StudyInstanceUID", "") or ""),
        str(ds.get("SeriesInstanceUID", "") or ""),
    )


class Collector:
    """Evaluates profiles file by file and aggregates the results per study and series."""

    def __init__(self, profiles: Sequence[RequirementProfile], quality_checks: bool = True) -> None:
        self.profiles = list(profiles)
        self.quality_checks = quality_checks
        self.series: dict[tuple[str, str], _SeriesState] = {}

    def add(self, ds: Dataset, name: str) -> tuple[str, str]:
        """Evaluate one dataset (read from `name`); returns its (study, series) key."""
        key = series_key(ds)
        state = self.series.get(key)
        if state is None:
            state = self.series[key] = _SeriesState(key)
            state.modality = str(ds.get("Modality", "") or "")
            state.series_number = str(ds.get("SeriesNumber", "") or "")
        state.names.append(name)
        before = len(state.facts.slices)
        add_dataset(state.facts, ds)
        state.frames += len(state.facts.slices) - before
        creators = private_creators(ds)
        for profile in self.profiles:
            for rule in profile.rules:
                state.outcomes.setdefault(rule.rule_id, []).append(
                    evaluate_attribute(rule, ds, self.quality_checks)
                )
            for private in profile.private_rules:
                state.outcomes.setdefault(private.rule_id, []).append(
                    evaluate_private(private, ds, creators)
                )
            for series_rule in profile.series_rules:
                if series_rule.rule_id not in state.series_when:
                    # Decided by the first file: a series is one acquisition.
                    state.series_when[series_rule.rule_id] = (
                        series_rule.when is None or series_rule.when.holds(ds)
                    )
        return key

    def _aggregate(
        self, rule: AttributeRule | PrivateRule, outcomes: list[FileOutcome]
    ) -> RuleResult:
        worst = max(outcomes, key=lambda o: o.outcome.rank)
        count = sum(1 for o in outcomes if o.outcome is worst.outcome)
        target = rule.keyword if isinstance(rule, AttributeRule) else rule.creator
        observed = worst.observed
        if worst.outcome in (Outcome.PASS, Outcome.SKIP):
            shown = {o.observed for o in outcomes if o.outcome is worst.outcome}
            observed = observed if len(shown) == 1 else f"{len(shown)} different values"
        return RuleResult(
            rule_id=rule.rule_id,
            kind="attribute" if isinstance(rule, AttributeRule) else "private",
            target=target,
            outcome=worst.outcome,
            severity=rule.severity,
            need=rule.text.need,
            observed=observed,
            problem=worst.problem
            + (
                f" ({count} of {len(outcomes)} files)"
                if worst.outcome in (Outcome.WARN, Outcome.FAIL) and len(outcomes) > 1
                else ""
            ),
            why=rule.text.why,
            fix=rule.text.fix,
            files=count,
        )

    def _series_result(self, rule: SeriesRule, state: _SeriesState) -> RuleResult:
        def result(outcome: Outcome, observed: str, problem: str) -> RuleResult:
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
                rule.text.fix,
                len(state.names),
            )

        if rule.quality_check and not self.quality_checks:
            return result(Outcome.SKIP, "", "data quality checks disabled")
        if not state.series_when.get(rule.rule_id, True):
            text = rule.when.text if rule.when else ""
            return result(Outcome.SKIP, "", f"applies only when {text}")
        checked = run_check(rule.check, state.facts, rule.params)
        if checked.ok:
            return result(Outcome.PASS, checked.observed, "")
        return result(_unmet(rule.severity), checked.observed, checked.problem)

    def results(self) -> list[SeriesResult]:
        """Per-series results, ordered by study, then series number, then where they were."""
        studies: dict[str, str] = {}
        ordered = sorted(
            self.series.values(),
            key=lambda s: (min(s.names), s.series_number.zfill(8)),
        )
        found: list[SeriesResult] = []
        for state in ordered:
            study_label = studies.setdefault(state.key[0], f"study {len(studies) + 1}")
            rule_results: list[RuleResult] = []
            for profile in self.profiles:
                for rule in profile.rules:
                    rule_results.append(self._aggregate(rule, state.outcomes[rule.rule_id]))
                for series_rule in profile.series_rules:
                    rule_results.append(self._series_result(series_rule, state))
                for private in profile.private_rules:
                    rule_results.append(self._aggregate(private, state.outcomes[private.rule_id]))
            where = _common_folder(state.names)
            label = (
                f"#{state.series_number or '?'} {state.modality or '?'} "
                f"[{short_hash(state.key[1])}]"
            )
            found.append(
                SeriesResult(
                    key=state.key,
                    label=label,
                    study_label=study_label,
                    where=where,
                    modality=state.modality,
                    series_number=state.series_number,
                    files=len(state.names),
                    frames=state.frames,
                    results=tuple(rule_results),
                )
            )
        return found


def _common_folder(names: list[str]) -> str:
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
