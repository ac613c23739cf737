"""Pool workers run with gc's inherited objects frozen and glibc keeping freed memory
(veil.worker_tuning), and the pool's worker handler does not wake per result (veil.parallel):
speed settings that would otherwise regress without a test noticing."""

from __future__ import annotations

import gc
import platform
import subprocess
import sys

import pytest

from veil.parallel import parallel_map, process_pool

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"


def _frozen(_: int) -> int:
    return gc.get_freeze_count()


def test_workers_freeze_what_they_inherit() -> None:
    frozen_here = gc.get_freeze_count()
    counts = list(parallel_map(_frozen, range(4), 2, ordered=True, chunksize=1))
    # veil, pydicom and numpy are imported by then: tens of thousands of objects
    assert min(counts) > 10_000
    assert gc.get_freeze_count() == frozen_here  # the calling process is left as it was
    assert gc.isenabled()


_FAULTS = """
import resource, sys
from veil.worker_tuning import tune_worker

def one_file(size):  # a file's buffers: input, output and a copy of its size, freed in turn
    data = bytes(200_000 + size); out = bytes(230_000 + size); kept = [bytes(100)] * 50
    del data; copy = bytes(260_000); del out, copy
    return kept

if sys.argv[1] == "tuned":
    tune_worker()
for n in range(5):
    one_file(n)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for n in range(100):
    one_file(n * 64)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout)


@pytest.mark.skipif(not GLIBC, reason="glibc's mallopt")
def test_a_tuned_worker_keeps_freed_buffers_instead_of_faulting_them_in_again() -> None:
    # glibc's defaults give the heap back after each file and fault it in again: ~7,000
    # minor faults for these 100 files; tuned (as every pool worker is: the freeze test
    # above shows tune_worker ran there), a handful.
    assert _faults("default") > 2_000
    assert _faults("tuned") < 500


def test_the_worker_handler_waits_on_workers_and_the_pool_not_on_results() -> None:
    with process_pool(2) as pool:
        state = vars(pool)
        sentinels = pool._get_sentinels()  # type: ignore[attr-defined]
        # The result pipe stays readable until the result thread reads it: no busy wait on it.
        assert state["_outqueue"]._reader not in sentinels
        # The pool's notifier (closed, cache drained) still wakes the handler; the workers'
        # own sentinels are added by the handler itself on every round.
        assert sentinels == [state["_change_notifier"]._reader]
        assert pool.map(abs, [-1, -2, -3]) == [1, 2, 3]
