"""After de-identification: a rule that held on the input and not on the output is veil's error.

The caller gives (read input bytes, output path) pairs; inputs and outputs are checked series by
series with the same profiles, and every rule whose outcome got worse (pass or skip before,
warn or fail after; warn before, fail after) is a regression.

Fail closed: a pair that cannot be read or evaluated is *unverifiable*, never skipped. Its
output is not known to keep what the destination needs, so a caller holds it as it would a
regression (`veil.pipeline.CheckVerdict.ok`).

The facts of a pair (`PairFacts`) may be evaluated where both datasets are at hand (`veil
deid`'s worker processes, see `veil.pipeline.deidentify_file`) and aggregated here by
`regressions_from_facts`, with the same verdict as reading the files again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from veil.check.evaluate import (
    Collector,
    FileFacts,
    RuleResult,
    SeriesResult,
    Use,
    file_facts,
    with_geometry,
)
from veil.check.geometry import SeriesFacts, at_position, at_positions
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


class PairFacts:
    """The requirement facts of one input and its output; ``problem`` (value-free) says why
    they could not be evaluated, and then the output is unverifiable.

    The files of a classic series share all their facts but the slice position, so a batch's
    workers send the shared facts of the series with each file's position (`moved`): pickled
    within a chunk, the shared facts go once, ~50 bytes a file instead of ~280, and no facts
    are made per file in the worker (issue 12). ``before`` and ``after`` make them, once, when
    asked; `PairCollector` asks only for the geometry (`geometry`). Immutable."""

    __slots__ = ("_after", "_before", "_made", "_moved", "problem")

    def __init__(
        self,
        before: FileFacts | None = None,
        after: FileFacts | None = None,
        problem: str | None = None,
    ) -> None:
        self._before, self._after, self.problem = before, after, problem
        # (the file's slice position,) when `moved` made it: the facts' own slice otherwise.
        self._moved: tuple[tuple[float, ...] | None] | tuple[()] = ()
        self._made: tuple[FileFacts | None, FileFacts | None] | None = None

    @classmethod
    def failed(cls, problem: str) -> PairFacts:
        return cls(problem=problem)

    @classmethod
    def moved(
        cls, before: FileFacts, after: FileFacts, position: tuple[float, ...] | None
    ) -> PairFacts:
        """The facts of a one-frame file at ``position`` whose series' facts are ``before``
        and ``after`` (their one slice elsewhere). ``after.facts is before.facts`` says that
        de-identification left the geometry alone: both sides then share it, as
        `veil.check.evaluate.facts_after` gives it."""
        pair = cls(before, after)
        pair._moved = (position,)
        return pair

    def __reduce__(self) -> tuple[object, ...]:
        # The fields alone, no slot names: the smallest pickle (records go through a pipe).
        return (_pair, (self._before, self._after, self.problem, *self._moved))

    @property
    def before(self) -> FileFacts | None:
        return self._sides()[0]

    @property
    def after(self) -> FileFacts | None:
        return self._sides()[1]

    def geometry(self) -> tuple[SeriesFacts | None, SeriesFacts | None]:
        """The geometry of the file's two sides, made without the rest of its facts (None
        for a side it lacks)."""
        before, after = self._before, self._after
        if not self._moved or before is None or after is None:
            return (
                None if before is None else before.facts,
                None if after is None else after.facts,
            )
        (position,) = self._moved
        moved = at_position(before.facts, position)
        if after.facts is before.facts:
            return moved, moved
        return moved, at_position(after.facts, position)

    def position(self) -> tuple[tuple[float, ...] | None] | tuple[()]:
        """(the file's slice position,) when `moved` made the pair, else ()."""
        return self._moved

    def shared(self) -> tuple[FileFacts | None, FileFacts | None]:
        """The facts as sent: the series' shared facts when `moved` made the pair (their
        geometry is not this file's: see `geometry`)."""
        return self._before, self._after

    def _sides(self) -> tuple[FileFacts | None, FileFacts | None]:
        made = self._made
        if made is None:
            if not self._moved:
                made = (self._before, self._after)
            else:
                before, after = self._before, self._after
                assert before is not None and after is not None  # (as `moved` made them)
                geometry_before, geometry_after = self.geometry()
                assert geometry_before is not None and geometry_after is not None
                made = (
                    with_geometry(before, geometry_before),
                    with_geometry(after, geometry_after),
                )
            self._made = made
        return made

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PairFacts):
            return NotImplemented
        return (self.before, self.after, self.problem) == (other.before, other.after, other.problem)

    __hash__ = None  # type: ignore[assignment]  # (mutable facts inside: never hashable)

    def __repr__(self) -> str:
        return f"PairFacts(before={self.before!r}, after={self.after!r}, problem={self.problem!r})"


def _pair(
    before: FileFacts | None,
    after: FileFacts | None,
    problem: str | None,
    *moved: tuple[float, ...] | None,
) -> PairFacts:
    """A `PairFacts` from its pickle (`PairFacts.__reduce__`)."""
    pair = PairFacts(before, after, problem)
    if moved:
        pair._moved = (moved[0],)
    return pair


def pair_facts(
    profiles: Sequence[RequirementProfile],
    quality_checks: bool,
    read_before: Callable[[], Dataset],
    read_after: Callable[[], Dataset],
) -> PairFacts:
    """Evaluate the profiles on an input and its output, each read by its function; a read or
    an evaluation that fails gives a ``problem`` instead (fail closed)."""
    try:
        source, result = read_before(), read_after()
    except (SkippedFile, VeilError, OSError) as exc:
        return PairFacts.failed(_unreadable(exc))
    try:
        return PairFacts(
            file_facts(profiles, quality_checks, source),
            file_facts(profiles, quality_checks, result),
        )
    except Exception as exc:  # a value no check foresaw: this pair is not known to be good
        return PairFacts.failed(f"cannot be checked ({type(exc).__name__})")


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


