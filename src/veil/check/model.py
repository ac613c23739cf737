"""What a destination requirement profile says: rules with severities, conditions and needs."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from pydicom.dataset import Dataset

from veil.check.access import frame_count, has_pixels, lookup
from veil.check.values import Validity, is_empty, validate
from veil.dicom import values_of


class Severity(str, Enum):
    """What an unmet rule means for the destination."""

    FAIL = "fail"  # the processing will not run or gives a wrong result
    WARN = "warn"  # a feature of the processing is lost or degraded


class Outcome(str, Enum):
    """The result of one rule on one series, ordered from best to worst by `rank`."""

    PASS = "pass"
    SKIP = "skip"  # not applicable (condition not met, or quality checks disabled)
    WARN = "warn"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return _RANKS[self.value]


# (Not a dict built per call: the verdicts rank every file's outcome of every rule.)
_RANKS = {"skip": 0, "pass": 1, "warn": 2, "fail": 3}


class Preserve(str, Enum):
    """How the de-identified output must carry what a rule reads."""

    KEEP = "keep"
    DERIVE_AGE = "derive-age"  # keep PatientAge, derived from birth date + study date if absent
    SHIFT = "shift"  # a date needed for intervals: kept, shifted by the patient's offset
    NO = "no"  # checked in the input only (satisfied in the output another way)


class SeriesCheck(str, Enum):
    """Series-level checks: properties of the whole acquisition, not of one file."""

    ACQUISITION_3D = "acquisition-3d"
    T1_WEIGHTED = "t1-weighted"
    PLANE = "plane"
    SINGLE_ORIENTATION = "single-orientation"
    CONSISTENT_PIXEL_SPACING = "consistent-pixel-spacing"
    COMPLETE_SLICES = "complete-slices"
    UNIFORM_SPACING = "uniform-spacing"
    COVERAGE = "coverage"
    RESOLUTION = "resolution"


@dataclass(frozen=True)
class Condition:
    """A test on one dataset: when a rule applies (or when it is not needed)."""

    kind: str  # valid, present, matches, contains, image, multiframe, any, all, not
    keyword: str = ""
    pattern: str = ""
    children: tuple[Condition, ...] = ()
    text: str = ""  # how the condition reads in a report

    def holds(self, ds: Dataset) -> bool:
        return _TESTS[self.kind](self, ds)


def _valid(c: Condition, ds: Dataset) -> bool:
    return validate(c.keyword, lookup(ds, c.keyword))[0] is Validity.VALID


def _present(c: Condition, ds: Dataset) -> bool:
    return not is_empty(lookup(ds, c.keyword))


def _matches(c: Condition, ds: Dataset) -> bool:
    regex = re.compile(c.pattern, re.IGNORECASE)
    return any(regex.search(str(item)) for item in values_of(lookup(ds, c.keyword)))


def _contains(c: Condition, ds: Dataset) -> bool:
    wanted = c.pattern.strip().upper()
    return any(str(item).strip().upper() == wanted for item in values_of(lookup(ds, c.keyword)))


_TESTS: dict[str, Callable[[Condition, Dataset], bool]] = {
    "valid": _valid,
    "present": _present,
    "matches": _matches,
    "contains": _contains,
    "image": lambda c, ds: has_pixels(ds) == (c.pattern == "true"),
    "multiframe": lambda c, ds: (frame_count(ds) > 1) == (c.pattern == "true"),
    "any": lambda c, ds: any(child.holds(ds) for child in c.children),
    "all": lambda c, ds: all(child.holds(ds) for child in c.children),
    "not": lambda c, ds: not c.children[0].holds(ds),
}


@dataclass(frozen=True)
class RuleText:
    """Why a rule exists and how to fix a failure: shown in every report."""

    need: str  # the downstream feature, e.g. "age-normative report"
    why: str = ""
    fix: str = ""


@dataclass(frozen=True)
class AttributeRule:
    """An attribute every file of a series must carry with a valid value."""

    rule_id: str  # "neuroquant/patient-age"
    keyword: str
    severity: Severity
    text: RuleText
    when: Condition | None = None
    unless: Condition | None = None
    quality_check: bool = False  # skipped when the destination's quality checks are disabled
    preserve: Preserve = Preserve.KEEP
    allowed: tuple[str, ...] = ()  # allowed values (case-insensitive), empty = any valid value
    line: int = 0


@dataclass(frozen=True)
class SeriesRule:
    """A check on the whole series (geometry, acquisition type)."""

    rule_id: str
    check: SeriesCheck
    severity: Severity
    text: RuleText
    params: dict[str, float] = field(default_factory=dict)
    when: Condition | None = None
    quality_check: bool = False
    line: int = 0


@dataclass(frozen=True)
class PrivateRule:
    """A vendor private block (named by its creator) the destination reads."""

    rule_id: str
    creator: str
    severity: Severity
    text: RuleText
    when: Condition | None = None
    line: int = 0
    # Element numbers within the block (the low byte, 0x00-0xFF). `elements`: keep only these;
    # `remove`: keep the block except these (elements that carry identifiers, e.g. a copy of
    # the study date or the scanner's host name). Both empty: keep the whole block.
    elements: tuple[int, ...] = ()
    remove: tuple[int, ...] = ()
    # `clean`: keep these elements with every identifying value of the input masked inside
    # them at the same length (vendor binary headers such as the Siemens CSA series header).
    clean: tuple[int, ...] = ()


class StudyNeed(str, Enum):
    """When a study passes for a destination, from the verdicts of the series it uses."""

    ANY = "any"  # one used series that passes is enough (volumetry needs one 3D T1)
    EVERY = "every"  # every used series must pass (a converter converts them all)


@dataclass(frozen=True)
class Uses:
    """What a destination uses of a study; the rest is skipped, not failed.

    A file is used when `when` holds; a series is used when it has used files and none of
    the `series` checks says it definitely is not what the destination uses (a check that
    cannot tell, say because an attribute is missing, keeps the series: its rules then say
    what is missing)."""

    what: str  # how reports name it: "a 3D T1-weighted MR volume"
    when: Condition | None = None
    series: tuple[SeriesCheck, ...] = ()
    study: StudyNeed = StudyNeed.EVERY
    line: int = 0


@dataclass(frozen=True)
class AgeRule:
    """How the destination reads the patient's age, and the ages its norms cover."""

    rule_id: str
    severity: Severity
    text: RuleText
    min_years: float = 0.0
    max_years: float = 150.0
    line: int = 0


