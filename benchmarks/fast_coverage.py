"""CPU ms per file of corpus files on the fast path against the reference path (issue 12).

    .venv/bin/python benchmarks/fast_coverage.py FILE_LIST [--for dcm2niix] [--repeat 5]

Every file of FILE_LIST (one path a line) is de-identified in process with the audit on, by
``deidentify_file`` with the fast path first (``Engine.AUTO``) and with the reference path
only (``Engine.REFERENCE``), interleaved file by file after a warm-up run, ``repeat`` times;
prints the median CPU time (user + sys) per file of each, and how many files the fast path
took (a file handed over costs both paths' time on the first line).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

from veil.check.profile import load_profile
from veil.mapping import Mapper
from veil.pipeline import FAST, Engine, Settings, deidentify_file
from veil.policy import compile_plan, load_policy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("files", type=Path)
    parser.add_argument("--for", dest="profile", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    profiles = [load_profile(args.profile)] if args.profile else []
    plan = compile_plan(load_policy("basic"), profiles)
    mapper = Mapper(bytes(range(32)))
    data = [Path(line).read_bytes() for line in args.files.read_text().split()]
    engines = {
        "fast path first": Settings(plan, mapper, engine=Engine.AUTO),
        "reference path": Settings(plan, mapper, engine=Engine.REFERENCE),
    }
    taken = sum(
        deidentify_file(d, "x.dcm", engines["fast path first"]).engine == FAST for d in data
    )
    totals: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.repeat):
        spent = dict.fromkeys(engines, 0.0)
        for item in data:
            for name, settings in engines.items():
                start = time.process_time()
                deidentify_file(item, "x.dcm", settings)
                spent[name] += time.process_time() - start
        for name in engines:
            totals[name].append(spent[name] * 1000 / len(data))
    print(f"{len(data)} files, {taken} on the fast path")
    for name, runs in totals.items():
        print(f"{name:16} {statistics.median(runs):7.2f} ms CPU/file (median of {len(runs)})")


if __name__ == "__main__":
    main()
