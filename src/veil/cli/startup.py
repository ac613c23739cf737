"""Process settings `veil` makes before it imports its commands, and after (issue 12).

Imported by `veil.cli` before pydicom, numpy and the commands load: ``import`` sets them as a
side effect, `imported` ends the import phase. Each is measured (2026-12-04, 2 cores):

- ``OPENBLAS_NUM_THREADS=1`` (unless the user set it): veil makes no BLAS call, yet OpenBLAS
  starts threads for the other cores when numpy loads, each spinning ~0.1 s before it sleeps.
  In `veil deid -j 2` that thread took 0.10 s of the parent's CPU (perf: 0.7 % of the run's
  samples), competing with the workers for the same cores; forked workers have no such thread.
- No garbage collection while importing, then ``gc.freeze()``: collecting during imports frees
  nothing (modules, classes, tables live as long as the process) yet ran 157 times for 52 ms
  of start-up, and every later full collection walked those ~54,000 objects again. Frozen,
  they are never walked: gc time of the import plus a run's worth of allocations 145-165 ms ->
  13-42 ms, CPU 512-577 ms -> 443-456 ms (3 interleaved runs). Forked workers inherit the
  frozen objects and never touch their pages for gc (CPython's advice before fork). Whatever
  cyclic garbage the process held when veil.cli was imported stays frozen too: nothing, when
  it is the `veil` command; a little, in a test process.

The command a run calls is imported later, when click looks it up (`veil.cli._LazyGroup`):
`importing` gives that import the same treatment.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
_GC_WAS_ENABLED = gc.isenabled()
gc.disable()


def imported() -> None:
    """The commands are imported: freeze what that built and collect again as before."""
    gc.freeze()
    if _GC_WAS_ENABLED:
        gc.enable()


@contextmanager
def importing() -> Iterator[None]:
    """No collection while the block imports; what it built frozen after (see the module)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()
