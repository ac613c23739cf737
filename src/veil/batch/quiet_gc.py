"""No full garbage collection in the parent while a `--for` batch's records pile up (issue 12).

Each record of `veil deid --for` carries its file's facts (~30 small objects: tuples, slices,
outcomes), unpickled in the parent and kept to the end, and the aggregation (`veil.batch.
for_check`) adds its own. Those allocations set off the parent's collector: 180 young
collections and a full one that walked every record, 90-170 ms of the parent's CPU on 4,120
files against 8 ms without `--for` (measured with gc.callbacks, 2026-12-04, a busy machine).
None of it is garbage: records and facts hold no cycles, and they live to the end of the run.

So the automatic collector is off inside the block, and `CollectingLater.tick` (once per
record) runs a young collection every `YOUNG_EVERY` records: the cyclic garbage the parent
makes while it waits (the pool's threads, the progress bar) is still freed, and each record
is walked once, young, then never again. Only for a batch in worker processes: a process that
de-identifies files itself makes cyclic garbage holding whole file buffers (`veil.worker_
tuning`), and the workers, which the parent may fork inside the block, turn their collector
back on (`tune_worker`).
"""

from __future__ import annotations

import gc
from types import TracebackType

from veil.batch.outcome import FileRecord

YOUNG_EVERY = 1024  # records (~30,000 young objects a collection: ~1-2 ms)


class CollectingLater:
    """A context: the automatic collector off inside (when ``quiet``), on again after."""

    def __init__(self, quiet: bool = True) -> None:
        self.quiet = quiet
        self.was_enabled = False
        self.count = 0

    def __enter__(self) -> CollectingLater:
        self.was_enabled = gc.isenabled()
        if self.quiet:
            gc.disable()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.quiet and self.was_enabled:
            gc.enable()

    def tick(self, _: FileRecord | None = None) -> None:
        """One record arrived: a young collection every `YOUNG_EVERY`."""
        self.count += 1
        if self.quiet and self.count % YOUNG_EVERY == 0:
            gc.collect(0)


def collecting_later(quiet: bool = True) -> CollectingLater:
    """`CollectingLater` (see the module)."""
    return CollectingLater(quiet)
