"""`veil deid --for`'s regressions and per-study verdicts, aggregated while the batch runs.

The parent waits on its workers most of a run; aggregated only after the batch, the records'
facts cost it ~0.05 ms per file serially at the end (0.2 s on 4,120 files, issue 12). Here
each record is aggregated as it arrives, in the order the batch reports them (the inputs'
order: records that arrive early wait for those before them, so every series gets its files,
frames and "first file" exactly as `records_verdict` and `check_facts` would give them), and
the outputs' "after" facts are aggregated once for both the regressions and the verdicts.

Whatever this cannot follow exactly (two inputs of one name, a record of no input, a record
missing at the end, a pair with one side only) makes `finish` give None: the caller then
aggregates the records after the batch as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from veil.batch.outcome import FileRecord
from veil.batch.study_verdicts import OutputVerdict, from_report, output_name
from veil.check.evaluate import Collector, FileFacts
from veil.check.model import RequirementProfile
from veil.check.regression import PairCollector, PairFacts, RegressionReport
from veil.check.run import collected_report
from veil.io.inputs import InputItem, iter_inputs
from veil.pipeline import Outcome

_NO_FACTS = PairFacts.failed("no check facts")  # as `veil.pipeline.check_facts` says


@dataclass
class _Run:
    """Consecutive records whose pairs `PairFacts.moved` made of the same shared facts."""

    before: FileFacts
    after: FileFacts
    positions: list[tuple[float, ...] | None]
    names: list[str]  # the outputs' relative names (the regressions' names)
    after_names: list[str]  # their full names (the verdict's)


class ForCheck:
    """Feed it every record of a batch over ``items`` (`run_batch`'s ``on_record``), then
    `finish`: the regressions and the verdict of the outputs under ``folder``."""

    def __init__(
        self,
        profiles: Sequence[RequirementProfile],
        quality_checks: bool,
        items: Sequence[InputItem],
        folder: Path,
    ) -> None:
        self.folder = folder
        self.after = Collector(profiles, quality_checks, checks={})  # shared with before
        self.pairs = PairCollector(profiles, quality_checks, self.after)
        self.read: set[str] = set()
        self.without: list[Path] = []  # outputs without "after" facts: read at the end
        self.folders: dict[str, str] = {}
        self.order = {item.display: index for index, item in enumerate(items)}
        self.count = len(items)
        self.exact = len(self.order) == self.count  # else the batch's order is arrival's
        self.waiting: dict[int, FileRecord] = {}
        self.next = 0
        self.run: _Run | None = None  # consecutive pairs of one series, not yet aggregated

    def add(self, record: FileRecord) -> None:
        """One record, in any order; aggregated once every record before it is."""
        index = self.order.get(record.input)
        if not self.exact or index is None or index < self.next or index in self.waiting:
            self.exact = False
            return
        self.waiting[index] = record
        while self.next in self.waiting:
            self._aggregate(self.waiting.pop(self.next))
            self.next += 1

    def _aggregate(self, record: FileRecord) -> None:
        if record.outcome is not Outcome.WRITTEN or not record.output:
            return
        pair = record.check or _NO_FACTS
        before, after = pair.shared()  # (as sent: no facts made per file)
        if (before is None) != (after is None):
            self.exact = False  # the regressions would skip an output the verdict counts
            return
        name = output_name(self.folder, record.output, self.folders)
        if after is None:
            self.without.append(self.folder / record.output)
        else:
            self.read.add(name)
        moved = pair.position()
        if moved and before is not None and after is not None:
            # A series' files, one after the other: aggregated as one run (`add_moved`).
            run = self.run
            if run is not None and run.before is before and run.after is after:
                run.positions.append(moved[0])
                run.names.append(record.output)
                run.after_names.append(name)
                return
            self._flush()
            self.run = _Run(before, after, [moved[0]], [record.output], [name])
            return
        self._flush()
        self.pairs.add(pair, record.output, name)

    def _flush(self) -> None:
        run, self.run = self.run, None
        if run is not None:
            self.pairs.add_moved(run.before, run.after, run.positions, run.names, run.after_names)

    def finish(self) -> tuple[RegressionReport, OutputVerdict] | None:
        """The regressions and the verdict, as `check_facts` and `records_verdict` give them
        on the batch's records; None when the records did not allow following them."""
        self._flush()
        if not self.exact or self.next != self.count or self.waiting:
            return None
        after = self.after.results()
        regressions = self.pairs.report(after)
        items = iter_inputs(self.without) if self.without else ()
        report = collected_report(self.after, self.read, items, used_files=False, series=after)
        return regressions, from_report(report, self.folder)
