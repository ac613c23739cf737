"""After de-identification: a rule that held on the input and not on the output is veil's error.

The batch gives (read input bytes, output path) pairs; inputs and outputs are checked series by
series with the same profiles, and every rule whose outcome got worse (pass or skip before,
warn or fail after; warn before, fail after) is a regression.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from veil.check.evaluate import Collector, RuleResult
from veil.check.model import Outcome, RequirementProfile
from veil.errors import VeilError
from veil.io.dicomfile import SkippedFile, read_bytes, read_dataset
from veil.io.quiet import silence_value_warnings


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


class RegressionFinder:
    """Inputs and outputs checked side by side, file by file; no dataset is kept.

    Used on files read back after a batch (find_regressions) and inside a cluster task on the
    data it has in memory.
    """

    def __init__(self, profiles: Sequence[Any], quality_checks: bool = True) -> None:
        required: list[RequirementProfile] = list(profiles)
        self._before = Collector(required, quality_checks)
        self._after = Collector(required, quality_checks)
        self._link: dict[tuple[str, str], tuple[str, str]] = {}

    def add(self, source: Dataset, result: Dataset, name: str) -> None:
        try:
            key_before = self._before.add(source, name)
            self._link.setdefault(key_before, self._after.add(result, name))
        except Exception:  # a value no check foresaw: not a regression of this file
            return

    def regressions(self) -> list[Regression]:
        """Every rule that held on a series before de-identification and fails after."""
        results_after = {series.key: series for series in self._after.results()}
        found: list[Regression] = []
        for series in self._before.results():
            output_series = results_after.get(self._link.get(series.key, ("", "")))
            if output_series is None:
                continue
            after_by_rule = {r.rule_id: r for r in output_series.results}
            for rule in series.results:
                new = after_by_rule.get(rule.rule_id)
                if new is None or not _worse(rule, new):
                    continue
                found.append(
                    Regression(
                        series=output_series.key[1] or output_series.label,
                        rule_id=rule.rule_id,
                        message=(
                            f"{new.problem or new.outcome.value} (needed for {new.need}; "
                            f"{rule.outcome.value} before de-identification)"
                        ),
                        before=rule.outcome.value,
                        after=new.outcome.value,
                    )
                )
        return found


def find_regressions(
    profiles: Sequence[Any],
    pairs: Sequence[tuple[Callable[[], bytes], Path | Callable[[], bytes]]],
    quality_checks: bool = True,
) -> list[Regression]:
    """Check inputs and outputs with the same profiles; list every rule that got worse.

    Each pair reads the input's bytes and names the output: a path, or a function that reads
    its bytes (an object in a store).
    """
    silence_value_warnings()
    finder = RegressionFinder(profiles, quality_checks)
    for read_input, output in pairs:
        name = str(output) if isinstance(output, Path) else getattr(output, "name", "output")
        try:
            source = read_bytes(read_input(), name)
            result = (
                read_dataset(output) if isinstance(output, Path) else read_bytes(output(), name)
            )
        except (SkippedFile, VeilError, OSError):
            continue  # the batch reports unreadable files itself
        finder.add(source, result, name)
    return finder.regressions()
