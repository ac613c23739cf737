"""What issue 10 adds to the node's work per received instance, in CPU time (user + sys).

- content digest: SHA-256 of the received file (instance versions), read again from the spool;
- registration: the store's call for one received instance (`record_instance`, which is
  `Studies.register` since issue 10: keyed digests of the UIDs, the content, the name and the
  birth date, in one transaction). Run it on an older tree for the figure before:
  ``PYTHONPATH=/path/to/old/src python benchmarks/node_intake.py --registration``;
- eligibility: the destination profile judged on the received study (headers, pixel data
  deferred), once per study, before de-identification.

Run: .venv/bin/python benchmarks/node_intake.py [--registration] [ROUNDS]
Figures are CPU milliseconds per instance (process time), the median of ROUNDS rounds
(default 5), on the corpus' GE 3D T1 study (130 MR images).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from veil.node.store import Sealer, Store

CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"
STUDY = CORPUS / "dcm_qa_ge" / "05_3D_Ax_T1_MP_RAGE_R22"
KEY = bytes(range(32))
MR = "1.2.840.10008.5.1.4.1.1.4"


def cpu_ms_per(count: int, work: Callable[[], object]) -> float:
    start = time.process_time()
    work()
    return (time.process_time() - start) * 1000.0 / count


def registration(count: int, rounds: int) -> float:
    """Median CPU ms to register one instance of a new study (SQLite in a temp folder)."""
    figures = []
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(rounds):
            store = Store.open(f"sqlite:///{folder}/r{round_}.db", Sealer(KEY))
            study = f"1.2.{round_}"

            def register(store: Store = store, study: str = study) -> None:
                for n in range(count):
                    store.studies.record_instance(
                        study, "KEY", "VEILP", f"{study}.{n}", MR, f"KEY/{n}.dcm"
                    )

            try:
                figures.append(cpu_ms_per(count, register))
            finally:
                store.close()
    return statistics.median(figures)


def main(args: list[str]) -> None:
    only_registration = "--registration" in args
    numbers = [a for a in args if a.isdigit()]
    rounds = int(numbers[0]) if numbers else 5
    files = sorted(p for p in STUDY.iterdir() if p.is_file() and p.name != "LICENSE")
    print(f"node intake, {len(files)} instances, median of {rounds} rounds (CPU ms/instance)")
    print(f"  registration             {registration(len(files), rounds):6.2f}")
    if only_registration:
        return
    from veil.check.profile import load_profile
    from veil.node.eligibility import judge
    from veil.node.spool import content_sha256

    megabytes = sum(p.stat().st_size for p in files) / 1e6
    named = [(p.name, p) for p in files]
    neuroquant = [load_profile("neuroquant")]
    digest = [
        cpu_ms_per(len(files), lambda: [content_sha256(p) for p in files]) for _ in range(rounds)
    ]
    judged = [cpu_ms_per(len(files), lambda: judge(named, neuroquant)) for _ in range(rounds)]
    print(f"  content digest (SHA-256) {statistics.median(digest):6.2f}   ({megabytes:.1f} MB)")
    print(f"  eligibility (neuroquant) {statistics.median(judged):6.2f}   (once per study)")


if __name__ == "__main__":
    main(sys.argv[1:])
