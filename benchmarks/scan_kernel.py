"""The audit's raw-byte scan alone, per route, on the real needles and outputs of benchmark files.

    VEIL_KEY=<64 hex> python benchmarks/scan_kernel.py [--files 300] [--passes 7]

Runs the fast path (audit on) over N files of the 20-patient benchmark corpus
(benchmarks/work/corpus-v6-p20-s7, made by benchmarks/run.py), keeps each file's needles (as
``veil.engine.fast.audit`` builds them) and its output, then times ``Matcher.find`` over all
of them for each route of the C kernel this CPU supports (``veil.audit.multiscan.ROUTES``)
and for the numpy backend: CPU ms per file and GB/s, best of the passes, and the time to
compile a file's needles. Every route must give the numpy backend's hits (checked).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import BENCH_KEY  # noqa: E402

CORPUS = HERE / "work" / "corpus-v6-p20-s7" / "dicom"


def capture(count: int) -> list[tuple[tuple[bytes, ...], bytes]]:
    """(needles, output) of ``count`` benchmark files, as the fast path's audit scans them."""
    from veil.engine.fast import audit as fast_audit
    from veil.engine.fast import deidentify_bytes
    from veil.keys import load_mapper
    from veil.pipeline import compile_policy

    files = sorted(CORPUS.rglob("*.dcm"))
    random.Random(7).shuffle(files)
    taken: list[tuple[tuple[bytes, ...], bytes]] = []
    original = fast_audit.reference_would_report

    def spy(encoded: bytes, found: dict[int, list[fast_audit.Found]]) -> bool:
        taken.append((fast_audit._needles(found)[0], encoded))
        return original(encoded, found)

    fast_audit.reference_would_report = spy
    try:
        plan = compile_policy("basic", []).plan
        mapper = load_mapper()
        for path in files[:count]:
            deidentify_bytes(path.read_bytes(), plan, mapper, audit=True)
    finally:
        fast_audit.reference_would_report = original
    return taken


def best_of(passes: int, work: list[tuple[object, bytes]]) -> float:
    best = float("inf")
    for _ in range(passes):
        start = time.process_time()
        for matcher, data in work:
            matcher.find(data)  # type: ignore[attr-defined]
        best = min(best, time.process_time() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--passes", type=int, default=7)
    args = parser.parse_args()
    os.environ.setdefault("VEIL_KEY", BENCH_KEY)
    if not CORPUS.is_dir():
        print(f"no benchmark corpus at {CORPUS}: run benchmarks/run.py once", file=sys.stderr)
        return 1
    from veil.audit import multiscan

    taken = capture(args.files)
    size = sum(len(data) for _, data in taken)
    needles = sum(len(keys) for keys, _ in taken) / len(taken)
    print(f"{len(taken)} files, {size / len(taken) / 1e3:.0f} KB and {needles:.0f} needles each")
    expected = [multiscan.new_matcher(keys, "numpy").find(data) for keys, data in taken]
    routes = [("c", route) for route in multiscan.ROUTES] + [("numpy", None)]
    for backend, route in routes:
        start = time.process_time()
        work = [(multiscan.new_matcher(keys, backend, route), data) for keys, data in taken]
        compile_ms = (time.process_time() - start) / len(taken) * 1e3
        hits = [matcher.find(data) for matcher, data in work]
        assert hits == expected, f"{backend} {route} differs from numpy"
        seconds = best_of(args.passes if backend == "c" else 2, work)  # type: ignore[arg-type]
        print(
            f"{backend:5} {route or '':6}: scan {seconds / len(taken) * 1e3:.4f} ms/file, "
            f"{size / seconds / 1e9:.2f} GB/s; compile {compile_ms:.4f} ms/file"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
