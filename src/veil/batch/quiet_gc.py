"""No garbage collection in the parent while a `--for` batch's records pile up (issue 12).

Each record of `veil deid --for` carries its file's facts (~30 small objects: tuples, slices,
outcomes), unpickled in the parent and kept to the end, and the aggregation (`veil.batch.
for_check`) adds its own. Those allocations set off the parent's collector: 180 young
collections and a full one that walked every record, 90-170 ms of the parent's CPU on 4,120
files against 8 ms without `--for` (measured with gc.callbacks, 2026-12-04, a busy machine).
None of it is garbage: records and facts hold no cycles, and they live to the end of the run.
The parent's other allocations while it waits (the pool's threads, the progress bar) make
little cyclic garbage, collected as usual once the block ends.

Only for a batch in worker processes: a process that de-identifies files itself makes cyclic
garbage holding whole file buffers (`veil.worker_tuning`), and the workers, which the parent
may fork inside the block, turn their collector back on (`tune_worker`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collecting_later(quiet: bool = True) -> Iterator[None]:
    """No collection inside the block (when ``quiet``); collections as before after it."""
    was_enabled = gc.isenabled()
    if quiet:
        gc.disable()
    try:
        yield
    finally:
        if quiet and was_enabled:
            gc.enable()
