"""Profile veil's per-file path (read, de-identify, encode, [audit], write) in one process.

    VEIL_KEY=<64 hex> python benchmarks/profile_veil.py [--files 50] [--audit] [--top 30]
        [--for neuroquant] [--layout hierarchy|mirror]

Uses the cached benchmark corpus (run benchmarks/run.py once first, or it is generated here),
compiles the plan once, then runs `veil.batch.process_item` on the first N files of each
series under cProfile, with the work spread over both series (3D T1 and 2D T2). Prints the
top functions by cumulative and by own time; the full profile is saved to
benchmarks/work/veil.prof (open with `python -m pstats` or snakeviz). With `--for PROFILE`
the plan is compiled with that destination profile and the workers' requirement facts are
evaluated per file, as `veil deid --for` does.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import BENCH_KEY, WORK  # noqa: E402
from synth import generate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--audit", action="store_true", help="profile with the audit on")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--policy", default="basic")
    parser.add_argument(
        "--for",
        dest="for_profiles",
        action="append",
        default=[],
        metavar="PROFILE",
        help="a destination profile (veil deid --for): its facts are evaluated per file",
    )
    parser.add_argument(
        "--layout", choices=("hierarchy", "mirror"), default="hierarchy", help="as veil deid's"
    )
    args = parser.parse_args()
    os.environ.setdefault("VEIL_KEY", BENCH_KEY)

    from veil.batch import Job, process_item
    from veil.io.inputs import iter_inputs
    from veil.io.quiet import configure_process
    from veil.keys import load_mapper
    from veil.pipeline import compile_policy
    from veil.policy import Layout

    configure_process()
    info = generate(WORK, 1, 7)
    items = list(iter_inputs([info.root]))
    t1 = [i for i in items if "t1_" in i.relative]
    t2 = [i for i in items if "t2_" in i.relative]
    chosen = t1[: args.files * 4 // 5] + t2[: args.files - args.files * 4 // 5]
    out = WORK / "profile-out"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    compiled = compile_policy(args.policy, args.for_profiles)
    mapper = load_mapper()
    job = Job(
        plan=compiled.plan,
        mapper=mapper,
        out=out,
        layout=Layout(args.layout),
        audit=args.audit,
        profiles=compiled.profiles,
    )
    print(f"plan compiled in {time.perf_counter() - t0:.3f} s")

    process_item(chosen[0], job)  # warm caches and lazy imports outside the profile
    shutil.rmtree(out, ignore_errors=True)
    profiler = cProfile.Profile()
    t0 = time.perf_counter()
    profiler.enable()
    for item in chosen:
        record = process_item(item, job)
        if record.outcome.value != "written":
            print(f"{item.relative}: {record.outcome.value} {record.problem}")
    profiler.disable()
    wall = time.perf_counter() - t0
    print(
        f"{len(chosen)} files in {wall:.3f} s under cProfile "
        f"({wall / len(chosen) * 1e3:.1f} ms/file)"
    )

    # The same without the profiler, for the real per-file cost.
    shutil.rmtree(out, ignore_errors=True)
    t0, c0 = time.perf_counter(), time.process_time()
    for item in chosen:
        process_item(item, job)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(
        f"without profiler: {wall / len(chosen) * 1e3:.2f} ms/file wall, "
        f"{cpu / len(chosen) * 1e3:.2f} ms/file CPU (the steadier figure on a busy machine)"
    )
    shutil.rmtree(out, ignore_errors=True)

    profiler.dump_stats(WORK / "veil.prof")
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(args.top)
    stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