def _read_input(read: Callable[[], bytes], name: str) -> Dataset:
    return read_bytes(read(), name)


# An output to check: its path, or a function reading its bytes (an object in a store).
OutputSource = Path | Callable[[], bytes]


def _output_name(output: OutputSource) -> str:
    return str(output) if isinstance(output, Path) else getattr(output, "name", "output")


def _read_output(output: OutputSource, name: str) -> Dataset:
    return read_dataset(output) if isinstance(output, Path) else read_bytes(output(), name)


def find_regressions(
    profiles: Sequence[RequirementProfile],
    pairs: Sequence[tuple[Callable[[], bytes], OutputSource]],
    quality_checks: bool = True,
) -> RegressionReport:
    """Check inputs and outputs with the same profiles: every rule that got worse, and every
    pair that could not be checked."""
    facts = [
        (
            pair_facts(
                profiles,
                quality_checks,
                partial(_read_input, read_input, _output_name(output)),
                partial(_read_output, output, _output_name(output)),
            ),
            _output_name(output),
        )
        for read_input, output in pairs
    ]
    return regressions_from_facts(profiles, facts, quality_checks)


def regressions_from_facts(
    profiles: Sequence[RequirementProfile],
    facts: Sequence[tuple[PairFacts, str]],
    quality_checks: bool = True,
) -> RegressionReport:
    """``find_regressions`` on facts evaluated elsewhere: (facts of a pair, the output's name)
    per written file. A pair without facts is unverifiable."""
    pairs = PairCollector(profiles, quality_checks)
    for pair, name in facts:
        pairs.add(pair, name)
    return pairs.report()


class PairCollector:
    """`regressions_from_facts` one pair at a time (as a batch's records arrive, in the
    order the report gives). ``after`` may be a collector the caller shares: `veil deid
    --for` aggregates the outputs' facts once for the regressions and the per-study
    verdicts (`veil.batch.for_check`); the regressions read no file name of it."""

    def __init__(
        self,
        profiles: Sequence[RequirementProfile],
        quality_checks: bool = True,
        after: Collector | None = None,
    ) -> None:
        self.after = after if after is not None else Collector(profiles, quality_checks)
        self.before = Collector(profiles, quality_checks, self.after.checks)
        self.link: dict[tuple[str, str], tuple[str, str]] = {}
        self.unverifiable: list[str] = []

    def add(self, pair: PairFacts, name: str, after_name: str | None = None) -> None:
        """One written output's pair (``name``: the output's); ``after_name`` names it in
        the ``after`` collector (its own name by default)."""
        before, after = pair.shared()  # the file's geometry apart: no facts made per file
        if before is None or after is None:
            self.unverifiable.append(f"{name}: {pair.problem or 'not checked'}")
            return
        geometry_before, geometry_after = pair.geometry()
        key_before = self.before.add_facts(before, name, geometry_before)
        key_after = self.after.add_facts(after, after_name or name, geometry_after)
        self.link.setdefault(key_before, key_after)

    def add_moved(
        self,
        before: FileFacts,
        after: FileFacts,
        positions: list[tuple[float, ...] | None],
        names: list[str],
        after_names: list[str],
    ) -> None:
        """``add`` of consecutive pairs `PairFacts.moved` made of the same ``before`` and
        ``after`` (a series' files), at ``positions``: one step per run (`veil.batch.for_check`:
        6 -> ~3 us per file in the parent)."""
        geometry_before = at_positions(before.facts, positions)
        geometry_after = geometry_before
        if after.facts is not before.facts:  # (a plan that changed the geometry)
            geometry_after = at_positions(after.facts, positions)
        key_before = self.before.add_run(before, names, geometry_before)
        key_after = self.after.add_run(after, after_names, geometry_after)
        self.link.setdefault(key_before, key_after)

    def report(self, after: Sequence[SeriesResult] | None = None) -> RegressionReport:
        """The regressions; ``after``: the ``after`` collector's results, when the caller
        has them already (they are worked out once)."""
        results = after if after is not None else self.after.results()
        found = _regressions(self.before.results(), results, self.link)
        return RegressionReport(tuple(found), tuple(self.unverifiable))


def _regressions(
    before: Sequence[SeriesResult],
    after: Sequence[SeriesResult],
    link: dict[tuple[str, str], tuple[str, str]],
) -> list[Regression]:
    results_after = {key: series for series in after for key in series.members}
    found: list[Regression] = []
    for series in before:
        output_series = results_after.get(link.get(series.key, ("", "")))
        if output_series is None:
            continue
        found.extend(_lost_uses(series, output_series))
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


def _lost_uses(series: SeriesResult, output_series: SeriesResult) -> list[Regression]:
    found: list[Regression] = []
    for use in series.uses:
        now = output_series.use_by(use.profile)
        if use.use is Use.USED and now is not None and now.use is not Use.USED:
            # The destination would skip a series it used before: that is a loss too.
            found.append(
                Regression(
                    series=output_series.key[1] or output_series.label,
                    rule_id=f"{use.profile}/uses",
                    message=f"the destination no longer uses this series: {now.reason}",
                    before=Use.USED.value,
                    after=now.use.value,
                )
            )
    return found
