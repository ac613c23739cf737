"""Per-process settings for a batch worker: the garbage collector and glibc's allocator.

Both are process-wide and only pay in a process that does nothing but one batch's files, so
`veil.parallel` applies them in its pool workers (`tune_worker`) and nowhere else: the CLI's
own process (see veil.cli.startup for its gc), the console's server and library callers keep
glibc's defaults and their own collector settings.

Measured on the 4,120-file benchmark corpus (`veil deid -j 2`, issue 12, 2026-12-04):

- ``gc.freeze()``: a worker starts with the ~54,000 container objects its parent imported
  (pydicom, numpy, the engine, the audit's tables) and its job. Every older-generation
  collection walked them all; frozen, they are never walked again. Collection time: 0.034-
  0.074 ms per file -> 0.009-0.022 ms (gc callbacks timed in-process, 4 interleaved rounds of
  1,500 files), i.e. ~1.5 % of a worker's 2.3 ms per file. The thresholds stay Python's: a
  gen-0 threshold of 10,000 let cyclic garbage holding whole file buffers pile up (peak RSS
  70 -> 144 MiB per worker, minor faults x10), for nothing.
- glibc ``mallopt``: each file allocates and frees a few buffers of its size (~200 KB: the
  input bytes, the output, the audit's copy). With glibc's defaults the heap top is trimmed
  back to the kernel after such a free, so the next file faults its pages in again: 51 minor
  page faults per file, 228,000 in the workers of one run. A fixed 16 MiB mmap threshold and a
  32 MiB trim threshold keep those pages: 2.2 faults per file, 14,500 per run; peak RSS per
  worker unchanged (69-70 MiB).
"""

from __future__ import annotations

import ctypes
import gc
import platform
import sys

# mallopt(3) parameter numbers (glibc's <malloc.h>).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
# Above these sizes memory still goes straight back to the kernel: a worker's heap keeps at
# most 32 MiB it does not use, and a file bigger than 16 MiB gets its own mapping, as before.
TRIM_THRESHOLD = 32 * 1024 * 1024
MMAP_THRESHOLD = 16 * 1024 * 1024


def tune_worker() -> None:
    """Settings for a process that runs batch items until its pool ends (see the module)."""
    gc.freeze()  # everything inherited: never collected, never walked again
    # Collected here even when the parent forked us with its collector off (`veil deid
    # --for` turns it off in the parent during the batch: veil.batch.quiet_gc).
    gc.enable()
    _keep_freed_memory()


def _keep_freed_memory() -> bool:
    """Set glibc's trim and mmap thresholds; False (and nothing changed) on another libc."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this interpreter is linked with
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; both are plain tuning values, never a reason to fail.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
