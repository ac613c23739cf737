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

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from veil.check.access import lookup, private_creators
from veil.check.geometry import SeriesFacts, add_dataset, run_check
from veil.check.model import (
    AttributeRule,
    Condition,
    Outcome,
    PrivateRule,
    RequirementProfile,
    SeriesRule,
    Severity,
)
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


@dataclass(frozen=True)
class FileFacts:
    """Everything the profiles need from one file, evaluated where the file is (a worker
    process) and aggregated per series elsewhere; picklable, with no dataset kept."""

    key: tuple[str, str]
    modality: str
    series_number: str
    facts: SeriesFacts
    outcomes: tuple[tuple[str, FileOutcome], ...]
    series_when: tuple[tuple[str, bool], ...]


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
    reads = _reads(rule)
    if reads is None or reads & _EVERYWHERE_OR_ZERO or any(tag in ds for tag in _EVERYWHERE):
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


def file_facts(
    profiles: Sequence[RequirementProfile], quality_checks: bool, ds: Dataset
) -> FileFacts:
    """Evaluate every rule of ``profiles`` on one dataset."""
    keys = {id(rule): _memo_key(rule, ds) for profile in profiles for rule in profile.rules}
    facts = SeriesFacts()
    add_dataset(facts, ds)
    creators = private_creators(ds) if any(p.private_rules for p in profiles) else set()
    outcomes: list[tuple[str, FileOutcome]] = []
    when: list[tuple[str, bool]] = []
    for profile in profiles:
        for rule in profile.rules:
            outcomes.append((rule.rule_id, _outcome(rule, ds, quality_checks, keys[id(rule)])))
        for private in profile.private_rules:
            outcomes.append((private.rule_id, evaluate_private(private, ds, creators)))
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
    )


# What the per-file geometry facts read (veil.check.geometry, veil.check.access).
_GEOMETRY_KEYWORDS = (
    "SliceThickness",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "Rows",
    "Columns",
    "NumberOfFrames",
    "PixelData",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "MRAcquisitionType",
    "ScanningSequence",
    "SequenceVariant",
    "EchoTime",
    "EffectiveEchoTime",
    "RepetitionTime",
    "InversionTime",
    "InversionTimes",
    "EchoPulseSequence",
    "InversionRecovery",
)
# Any lookup may fall back to the functional groups of an enhanced object.
_EVERYWHERE = frozenset(
    tag_of(k) for k in ("PerFrameFunctionalGroupsSequence", "SharedFunctionalGroupsSequence")
)
_GEOMETRY = frozenset(tag_of(k) for k in _GEOMETRY_KEYWORDS) | _EVERYWHERE
_EVERYWHERE_OR_ZERO = _EVERYWHERE | {0}  # 0: a keyword the dictionary does not know
_FILE_KEYWORDS = ("StudyInstanceUID", "SeriesInstanceUID", "Modality", "SeriesNumber")


def _condition_tags(condition: Condition | None) -> frozenset[int]:
    if condition is None:
        return frozenset()
    tags = {tag_for_keyword(condition.keyword) or 0} if condition.keyword else set()
    if condition.kind in ("image", "multiframe"):
        tags |= _GEOMETRY
    for child in condition.children:
        tags |= _condition_tags(child)
    return frozenset(tags)


def _reads(rule: AttributeRule | PrivateRule | SeriesRule) -> frozenset[int] | None:
    """The top-level tags one rule's file-level outcome reads (None: cannot tell)."""
    if isinstance(rule, PrivateRule):
        return None  # private creators at any level
    tags = _condition_tags(rule.when)
    if isinstance(rule, AttributeRule):
        tags |= _condition_tags(rule.unless) | {tag_for_keyword(rule.keyword) or 0}
    return tags


def facts_after(
    profiles: Sequence[RequirementProfile],
    quality_checks: bool,
    before: FileFacts,
    after: Dataset,
    changed: frozenset[int],
) -> FileFacts:
    """``file_facts(after)`` when ``after`` differs from the dataset ``before`` was made of
    only in the top-level elements ``changed``: what reads none of them is taken from
    ``before`` (de-identification changes no geometry and few of the attributes a
    destination needs), the rest evaluated on ``after``."""
    if changed & _EVERYWHERE:
        return file_facts(profiles, quality_checks, after)
    keys = {id(rule): _memo_key(rule, after) for profile in profiles for rule in profile.rules}
    facts = before.facts
    if changed & _GEOMETRY:
        facts = SeriesFacts()
        add_dataset(facts, after)
    known = dict(before.outcomes)
    when_known = dict(before.series_when)
    creators: set[str] | None = None
    outcomes: list[tuple[str, FileOutcome]] = []
    when: list[tuple[str, bool]] = []
    for profile in profiles:
        for rule in profile.rules:
            reads = _reads(rule)
            if reads is not None and not reads & changed and rule.rule_id in known:
                outcomes.append((rule.rule_id, known[rule.rule_id]))
            else:
                outcome = _outcome(rule, after, quality_checks, keys[id(rule)])
                outcomes.append((rule.rule_id, outcome))
        for private in profile.private_rules:
            if creators is None:
                creators = private_creators(after)
            outcomes.append((private.rule_id, evaluate_private(private, after, creators)))
        for series_rule in profile.series_rules:
            reads = _reads(series_rule)
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
    )


class Collector:
    """Evaluates profiles file by file and aggregates the results per study and series."""

    def __init__(self, profiles: Sequence[RequirementProfile], quality_checks: bool = True) -> None:
        self.profiles = list(profiles)
        self.quality_checks = quality_checks
        self.series: dict[tuple[str, str], _SeriesState] = {}

    def add(self, ds: Dataset, name: str) -> tuple[str, str]:
        """Evaluate one dataset (read from `name`); returns its (study, series) key."""
        return self.add_facts(file_facts(self.profiles, self.quality_checks, ds), name)

    def add_facts(self, facts: FileFacts, name: str) -> tuple[str, str]:
        """Aggregate one file's facts (from ``file_facts``); returns its (study, series) key."""
        key = facts.key
        state = self.series.get(key)
        if state is None:
            state = self.series[key] = _SeriesState(key)
            state.modality = facts.modality
            state.series_number = facts.series_number
        state.names.append(name)
        state.frames += len(facts.facts.slices)
        state.facts.slices.extend(facts.facts.slices)
        state.facts.acquisitions.extend(facts.facts.acquisitions)
        state.facts.non_images += facts.facts.non_images
        for rule_id, outcome in facts.outcomes:
            state.outcomes.setdefault(rule_id, []).append(outcome)
        for rule_id, holds in facts.series_when:
            # Decided by the first file: a series is one acquisition.
            state.series_when.setdefault(rule_id, holds)
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
