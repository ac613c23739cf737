"""After de-identification: a rule that held on the input and not on the output is veil's error.

The caller gives (read input bytes, output path) pairs; inputs and outputs are checked series by
series with the same profiles, and every rule whose outcome got worse (pass or skip before,
warn or fail after; warn before, fail after) is a regression.

Fail closed: a pair that cannot be read or evaluated is *unverifiable*, never skipped. Its
output is not known to keep what the destination needs, so a caller holds it as it would a
regression (`veil.pipeline.CheckVerdict.ok`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from veil.check.evaluate import Collector, RuleResult
from veil.check.model import Outcome, RequirementProfile
from veil.errors import InputFileError, VeilError
from veil.io.dicomfile import SkippedFile, read_bytes, read_dataset


@dataclass(frozen=True)
class Regression:
    """A rule that passed on a series before de-identification and fails after."""

    series: str  # the de-identified (pseudonymised) series UID, or a label
    rule_id: str
    message: str
    before: str = ""
    after: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "rule_id": self.rule_id,
            "message": self.message,
            "before": self.before,
            "after": self.after,
        }


def _worse(before: RuleResult, after: RuleResult) -> bool:
    if after.outcome not in (Outcome.WARN, Outcome.FAIL):
        return False
    return after.outcome.rank > max(before.outcome.rank, Outcome.PASS.rank)


@dataclass(frozen=True)
class RegressionReport:
    regressions: tuple[Regression, ...] = ()
    unverifiable: tuple[str, ...] = ()  # "<output>: <why it could not be checked>"


def _unreadable(exc: BaseException) -> str:
    if isinstance(exc, SkippedFile):
        return f"not a DICOM image ({exc.reason})"
    if isinstance(exc, InputFileError):
        return exc.problem
    if isinstance(exc, OSError):
        return f"unreadable ({exc.strerror or type(exc).__name__})"
    return type(exc).__name__


class RegressionFinder:
    """Inputs and outputs checked side by side, file by file; no dataset is kept.

    Used on files read back after a batch (find_regressions) and inside a cluster task on the
    data it has in memory (batch/grouprun.py).
    """

    def __init__(self, profiles: Sequence[RequirementProfile], quality_checks: bool = True) -> None:
        self._before = Collector(profiles, quality_checks)
        self._after = Collector(profiles, quality_checks)
        self._link: dict[tuple[str, str], tuple[str, str]] = {}
        self._unverifiable: list[str] = []

    def add(self, source: Dataset, result: Dataset, name: str) -> None:
        try:
            key_before = self._before.add(source, name)
            self._link.setdefault(key_before, self._after.add(result, name))
        except Exception as exc:  # a value no check foresaw: this pair is not known to be good
            self._unverifiable.append(f"{name}: cannot be checked ({type(exc).__name__})")

    def unreadable(self, name: str, exc: BaseException) -> None:
        """A pair that could not be read: unverifiable, never skipped (fail closed)."""
        self._unverifiable.append(f"{name}: {_unreadable(exc)}")

    def _found(self, rule: RuleResult, new: RuleResult, series: str) -> Regression:
        return Regression(
            series=series,
            rule_id=rule.rule_id,
            message=(
                f"{new.problem or new.outcome.value} (needed for {new.need}; "
                f"{rule.outcome.value} before de-identification)"
            ),
            before=rule.outcome.value,
            after=new.outcome.value,
        )

    def report(self) -> RegressionReport:
        """Every rule that held on a series before de-identification and fails after, and
        every pair that could not be checked."""
        results_after = {series.key: series for series in self._after.results()}
        found: list[Regression] = []
        for series in self._before.results():
            output_series = results_after.get(self._link.get(series.key, ("", "")))
            if output_series is None:
                continue
            after_by_rule = {r.rule_id: r for r in output_series.results}
            label = output_series.key[1] or output_series.label
            for rule in series.results:
                new = after_by_rule.get(rule.rule_id)
                if new is not None and _worse(rule, new):
                    found.append(self._found(rule, new, label))
        return RegressionReport(tuple(found), tuple(self._unverifiable))


# An output to check: its path, or a function reading its bytes (an object in a store).
OutputSource = Path | Callable[[], bytes]


def find_regressions(
    profiles: Sequence[RequirementProfile],
    pairs: Sequence[tuple[Callable[[], bytes], OutputSource]],
    quality_checks: bool = True,
) -> RegressionReport:
    """Check inputs and outputs with the same profiles: every rule that got worse, and every
    pair that could not be checked."""
    finder = RegressionFinder(profiles, quality_checks)
    for read_input, output in pairs:
        name = str(output) if isinstance(output, Path) else getattr(output, "name", "output")
        try:
            source = read_bytes(read_input(), name)
            result = (
                read_dataset(output) if isinstance(output, Path) else read_bytes(output(), name)
            )
        except (SkippedFile, VeilError, OSError) as exc:
            finder.unreadable(name, exc)
            continue
        finder.add(source, result, name)
    return finder.report()
