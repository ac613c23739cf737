"""Finding many byte needles in a file at once, ASCII letters compared without case.

``compile_needles(needles)`` gives a ``Matcher`` whose ``find(data, start, stop)`` returns every
``(offset, needle index)`` where a needle starts in ``[start, stop)``, ascending. Two
interchangeable backends give the same answers (tests compare them):

- ``c``: a small C kernel shipped with veil (``_multiscan.c``, built at install time): a 64 Ki-bit
  filter on the first two folded bytes of each needle, the data folded on the fly, no copy.
  Its routes (``ROUTES``, the fastest first, as the CPU supports them): ``avx2`` and ``ssse3``
  put a Teddy-style SIMD prefilter in front of that filter (0.015 and 0.028 ms for a 190 KB
  benchmark output with its ~150 needles: 12.4 and 6.7 GB/s); ``scalar`` is the filter alone,
  for other CPUs (0.14 ms, 1.35 GB/s; benchmarks/RESULTS.md). ``VEIL_SCAN_ROUTE=scalar`` (or
  ``ssse3``) forces a route, to rule a SIMD route out; the tests run every route.
- ``numpy``: the same filter as one vectorised pass over a folded copy; about three times slower
  and it allocates temporaries the size of the file. Used where the kernel could not be built.

Never ``bytes.find`` loops: one pass per needle costs 1-4 ms per file (measured). The
``hyperscan`` bindings were measured too (see benchmarks/RESULTS.md) and not taken: compiling a
database per set of needles costs more than scanning with the kernel.

Needles must be 2 bytes or longer and already lower case (ASCII); the data need not be.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

import numpy as np


class Matcher(Protocol):
    def find(self, data: bytes, start: int = 0, stop: int = ...) -> list[tuple[int, int]]: ...


_FOLD = np.arange(256, dtype=np.uint8)
_FOLD[ord("A") : ord("Z") + 1] += 32


class NumpyMatcher:
    """The numpy backend: a folded copy, one pass over its byte pairs, then exact compares."""

    def __init__(self, needles: Sequence[bytes]) -> None:
        self.needles = [bytes(n) for n in needles]
        if any(len(n) < 2 for n in self.needles):
            raise ValueError("needles must be 2 bytes or longer")
        self.table = np.zeros(65536, dtype=bool)
        self.by_pair: dict[int, list[int]] = {}
        for index, needle in enumerate(self.needles):
            folded = needle.translate(_FOLD_BYTES)
            pair = folded[0] | (folded[1] << 8)
            self.table[pair] = True
            self.by_pair.setdefault(pair, []).append(index)
        self.folded = [n.translate(_FOLD_BYTES) for n in self.needles]

    def __len__(self) -> int:
        return len(self.needles)

    def find(self, data: bytes, start: int = 0, stop: int | None = None) -> list[tuple[int, int]]:
        size = len(data)
        stop = size - 1 if stop is None else min(stop, size - 1)
        start = max(start, 0)
        if stop <= start or not self.needles:
            return []
        buf = _FOLD[np.frombuffer(data, dtype=np.uint8)]
        wide = buf[start : stop + 1].astype(np.uint16)
        pairs = wide[:-1] | (wide[1:] << 8)
        folded = buf.tobytes()
        hits: list[tuple[int, int]] = []
        for offset in (np.flatnonzero(self.table[pairs]) + start).tolist():
            pair = folded[offset] | (folded[offset + 1] << 8)
            for index in self.by_pair[pair]:
                if folded.startswith(self.folded[index], offset):
                    hits.append((offset, index))
        return hits


_FOLD_BYTES = bytes(_FOLD.tolist())


def _c_matcher() -> type | None:
    if os.environ.get("VEIL_SCAN_BACKEND", "") == "numpy":
        return None
    try:
        from veil.audit._multiscan import Matcher as CMatcher
    except ImportError:
        return None
    return CMatcher


def _c_routes() -> tuple[str, ...]:
    """The C kernel's routes on this CPU, the fastest first (none without the kernel)."""
    if _C is None:
        return ()
    from veil.audit._multiscan import ROUTES

    return ROUTES


_C = _c_matcher()
BACKEND = "c" if _C is not None else "numpy"
ROUTES = _c_routes()


def _route() -> str | None:
    """The C kernel's route: the fastest this CPU supports unless VEIL_SCAN_ROUTE names one
    (a route this CPU lacks, or a typo, gives ``scalar``: slower, never other answers)."""
    if not ROUTES:
        return None
    asked = os.environ.get("VEIL_SCAN_ROUTE", "")
    if not asked:
        return ROUTES[0]
    return asked if asked in ROUTES else "scalar"


ROUTE = _route()


def new_matcher(
    needles: Sequence[bytes], backend: str | None = None, route: str | None = None
) -> Matcher:
    """A matcher for ``needles`` with the chosen backend (default: the fastest available) and,
    for the C kernel, route (default ``ROUTE``; one of ``ROUTES``, else ValueError)."""
    chosen = backend or BACKEND
    if chosen == "c":
        if _C is None:
            raise RuntimeError("the C scan kernel is not built in this installation")
        return _C(needles, route or ROUTE)  # type: ignore[no-any-return]
    if chosen == "numpy":
        return NumpyMatcher(needles)
    raise ValueError(f"unknown scan backend {chosen!r}; use 'c' or 'numpy'")


@lru_cache(maxsize=8)
def compile_needles(needles: tuple[bytes, ...]) -> Matcher:
    """A matcher for ``needles``, cached (a few only: the needles of most files differ by
    their own instance UIDs; a C matcher costs ~2 us to build, its 8 KiB filter and a table
    of first pairs sized by the needle count)."""
    return new_matcher(needles)
