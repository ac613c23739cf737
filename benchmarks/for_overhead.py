"""What `veil deid --for neuroquant` costs over the same run without it, per file, in process.

    VEIL_KEY=<64 hex> python benchmarks/for_overhead.py [PATIENTS=4] [ROUNDS=3]

Runs `veil.batch.process_item` over the first PATIENTS patients of the benchmark corpus
(benchmarks/work/corpus-v6-p20-s7, outputs in /dev/shm) as a worker does (records pickled
per chunk of 32 and dropped, gc frozen after set-up), file by file interleaved: A = basic,
P = basic compiled with neuroquant but no facts (the plan's own cost), F = `--for
neuroquant` (facts per file). Then the parent's share of F: unpickling the records, the
regression check and the per-study verdicts after the batch (as before), and as `veil deid`
does them now: while the records arrive, then the tail (`veil.batch.for_check`). Prints CPU
ms per file.
"""

from __future__ import annotations

import gc
import os
import pickle
import shutil
import sys
import time
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "work" / "corpus-v6-p20-s7" / "dicom"


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> int:
    os.environ.setdefault("VEIL_KEY", "ab" * 32)
    from veil.batch import Job, process_item
    from veil.batch.for_check import ForCheck
    from veil.batch.study_verdicts import records_verdict
    from veil.io.inputs import iter_inputs
    from veil.io.quiet import configure_process
    from veil.keys import load_mapper
    from veil.pipeline import Outcome, check_facts, compile_policy
    from veil.policy import Layout

    configure_process()
    patients = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    items = list(iter_inputs(sorted(CORPUS.iterdir())[:patients]))
    mapper = load_mapper()
    basic, nq = compile_policy("basic", []), compile_policy("basic", ["neuroquant"])
    jobs = {
        name: Job(
            plan=compiled.plan,
            mapper=mapper,
            out=Path(f"/dev/shm/for-overhead-{name}"),
            layout=Layout.HIERARCHY,
            profiles=profiles,
        )
        for name, compiled, profiles in (("A", basic, ()), ("P", nq, ()), ("F", nq, nq.profiles))
    }
    for job in jobs.values():  # warm every cache and lazy import
        process_item(items[0], job)
        shutil.rmtree(job.out or "", ignore_errors=True)
    gc.collect()
    gc.freeze()
    cpu: dict[str, list[float]] = {name: [] for name in jobs}
    for round_ in range(rounds):
        spent = dict.fromkeys(jobs, 0.0)
        chunks: dict[str, list[object]] = {name: [] for name in jobs}
        sent: dict[str, list[bytes]] = {name: [] for name in jobs}
        order = list(jobs)
        for index, item in enumerate(items):
            order = order[1:] + order[:1]
            for name in order:
                start = time.process_time()
                chunks[name].append(process_item(item, jobs[name]))
                if len(chunks[name]) == 32 or index == len(items) - 1:
                    sent[name].append(pickle.dumps(chunks[name], pickle.HIGHEST_PROTOCOL))
                    chunks[name] = []
                spent[name] += time.process_time() - start
        for name, job in jobs.items():
            cpu[name].append(spent[name] / len(items) * 1e3)
            shutil.rmtree(job.out or "", ignore_errors=True)
        start = time.process_time()
        records = [record for blob in sent["F"] for record in pickle.loads(blob)]
        facts = [(r.check, r.output) for r in records if r.outcome is Outcome.WRITTEN and r.output]
        regressions = check_facts(nq.profiles, facts, True)
        verdict = records_verdict(nq.profiles, records, jobs["F"].out or Path(), True)
        parent = (time.process_time() - start) / len(items) * 1e3
        # `veil deid --for` today: each record aggregated as it arrives, then `finish` (the
        # serial tail after the last record).
        follow = ForCheck(nq.profiles, True, items, jobs["F"].out or Path())
        start = time.process_time()
        for record in records:
            follow.add(record)
        arriving = (time.process_time() - start) / len(items) * 1e3
        start = time.process_time()
        followed = follow.finish()
        tail = (time.process_time() - start) / len(items) * 1e3
        assert followed is not None and followed[1] == verdict
        size = sum(map(len, sent["F"])) / len(items)
        print(
            f"round {round_}: "
            + " ".join(f"{name} {cpu[name][-1]:.3f}" for name in jobs)
            + f" | parent F after the batch {parent:.3f} ms/file (unpickling included),"
            + f" followed {arriving:.3f} + tail {tail:.3f} | sent F {size:.0f} B/file"
            + f" | ok {regressions.ok} {verdict.ok} studies {len(verdict.studies)}",
            flush=True,
        )
    a, p, f = _median(cpu["A"]), _median(cpu["P"]), _median(cpu["F"])
    print(
        f"median worker CPU ms/file: basic {a:.3f}, plan {p:.3f} ({(p / a - 1) * 100:+.1f} %), "
        f"--for {f:.3f} ({(f / a - 1) * 100:+.1f} %); facts alone {f - p:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
