"""Worker processes for batches: one way to start them, safe beside threads.

`fork` copies a process with all its threads' locks in whatever state they are in: rich's
progress bar refreshes from a thread, and a child forked while that thread holds a lock (the
console's, logging's) can hang for ever. `forkserver` forks children from a clean server
process started before any such thread; `spawn` (where there is no forkserver) starts fresh
interpreters. Either way a child imports veil again and gets its state through the pool's
initializer, never by inheritance.

Except when nothing can hold such a lock: a process with a single thread. Then `fork` is
used, and the workers start with everything the parent imported (a forkserver imports
pydicom, numpy and the pipeline once more: ~1.2 s of CPU per run here, 1.5 ms per file of an
800-file batch; measured, issue 12). ``parallel_map`` therefore starts the workers when it
is called, not when its first result is asked for: a caller that creates the pool before
starting its progress bar's thread gets `fork`. Multiprocessing's pool starts its own threads
after its workers; it forks again only to replace a worker that died, which already loses
that worker's tasks.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterable, Iterator
from multiprocessing.pool import Pool
from typing import Any, TypeVar

from veil.io.quiet import configure_process
from veil.worker_tuning import tune_worker

T = TypeVar("T")
R = TypeVar("R")


def _start_method() -> str:
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"  # no other thread: no lock can be copied held
    return "forkserver" if "forkserver" in methods else "spawn"


def forks() -> bool:
    """Whether a pool started now forks its workers from this process: then they inherit
    what it holds, and the initializer's arguments are never pickled."""
    return _start_method() == "fork"


def _init_child(initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    configure_process()  # a fresh interpreter: pydicom's settings are set again here
    if initializer is not None:
        initializer(*initargs)
    # After the initializer: the job it installed (plan, tables) is frozen with the imports.
    tune_worker()  # gc and allocator settings for a process that only runs items (measured)


def process_pool(
    jobs: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Pool:
    """A pool of ``jobs`` worker processes, each configured like the parent (`configure_process`)
    and then given ``initializer(*initargs)``; use it as a context manager."""
    method = _start_method()
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        # The server imports veil's pipeline once; each worker forks from it with pydicom,
        # the engine and the audit already imported (measured: benchmarks/RESULTS.md).
        context.set_forkserver_preload(["veil.pipeline"])
    return _Pool(jobs, _init_child, (initializer, initargs), context=context)


class _Pool(Pool):
    """multiprocessing's pool, without its worker handler's busy wait.

    The handler thread (it replaces workers that die) also waits on the result pipe, which
    stays readable until the result handler has read it: for each result the handler spun
    through ``_maintain_pool`` meanwhile, 0.13-0.16 s of the parent's CPU per 4,120-file
    `veil deid -j 2`, taken from the two workers' cores (per-thread CPU from /proc, 2
    interleaved runs each; 0.00 s without; issue 12, 2026-12-04). It needs no wake-up per
    result: a dead worker's sentinel and the pool's own notifier (closed, cache drained)
    still wake it (tests/core/test_worker_tuning.py).
    """

    def _get_sentinels(self) -> list[Any]:
        notifier: Any = vars(self)["_change_notifier"]
        return [notifier._reader]


def parallel_map(
    function: Callable[[T], R],
    items: Iterable[T],
    jobs: int,
    *,
    ordered: bool = False,
    chunksize: int = 4,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
) -> Iterator[R]:
    """``function`` over ``items`` on ``jobs`` processes: results as they finish, or in the
    items' order with ``ordered``. With ``jobs`` 1 everything runs here, in order. The workers
    start now (see the module's docstring); iterate the result to the end or close it."""
    if jobs <= 1:
        return _serial(function, items, initializer, initargs)
    pool = process_pool(jobs, initializer, initargs)
    return _pooled(pool, function, items, ordered, chunksize)


def _serial(
    function: Callable[[T], R],
    items: Iterable[T],
    initializer: Callable[..., None] | None,
    initargs: tuple[Any, ...],
) -> Iterator[R]:
    if initializer is not None:
        initializer(*initargs)
    yield from map(function, items)


def _pooled(
    pool: Pool, function: Callable[[T], R], items: Iterable[T], ordered: bool, chunksize: int
) -> Iterator[R]:
    with pool:
        mapper = pool.imap if ordered else pool.imap_unordered
        yield from mapper(function, items, chunksize=chunksize)
