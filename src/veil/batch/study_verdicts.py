"""Does the output meet the destination? One verdict per study, with the reasons.

The regression check (`veil.pipeline.check_outputs`) proves de-identification lost nothing;
it says nothing about data that never met the destination (a Manufacturer missing at the
scanner). This aggregates the destination's profiles over the written outputs as `veil check`
does (`veil.check.run.check_facts_report`, the step after `check_inputs` reads the files) and
takes its per-study verdicts (`veil.check.study`): a study meets the profiles when no
destination fails it (series a destination does not use are skipped; warnings are named, not
failures).

The facts of each output are the "after" facts the worker evaluated on it anyway
(`FileRecord.check`, issue 12): the parent reads no output again (2-3 ms of CPU per file,
serially, after the batch). Only an output without them is read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veil.batch.outcome import FileRecord
from veil.check.evaluate import FileFacts
from veil.check.model import Outcome, RequirementProfile
from veil.check.run import CheckReport, check_facts_report, check_inputs
from veil.check.study import StudyResult
from veil.io.inputs import iter_inputs
from veil.pipeline import Outcome as RecordOutcome

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


def _relative(where: str, root: Path | None) -> str:
    if root is None or not where:
        return where
    try:
        return str(Path(where).relative_to(root))
    except ValueError:
        return where


def _reasons(study: StudyResult) -> list[str]:
    """Why a study does not meet a destination (its verdict, then the failing rules of the
    series it uses); for a study that meets them, the warnings."""
    failing: list[str] = []
    warning: list[str] = []
    for verdict in study.verdicts:
        if verdict.outcome is Outcome.FAIL:
            failing.append(f"{verdict.profile}: {verdict.reason}")
        used = [s for s in study.series if s.used_by(verdict.profile)]
        for series in used:
            for r in series.results_of(verdict.profile):
                if r.outcome is Outcome.FAIL and verdict.outcome is Outcome.FAIL:
                    failing.append(
                        f"series {series.label}: {r.rule_id}: {r.problem} (needed for {r.need})"
                    )
                elif r.outcome is Outcome.WARN:
                    warning.append(f"series {series.label}: {r.rule_id} (warning): {r.problem}")
    reasons = list(dict.fromkeys(failing or warning))
    if len(reasons) > MAX_REASONS:
        rest = len(reasons) - MAX_REASONS
        reasons = [*reasons[:MAX_REASONS], f"... and {rest} more (veil check --for)"]
    return reasons


def output_verdict(
    profiles: Sequence[RequirementProfile],
    outputs: Sequence[Path],
    quality_checks: bool = True,
    root: Path | None = None,
) -> OutputVerdict:
    """Check ``outputs`` against ``profiles`` and give one verdict per study (issue 11's
    per-study verdicts: series a destination does not use are skipped, not failed); folders
    are shown relative to ``root`` (the output folder)."""
    return from_report(check_inputs(list(outputs), profiles, quality_checks), root)


def records_verdict(
    profiles: Sequence[RequirementProfile],
    records: Sequence[FileRecord],
    folder: Path,
    quality_checks: bool = True,
) -> OutputVerdict:
    """``output_verdict`` of the outputs the batch wrote under ``folder``, from the facts its
    workers evaluated on them: the same verdict as reading them again."""
    facts: list[tuple[FileFacts, str]] = []
    without: list[Path] = []
    folders: dict[str, str] = {}
    for record in records:
        if record.outcome is not RecordOutcome.WRITTEN or not record.output:
            continue
        after = record.check.after if record.check is not None else None
        if after is None:
            # No facts: a cluster's records carry none (each group aggregates its own
            # checks), nor does a file whose facts could not be evaluated. These are read
            # again, as before issue 12, and an unreadable one is named.
            without.append(folder / record.output)
        else:
            # The name `check_inputs` would report the output by (its path), so the
            # study's folder and the report order are the same as reading it.
            facts.append((after, output_name(folder, record.output, folders)))
    items = iter_inputs(without) if without else ()
    report = check_facts_report(facts, profiles, quality_checks, items, used_files=False)
    return from_report(report, folder)


def output_name(folder: Path, relative: str, folders: dict[str, str]) -> str:
    """``str(folder / relative)``, with the pathlib join done once per output folder (kept in
    ``folders``): 8 us per file otherwise, a tenth of the parent's verdict step."""
    tail = relative.rpartition("/")[2]
    if tail in ("", ".", ".."):
        return str(folder / relative)
    head = relative[: len(relative) - len(tail)]  # the folder's text, "/" included
    base = folders.get(head)
    if base is None:
        base = folders[head] = str(folder / head) if head else str(folder)
    if base in ("", ".") or base.endswith("/"):
        return str(folder / relative)
    return f"{base}/{tail}"


def from_report(report: CheckReport, root: Path | None) -> OutputVerdict:
    studies = tuple(
        StudyVerdict(
            study.label,
            _relative(study.where, root),
            study.verdict is not Outcome.FAIL,
            tuple(_reasons(study)),
            len(study.series),
        )
        for study in report.studies
    )
    return OutputVerdict(
        report.profiles,
        studies,
        tuple(f"{_relative(name, root)}: {problem}" for name, problem in report.unreadable),
    )
