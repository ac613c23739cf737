"""What neuroquant's plan costs by itself (no facts) over basic, per file, in process.

    VEIL_KEY=<64 hex> python benchmarks/plan_overhead.py [PATIENTS=4] [ROUNDS=7]

A worker's steps for one input (read, `veil.pipeline.deidentify_file`, `place_output`) over
the first PATIENTS patients of the benchmark corpus (outputs in /dev/shm), A = basic and
P = basic compiled with neuroquant but without `--for`'s facts, interleaved file by file (the
order alternated). Each file's median of ROUNDS is summed: with another process on the same
cores, round sums (benchmarks/for_overhead.py) swing by tens of us/file, a file's median does
not. Only P - A within one process is worth comparing: the malloc state of a process moves
both by tens of us between runs of the same code.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "work" / "corpus-v6-p20-s7" / "dicom"
STEPS = ("read", "deidentify", "place")


def main() -> int:
    os.environ.setdefault("VEIL_KEY", "ab" * 32)
    from veil.batch import Job
    from veil.batch.layout import place_output
    from veil.io.inputs import InputItem, iter_inputs
    from veil.io.quiet import configure_process
    from veil.keys import load_mapper
    from veil.pipeline import compile_policy, deidentify_file
    from veil.policy import Layout

    configure_process()
    patients = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    items = list(iter_inputs(sorted(CORPUS.iterdir())[:patients]))
    mapper = load_mapper()
    jobs = {
        name: Job(
            plan=compile_policy("basic", profiles).plan,
            mapper=mapper,
            out=Path(f"/dev/shm/plan-overhead-{name}"),
            layout=Layout.HIERARCHY,
            profiles=(),
        )
        for name, profiles in (("A", []), ("P", ["neuroquant"]))
    }
    clock = time.thread_time_ns

    def steps(item: InputItem, job: Job) -> tuple[int, int, int]:
        start = clock()
        data = item.read()
        read = clock()
        result = deidentify_file(data, item.display, job.settings)
        done = clock()
        place_output(
            job.out,
            job.layout,
            item.relative,
            data,
            result,
            job.mapper,
            options=job.plan.declared_options,
            overwrite=job.overwrite,
            sink=job.sink,
        )
        return read - start, done - read, clock() - done

    for job in jobs.values():  # every memo and lazy import warm, as in a worker's steady state
        for item in items:
            steps(item, job)
        shutil.rmtree(job.out or "", ignore_errors=True)
    gc.collect()
    gc.freeze()
    times: dict[str, list[list[tuple[int, int, int]]]] = {n: [[] for _ in items] for n in jobs}
    for round_ in range(rounds):
        for index, item in enumerate(items):
            for name in ("A", "P") if (index + round_) % 2 else ("P", "A"):
                times[name][index].append(steps(item, jobs[name]))
        for job in jobs.values():
            shutil.rmtree(job.out or "", ignore_errors=True)

    def total(name: str, step: int | None) -> float:
        """The sum over files of each file's median (of one step, or of all), us per file."""
        medians = []
        for runs in times[name]:
            values = sorted(sum(run) if step is None else run[step] for run in runs)
            medians.append(values[len(values) // 2])
        return sum(medians) / len(items) / 1e3

    for step, label in [*enumerate(STEPS), (None, "all")]:
        a, p = total("A", step), total("P", step)
        print(
            f"{label:10} A {a:7.1f} P {p:7.1f} us/file: "
            f"P - A {p - a:+5.1f} ({(p / a - 1) * 100:+.2f} %)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
