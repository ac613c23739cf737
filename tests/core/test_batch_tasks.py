"""What crosses the pipe to a batch's workers (veil.batch.runner): forked workers inherit the
inputs and get indices; the records are the same as a run in one process, and as a pool
that gets the inputs themselves (a forkserver's)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veil.batch.runner import guided_ranges

_RUN = """
import json, sys, threading
from pathlib import Path
from veil.batch import Job, Layout, run_batch, runner
from veil.io.inputs import iter_inputs
from veil.mapping import Mapper
from veil.pipeline import compile_policy

sent = []
real = runner.parallel_map
def recording(function, items, jobs, **kwargs):
    sent.append((function.__name__, type(items).__name__))
    return real(function, items, jobs, **kwargs)
runner.parallel_map = recording

source, out, jobs, thread = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
if thread == "thread":  # another thread: the pool takes a forkserver, inputs are pickled
    stop = threading.Event()
    threading.Thread(target=stop.wait, daemon=True).start()
items = list(iter_inputs([source]))
job = Job(compile_policy("basic", (), True).plan, Mapper(bytes(range(32))), out, Layout.HIERARCHY)
summary = run_batch(items, job, jobs=jobs, progress=False)
records = [(r.input, r.outcome.value, r.output, r.engine) for r in summary.records]
print(json.dumps({"sent": sent, "records": records}))
"""


def _run(source: Path, out: Path, jobs: int, thread: str = "") -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(source), str(out), str(jobs), thread or "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    import json

    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_forked_workers_get_indices_and_give_the_same_records(corpus: Path, tmp_path: Path) -> None:
    source = corpus / "dcm_qa_ge" / "05_3D_Ax_T1_MP_RAGE_R22"
    one = _run(source, tmp_path / "one", 1)
    forked = _run(source, tmp_path / "forked", 2)
    served = _run(source, tmp_path / "served", 2, "thread")
    assert one["sent"] == [["_run_one", "list"]]
    assert forked["sent"] == [["_run_range", "list"]]  # indices: the items are inherited
    assert served["sent"] == [["_run_one", "list"]]  # a forkserver's workers get the items
    records = one["records"]
    assert isinstance(records, list) and len(records) > 20
    assert forked["records"] == records and served["records"] == records
    assert sum(outcome == "written" for _, outcome, _, _ in records) > 20


@pytest.mark.parametrize(
    ("count", "jobs", "largest"), [(4120, 2, 32), (37, 2, 2), (1, 4, 8), (0, 2, 4)]
)
def test_guided_ranges_cover_every_index_once_and_shrink_to_one(
    count: int, jobs: int, largest: int
) -> None:
    bounds = guided_ranges(count, jobs, largest)
    assert [i for start, stop in bounds for i in range(start, stop)] == list(range(count))
    sizes = [stop - start for start, stop in bounds]
    assert all(0 < size <= largest for size in sizes)
    assert sizes == sorted(sizes, reverse=True)  # large first, the smallest last
    if count > jobs * 4:
        assert sizes[-1] == 1


@given(
    series=st.lists(st.integers(min_value=1, max_value=300), min_size=1, max_size=40),
    jobs=st.integers(min_value=1, max_value=8),
    largest=st.integers(min_value=1, max_value=600),
)
def test_ranges_of_folders_keep_a_series_whole_while_they_can(
    series: list[int], jobs: int, largest: int
) -> None:
    folders = [f"patient/series{n}" for n, size in enumerate(series) for _ in range(size)]
    count = len(folders)
    bounds = guided_ranges(count, jobs, largest, folders)
    assert [i for start, stop in bounds for i in range(start, stop)] == list(range(count))
    start_of = {folder: folders.index(folder) for folder in folders}
    for start, stop in bounds:
        guided = max(1, min(largest, (count - start) // (jobs * 4)))
        assert stop - start <= guided  # never longer than the range it stands for
        if stop < count and folders[stop] == folders[stop - 1]:
            # A range that ends inside a folder holds no folder end: the folder is longer.
            assert all(folders[i] == folders[i - 1] for i in range(start + 1, stop))
        elif stop < count:
            assert start_of[folders[stop]] == stop  # it ends where a folder ends


def test_the_benchmark_shape_gives_each_series_to_one_worker_while_ranges_are_long() -> None:
    # 20 patients x (176 T1 + 30 T2), two workers: the series whole until the last few.
    folders = [
        f"p{p}/{s}" for p in range(20) for s, size in (("t1", 176), ("t2", 30)) for _ in range(size)
    ]
    bounds = guided_ranges(len(folders), 2, 512, folders)
    split = {folders[stop] for _, stop in bounds[:-1] if folders[stop] == folders[stop - 1]}
    assert len(split) <= 8  # of 40 series: only the tail, where ranges shrink to one file
    assert bounds[0][1] - bounds[0][0] > 176
