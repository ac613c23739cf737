"""Time one or more commands run side by side and report their peak memory.

`python benchmarks/measure.py RESULT.json CMD_JSON...` where each CMD_JSON is a JSON list
(argv). All commands start together; the wall time runs from the first start to the last
exit. This wrapper is itself a fresh process per measurement, so
`getrusage(RUSAGE_CHILDREN).ru_maxrss` covers only the measured commands: it is the peak RSS of
the largest single process among them and all their descendants (e.g. the biggest worker).
Because that misses the sum over parallel workers, the whole process tree's RSS (sum over
every live descendant, read from /proc) is also sampled every 20 ms and its peak reported.

veil's process pool runs under a forkserver (veil/parallel.py): its workers are children of
the forkserver, which veil starts and never waits for, so on veil's exit it would be handed
to init and its (and its workers') CPU time and peak RSS would never reach this process's
RUSAGE_CHILDREN (the CPU column then showed the parent alone, about 2 ms/file whatever the
path). This wrapper is therefore a child subreaper: orphaned descendants are re-parented to
it, and it reaps them all before reading its usage.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")
_PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _reap_orphans(timeout: float = 30.0) -> None:
    """Wait for descendants re-parented to this process (a forkserver and its workers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no child left: every descendant's usage is counted
        if pid == 0:
            time.sleep(0.02)


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The ppid is the 2nd field after the ")" that closes the command name.
        fields = stat[stat.rfind(b")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def _tree_rss(root: int) -> int:
    children = _children_map()
    total = 0
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            pass
        stack.extend(children.get(pid, []))
    return total


def main(argv: list[str]) -> int:
    result_path = Path(argv[0])
    commands = [json.loads(a) for a in argv[1:]]
    _become_subreaper()
    start = time.perf_counter()
    # stderr to temporary files, never a pipe: a chatty tool could fill it and block.
    logs = [tempfile.TemporaryFile() for _ in commands]  # noqa: SIM115
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log)
        for cmd, log in zip(commands, logs, strict=True)
    ]
    peak_tree = 0
    me = os.getpid()
    while any(p.poll() is None for p in procs):
        peak_tree = max(peak_tree, _tree_rss(me))
        time.sleep(0.02)
    wall = time.perf_counter() - start
    _reap_orphans()
    errors = []
    for log in logs:
        log.seek(0)
        errors.append(log.read()[-2000:].decode(errors="replace"))
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = {
        "wall_s": wall,
        "returncodes": [p.returncode for p in procs],
        "max_rss_largest_process_mb": usage.ru_maxrss / 1024.0,
        "peak_tree_rss_mb": peak_tree / 1048576.0,
        "cpu_user_s": usage.ru_utime,
        "cpu_sys_s": usage.ru_stime,
        "stderr_tail": errors,
    }
    result_path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
