"""Does the output meet the destination? One verdict per study, with the reasons.

The regression check (`veil.pipeline.check_outputs`) proves de-identification lost nothing;
it says nothing about data that never met the destination (a Manufacturer missing at the
scanner). This runs the destination's profiles on the written outputs, as `veil check` does
(`veil.check.run.check_inputs`), and folds its per-series results into one verdict per study:
a study meets the profiles when none of its series fails (warnings are named, not failures).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veil.check.model import Outcome, RequirementProfile
from veil.check.run import check_inputs

MAX_REASONS = 5  # per study; the rest are counted


@dataclass(frozen=True)
class StudyVerdict:
    """One study of the output against the profiles; texts name rules, never values."""

    label: str  # "study 1", in the order the check met them
    where: str  # the study's folder under the output
    meets: bool
    reasons: tuple[str, ...]  # why not (failing rules), or warnings when it meets
    series: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.label,
            "where": self.where,
            "meets": self.meets,
            "reasons": list(self.reasons),
            "series": self.series,
        }


@dataclass(frozen=True)
class OutputVerdict:
    profiles: tuple[str, ...]
    studies: tuple[StudyVerdict, ...]
    unreadable: tuple[str, ...]  # "<file>: <problem>"

    @property
    def ok(self) -> bool:
        return not self.unreadable and all(study.meets for study in self.studies)


def _common(paths: list[str]) -> str:
    if not paths:
        return ""
    parts = [Path(p).parts for p in paths]
    shared = []
    for column in zip(*parts, strict=False):
        if len(set(column)) != 1:
            break
        shared.append(column[0])
    return str(Path(*shared)) if shared else ""


def _relative(where: str, root: Path | None) -> str:
    if root is None or not where:
        return where
    try:
        return str(Path(where).relative_to(root))
    except ValueError:
        return where


def output_verdict(
    profiles: Sequence[RequirementProfile],
    outputs: Sequence[Path],
    quality_checks: bool = True,
    root: Path | None = None,
) -> OutputVerdict:
    """Check ``outputs`` against ``profiles`` and give one verdict per study; folders are
    shown relative to ``root`` (the output folder)."""
    report = check_inputs(list(outputs), profiles, quality_checks)
    by_study: dict[str, list[Any]] = {}
    for series in report.series:
        by_study.setdefault(series.study_label, []).append(series)
    studies = []
    for label, members in by_study.items():
        failing = [
            f"series {s.label}: {r.rule_id}: {r.problem} (needed for {r.need})"
            for s in members
            for r in s.results
            if r.outcome is Outcome.FAIL
        ]
        warning = [
            f"series {s.label}: {r.rule_id} (warning): {r.problem}"
            for s in members
            for r in s.results
            if r.outcome is Outcome.WARN
        ]
        reasons = failing or warning
        if len(reasons) > MAX_REASONS:
            rest = len(reasons) - MAX_REASONS
            reasons = [*reasons[:MAX_REASONS], f"... and {rest} more (veil check --for)"]
        studies.append(
            StudyVerdict(
                label,
                _relative(_common([s.where for s in members]), root),
                not failing,
                tuple(reasons),
                len(members),
            )
        )
    return OutputVerdict(
        report.profiles,
        tuple(studies),
        tuple(f"{_relative(name, root)}: {problem}" for name, problem in report.unreadable),
    )
