"""What `veil check` reports: one rule on one series, a series with the destinations that use
it (or not, and why), and the verdicts that follow. Nothing here holds an identifying value:
series are keyed by their UIDs internally and labelled by number, modality and a hash."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from veil.check.model import Outcome, Severity


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
    names: tuple[str, ...] = ()  # for a warning or failure: the files with it (--details)

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
            **({"failing_files": list(self.names)} if self.names else {}),
        }


class Use(str, Enum):
    """Whether a destination uses a series: the verdict counts only series it uses."""

    USED = "used"
    NOT_USED = "not used"


@dataclass(frozen=True)
class ProfileUse:
    """One profile's view of one series: used or not, and why not."""

    profile: str
    use: Use
    reason: str = ""  # why not used; for a used series, the objects of it left out
    files: int = 0  # files it uses
    other_files: int = 0  # files of the series it does not use (raw data, reports)
    rules: tuple[str, ...] = ()  # not used: the profile's series rules that exclude it

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "use": self.use.value,
            "reason": self.reason,
            "files": self.files,
            "other_files": self.other_files,
            **({"excluded_by": list(self.rules)} if self.rules else {}),
        }


@dataclass(frozen=True)
class SeriesResult:
    """Every rule of every profile that uses one series; `key` (original UIDs) is never
    reported. `members`: the series keys checked as this one series (several when series UIDs
    were regenerated per file)."""

    key: tuple[str, str]
    label: str
    study_label: str
    where: str
    modality: str
    series_number: str
    files: int
    frames: int
    results: tuple[RuleResult, ...]
    uses: tuple[ProfileUse, ...] = ()
    members: tuple[tuple[str, str], ...] = ()

    @property
    def regenerated(self) -> bool:
        """Several single-file series checked as one: series UIDs regenerated per file."""
        return len(self.members) > 1

    def use_by(self, profile: str) -> ProfileUse | None:
        return next((u for u in self.uses if u.profile == profile), None)

    def used_by(self, profile: str) -> bool:
        use = self.use_by(profile)
        return use is None or use.use is Use.USED

    def results_of(self, profile: str) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.results if r.rule_id.partition("/")[0] == profile)

    def verdict_for(self, profile: str) -> Outcome:
        return _verdict(self.results_of(profile)) if self.used_by(profile) else Outcome.SKIP

    @property
    def used(self) -> bool:
        return not self.uses or any(u.use is Use.USED for u in self.uses)

    @property
    def verdict(self) -> Outcome:
        return _verdict(self.results) if self.used else Outcome.SKIP

    def to_dict(self) -> dict[str, Any]:
        return {
            "series": self.label,
            "study": self.study_label,
            "where": self.where,
            "modality": self.modality,
            "series_number": self.series_number,
            "files": self.files,
            "frames": self.frames,
            "series_uids_regenerated": len(self.members) if self.regenerated else 0,
            "verdict": self.verdict.value,
            "uses": [u.to_dict() for u in self.uses],
            "rules": [r.to_dict() for r in self.results],
        }


def _verdict(results: Sequence[RuleResult]) -> Outcome:
    worst = max((r.outcome for r in results), key=lambda o: o.rank, default=Outcome.PASS)
    return Outcome.PASS if worst in (Outcome.PASS, Outcome.SKIP) else worst