@dataclass(frozen=True)
class PrivateKeep:
    """One private-block decision for the compiled plan: keep (or drop) by creator."""

    creator: str
    element: int | None  # None: the whole block
    keep: bool
    rule_id: str
    need: str
    clean: bool = False  # kept with identifying values masked inside (never for a whole block)


@dataclass(frozen=True)
class Preservation:
    """An attribute the de-identified output must still carry, and why."""

    keyword: str
    rule_id: str
    need: str
    derive_age: bool = False
    shift_dates: bool = False


# Attributes the series checks read, kept for them in the output.
SERIES_KEYWORDS: dict[SeriesCheck, tuple[str, ...]] = {
    SeriesCheck.ACQUISITION_3D: ("MRAcquisitionType",),
    SeriesCheck.T1_WEIGHTED: (
        "ScanningSequence",
        "SequenceVariant",
        "EchoTime",
        "RepetitionTime",
        "InversionTime",
        "EchoPulseSequence",
        "InversionRecovery",
        "FlipAngle",
    ),
    SeriesCheck.PLANE: ("ImageOrientationPatient",),
    SeriesCheck.SINGLE_ORIENTATION: ("ImageOrientationPatient",),
    SeriesCheck.CONSISTENT_PIXEL_SPACING: ("PixelSpacing", "Rows", "Columns"),
    SeriesCheck.COMPLETE_SLICES: ("ImagePositionPatient", "ImageOrientationPatient"),
    SeriesCheck.UNIFORM_SPACING: ("ImagePositionPatient", "ImageOrientationPatient"),
    SeriesCheck.COVERAGE: ("ImagePositionPatient", "PixelSpacing", "Rows", "Columns"),
    SeriesCheck.RESOLUTION: ("PixelSpacing", "SliceThickness", "SpacingBetweenSlices"),
}


@dataclass(frozen=True)
class RequirementProfile:
    """A destination's requirements, loaded from a YAML profile (built in or a file)."""

    name: str
    source: str
    description: str = ""
    rules: tuple[AttributeRule, ...] = ()
    series_rules: tuple[SeriesRule, ...] = ()
    private_rules: tuple[PrivateRule, ...] = ()
    uses: Uses = Uses("every object")
    age: AgeRule | None = None

    def preservations(self, quality_checks: bool = True) -> tuple[Preservation, ...]:
        """Every attribute the de-identified output must still carry for this destination."""
        found: dict[str, Preservation] = {}
        for rule in self.rules:
            if rule.preserve is Preserve.NO or (rule.quality_check and not quality_checks):
                continue
            found.setdefault(
                rule.keyword,
                Preservation(
                    keyword=rule.keyword,
                    rule_id=rule.rule_id,
                    need=rule.text.need,
                    derive_age=rule.preserve is Preserve.DERIVE_AGE,
                    shift_dates=rule.preserve is Preserve.SHIFT,
                ),
            )
        for series_rule in self.series_rules:
            if series_rule.quality_check and not quality_checks:
                continue
            for keyword in SERIES_KEYWORDS[series_rule.check]:
                found.setdefault(
                    keyword, Preservation(keyword, series_rule.rule_id, series_rule.text.need)
                )
        return tuple(found.values())

    def private_creators(self) -> tuple[tuple[str, str], ...]:
        """(private creator, need) of every private block the output must keep (in part)."""
        seen: dict[str, str] = {}
        for rule in self.private_rules:
            seen.setdefault(rule.creator, rule.text.need)
        return tuple(seen.items())

    def private_elements(self) -> tuple[PrivateKeep, ...]:
        """Element-level decisions: what of each named private block is kept, what goes."""
        found: list[PrivateKeep] = []
        for rule in self.private_rules:
            need = rule.text.need
            if rule.elements:
                found.extend(
                    PrivateKeep(rule.creator, element, True, rule.rule_id, need)
                    for element in rule.elements
                )
            else:
                found.append(PrivateKeep(rule.creator, None, True, rule.rule_id, need))
            found.extend(
                PrivateKeep(rule.creator, element, False, rule.rule_id, need)
                for element in rule.remove
            )
            found.extend(
                PrivateKeep(rule.creator, element, True, rule.rule_id, need, clean=True)
                for element in rule.clean
            )
        return tuple(found)
