"""Worker processes (veil.parallel): forked from a process with one thread (they start with
its imports), from a forkserver otherwise (no lock of another thread copied held), and started
when ``parallel_map`` is called, so that a caller can start them before its own threads."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading

import pytest

from veil.parallel import _start_method, parallel_map


def _pid_and_square(value: int) -> tuple[int, int]:
    return os.getpid(), value * value


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_a_process_with_one_thread_forks_its_workers() -> None:
    code = "from veil.parallel import _start_method; print(_start_method())"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "fork"


def test_a_process_with_another_thread_never_forks_its_workers() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert _start_method() in ("forkserver", "spawn")
    finally:
        stop.set()
        thread.join()


def test_the_workers_start_when_parallel_map_is_called_and_stop_at_the_end() -> None:
    before = {p.pid for p in multiprocessing.active_children()}
    results = parallel_map(_pid_and_square, range(20), 2, ordered=True, chunksize=2)
    started = {p.pid for p in multiprocessing.active_children()} - before
    assert len(started) == 2  # before a single result was asked for
    answers = list(results)
    assert [square for _, square in answers] == [n * n for n in range(20)]
    assert {pid for pid, _ in answers} <= started
    assert not ({p.pid for p in multiprocessing.active_children()} & started)
