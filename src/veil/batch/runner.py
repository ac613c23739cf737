"""Running a batch: inputs -> worker processes -> output folder, with progress and a report."""

from __future__ import annotations

import json
import time
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from veil import __version__
from veil.batch.executor import Executor
from veil.batch.job import Job
from veil.batch.outcome import FileRecord
from veil.batch.worker import internal_error, process_item
from veil.io.atomic import write_atomic
from veil.io.inputs import InputItem
from veil.parallel import forks, parallel_map
from veil.pipeline import Outcome

_JOB: Job | None = None
_ITEMS: Sequence[InputItem] = ()


def _init_worker(job: Job, items: Sequence[InputItem] = ()) -> None:
    global _JOB, _ITEMS
    _JOB, _ITEMS = job, items


def _run_one(item: InputItem) -> FileRecord:
    try:
        if _JOB is None:  # the pool's initializer sets it before any item
            raise RuntimeError("worker started without its job")
        return process_item(item, _JOB)
    except Exception as exc:
        return internal_error(item, exc)


def _run_range(bounds: tuple[int, int]) -> list[FileRecord]:
    return [_run_one(_ITEMS[index]) for index in range(*bounds)]


def guided_ranges(
    count: int, jobs: int, largest: int, folders: Sequence[str] | None = None
) -> list[tuple[int, int]]:
    """``range(count)`` cut into consecutive (start, stop) ranges of at most ``largest``
    indices, each at most a quarter of what is left per worker: the last ones shrink to one
    index, so the workers finish together instead of one of them running a last full chunk
    alone (half a chunk of idle core on average: ~17 ms a run at 32 files of ~1.1 ms).

    ``folders`` (each index's folder: a series, as scanners and PACS export) make a range end
    where a folder does when one ends inside it: while ranges are longer than a series, each
    series goes to one worker whole, and the workers' per-series memos (`--for`'s facts, the
    output names, the audit's needles) miss once per series instead of once per series and
    worker. On the benchmark corpus (40 series of 30 and 176 files, `-j 2`) `--for`'s facts
    memo missed 158 times at ~1.3 ms with ranges of 32, 48 times with these (issue 12)."""
    ends = (
        [index for index in range(1, count) if folders[index] != folders[index - 1]]
        if folders is not None
        else []
    )
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < count:
        size = max(1, min(largest, (count - start) // (max(jobs, 1) * 4)))
        stop = start + size
        if stop < count:
            # The last folder end within the range, if any (bisect: ends are sorted).
            at = bisect_right(ends, stop) - 1
            if at >= 0 and ends[at] > start:
                stop = ends[at]
        bounds.append((start, stop))
        start = stop
    return bounds


class _Throughput(ProgressColumn):
    """MB/s over the whole run so far (the task's 'completed' counts files, 'bytes' field MB)."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        done = float(task.fields.get("bytes", 0))
        rate = done / elapsed / 1e6 if elapsed > 0 else 0.0
        return Text(f"{rate:6.1f} MB/s", style="cyan")


@dataclass
class BatchSummary:
    """Counts, speed and the per-file records of one run."""

    records: list[FileRecord]
    seconds: float
    jobs: int
    regressions: list[dict[str, Any]] = field(default_factory=list)
    # Outputs the destination check could not evaluate: not known to be good (fail closed).
    unverifiable: list[str] = field(default_factory=list)
    # Cluster runs: where the per-group manifests are; above ``inline_limit`` files the report
    # lists only the files that were not written and points there for the rest.
    manifests: str | None = None
    inline_limit: int = 100_000

    @property
    def counts(self) -> Counter[Outcome]:
        return Counter(r.outcome for r in self.records)

    @property
    def bytes_in(self) -> int:
        return sum(r.size for r in self.records)

    @property
    def incomplete_studies(self) -> list[str]:
        """De-identified study UIDs with a quarantined or failed file: never a whole study."""
        bad = {
            r.study
            for r in self.records
            if r.outcome in (Outcome.QUARANTINED, Outcome.FAILED) and r.study
        }
        return sorted(bad)

    @property
    def studies(self) -> dict[str, dict[str, int]]:
        table: dict[str, Counter[str]] = defaultdict(Counter)
        for record in self.records:
            if record.study:
                table[record.study][record.outcome.value] += 1
        return {study: dict(counter) for study, counter in sorted(table.items())}

    @property
    def engines(self) -> tuple[int, Counter[str]]:
        """Files written by the fast path, and why the others took the reference path."""
        fast = sum(1 for r in self.records if r.engine == "fast")
        full = Counter(
            r.engine.removeprefix("full: ") for r in self.records if r.engine.startswith("full")
        )
        return fast, full

    @property
    def ok(self) -> bool:
        counts = self.counts
        return not (
            counts[Outcome.FAILED]
            or counts[Outcome.QUARANTINED]
            or self.regressions
            or self.unverifiable
        )

    @property
    def burned_in(self) -> dict[str, int]:
        """Burned-in text across the run: files at risk, and what the pixel step did."""
        table = {"at_risk": sum(1 for r in self.records if r.burned_in.at_risk)}
        for record in self.records:
            if record.pixels is not None:
                key = record.pixels.status.value
                table[key] = table.get(key, 0) + 1
        table["at_risk_not_cleaned_written"] = sum(
            1
            for r in self.records
            if r.burned_in.at_risk
            and r.outcome is Outcome.WRITTEN
            and (r.pixels is None or r.pixels.status.value == "not-scanned")
        )
        return table

    def rates(self) -> tuple[float, float]:
        seconds = max(self.seconds, 1e-9)
        return len(self.records) / seconds, self.bytes_in / seconds / 1e6

    def to_dict(self, job: Job) -> dict[str, Any]:
        files_per_s, mb_per_s = self.rates()
        incomplete = set(self.incomplete_studies)
        # Each of these passes over every record: once each, not once per use (5 outcomes).
        outcomes, (fast, full) = self.counts, self.engines
        return {
            "veil": __version__,
            "policy": job.plan.policy_name,
            "requirements": list(job.plan.requirement_names),
            "key_fingerprint": job.mapper.fingerprint(),
            "audit": job.audit,
            "layout": job.layout.value,
            "counts": {outcome.value: outcomes[outcome] for outcome in Outcome},
            "seconds": round(self.seconds, 3),
            "files_per_second": round(files_per_s, 1),
            "mb_per_second": round(mb_per_s, 1),
            "studies": [
                {"study": study, "complete": study not in incomplete, "files": counts}
                for study, counts in self.studies.items()
            ],
            "engine": {"fast_path": fast, "reference_path": dict(full.most_common())},
            "check_regressions": self.regressions,
            "check_unverifiable": self.unverifiable,
            "burned_in_text": {"policy": job.plan.pixels.describe(), **self.burned_in},
            **self._files(),
        }

    def _files(self) -> dict[str, Any]:
        if self.manifests is None or len(self.records) <= self.inline_limit:
            return {"files": [record.to_dict() for record in self.records]}
        return {
            "files": [r.to_dict() for r in self.records if r.outcome is not Outcome.WRITTEN],
            "files_listed": "not written only",
            "files_manifests": self.manifests,
        }


def write_report(path: Path, data: dict[str, Any]) -> None:
    """Write the JSON report atomically."""
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


# The most files a forked worker takes at once (a few series; the results of a range cross
# the pipe together: ~350 bytes a file with `--for`'s facts).
SERIES_RANGE = 512


def _folder(item: InputItem) -> str:
    return item.display.rpartition("/")[0]


def _records(items: Sequence[InputItem], job: Job, jobs: int) -> Iterable[FileRecord]:
    # Chunks of up to 32 files: each result crosses a pipe, and at 4 per chunk the parent's
    # traffic cost 0.8 s per 4,000 files (measured, issue 12); a chunk per process and per
    # eighth of the work keeps the progress bar live and the load even. Forked workers take
    # ranges of whole series instead, up to SERIES_RANGE files (`guided_ranges`).
    chunk = max(1, min(32, len(items) // (max(jobs, 1) * 8)))
    jobs = jobs if len(items) > 1 else 1
    if jobs > 1 and forks():
        # Forked workers get the items with the initializer's arguments, inherited, never
        # pickled; a task is then a range of indices. Pickling the items cost the parent 5.7 ms
        # and the workers 5.1 ms per 4,120 files (197 bytes an item; measured, issue 12).
        chunks = parallel_map(
            _run_range,
            guided_ranges(len(items), jobs, SERIES_RANGE, [_folder(i) for i in items]),
            jobs,
            chunksize=1,
            initializer=_init_worker,
            initargs=(job, items),
        )  # (called here: the workers start now, see veil.parallel)
        return chain.from_iterable(chunks)
    return parallel_map(
        _run_one, items, jobs, chunksize=chunk, initializer=_init_worker, initargs=(job,)
    )


@dataclass(frozen=True)
class LocalPool:
    """Today's executor: worker processes on this machine (see _records)."""

    jobs: int = 1

    @property
    def workers(self) -> int:
        return self.jobs

    def records(self, items: Sequence[InputItem], job: Job) -> Iterable[FileRecord]:
        return _records(items, job, self.jobs)


def run_batch(
    items: Sequence[InputItem],
    job: Job,
    *,
    jobs: int = 1,
    console: Console | None = None,
    progress: bool = True,
    on_record: Callable[[FileRecord], None] | None = None,
    executor: Executor | None = None,
) -> BatchSummary:
    """De-identify every item into ``job.out``; one bad file never stops the others."""
    console = console or Console(stderr=True)
    records: list[FileRecord] = []
    started = time.perf_counter()
    bar = Progress(
        TextColumn("[bold]veil deid"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files"),
        _Throughput(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        disable=not progress,
        transient=False,
    )
    # The workers start before the progress bar's thread (veil.parallel: then they fork).
    pool = executor or LocalPool(jobs)
    results = pool.records(items, job)
    with bar:
        task = bar.add_task("deid", total=len(items), bytes=0)
        done_bytes = 0
        for record in results:
            records.append(record)
            done_bytes += record.size
            bar.update(task, advance=1, bytes=done_bytes)
            if on_record is not None:
                on_record(record)
    order = {item.display: index for index, item in enumerate(items)}
    records.sort(key=lambda r: order.get(r.input, 0))
    return BatchSummary(records, time.perf_counter() - started, pool.workers)
