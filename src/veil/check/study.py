"""A verdict per study: does the study give each destination what it needs?

A destination uses some series of a study (its profile's `uses`); the others are skipped, not
failed. With `study: any` (volumetry: one 3D T1 is enough) a study passes when one series it
uses passes; with `study: every` (a converter) every series it uses must pass. A study in which
the destination finds nothing it uses fails. The study's verdict is the worst over the
destinations it is checked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from veil.check.evaluate import SeriesResult, common_folder
from veil.check.model import Outcome, RequirementProfile, StudyNeed


@dataclass(frozen=True)
class ProfileVerdict:
    """One destination's verdict on one study, and why."""

    profile: str
    outcome: Outcome  # PASS, WARN or FAIL
    reason: str
    used: tuple[str, ...]  # labels of the series it uses
    not_used: int  # series it skips

    def to_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "verdict": self.outcome.value,
            "reason": self.reason,
            "used_series": list(self.used),
            "not_used_series": self.not_used,
        }


@dataclass(frozen=True)
class StudyResult:
    """Every series of one study and the verdict of each destination on it."""

    key: str  # the study UID: never reported
    label: str
    where: str
    series: tuple[SeriesResult, ...]
    verdicts: tuple[ProfileVerdict, ...]

    @property
    def verdict(self) -> Outcome:
        return max((v.outcome for v in self.verdicts), key=lambda o: o.rank, default=Outcome.PASS)

    @property
    def files(self) -> int:
        return sum(series.files for series in self.series)

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.label,
            "where": self.where,
            "verdict": self.verdict.value,
            "files": self.files,
            "destinations": [v.to_dict() for v in self.verdicts],
            "series": [s.to_dict() for s in self.series],
        }


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def profile_verdict(profile: RequirementProfile, series: Sequence[SeriesResult]) -> ProfileVerdict:
    used = [s for s in series if s.used_by(profile.name)]
    labels = tuple(s.label for s in used)
    not_used = len(series) - len(used)
    if not used:
        return ProfileVerdict(
            profile.name,
            Outcome.FAIL,
            f"no series it uses: it needs {profile.uses.what}",
            labels,
            not_used,
        )
    verdicts = [s.verdict_for(profile.name) for s in used]
    failing = sum(v is Outcome.FAIL for v in verdicts)
    if profile.uses.study is StudyNeed.ANY:
        best = min(verdicts, key=lambda o: o.rank)
        if best is Outcome.FAIL:
            reason = f"{profile.uses.what} is there, but every series of it fails"
        else:
            good = sum(v is best for v in verdicts)
            reason = f"{profile.uses.what} is there and passes" + (
                " with warnings" if best is Outcome.WARN else ""
            )
            if len(used) > 1:
                reason += f" ({good} of the {len(used)} series it could use)"
        return ProfileVerdict(profile.name, best, reason, labels, not_used)
    worst = max(verdicts, key=lambda o: o.rank)
    if failing:
        reason = f"{failing} of {_plural(len(used), 'series')} it uses fail"
    else:
        reason = f"every series it uses ({len(used)}) passes" + (
            " with warnings" if worst is Outcome.WARN else ""
        )
    return ProfileVerdict(profile.name, worst, reason, labels, not_used)


def group_studies(
    series: Sequence[SeriesResult], profiles: Sequence[RequirementProfile]
) -> list[StudyResult]:
    """Series grouped by study (in report order), each study with its verdicts."""
    by_study: dict[str, list[SeriesResult]] = {}
    for result in series:
        by_study.setdefault(result.key[0], []).append(result)
    studies = []
    for key, members in by_study.items():
        studies.append(
            StudyResult(
                key=key,
                label=members[0].study_label,
                where=common_folder([s.where + "/x" for s in members]),
                series=tuple(members),
                verdicts=tuple(profile_verdict(p, members) for p in profiles),
            )
        )
    return studies
