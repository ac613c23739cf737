"""Helpers for the attack tests: bombs, a CLI run with its peak memory, a less privileged run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import CORPUS, TEST_KEY

# `python -m veil`, reporting its own peak memory (VmHWM) at exit into $VEIL_TEST_HWM. Not
# wait4's ru_maxrss: on Linux that keeps the high-water mark of the (large) pytest process
# the child was forked from, whatever the child itself uses.
LAUNCHER = """
import atexit, os, runpy, sys

def _peak():
    with open('/proc/self/status') as status:
        kib = next(int(line.split()[1]) for line in status if line.startswith('VmHWM:'))
    with open(os.environ['VEIL_TEST_HWM'], 'w') as out:
        out.write(str(kib))

atexit.register(_peak)
sys.argv = ['veil', *sys.argv[1:]]
runpy.run_module('veil', run_name='__main__', alter_sys=True)
"""
VEIL = [sys.executable, "-c", LAUNCHER]
GE_T1 = CORPUS / "dcm_qa_ge" / "05_3D_Ax_T1_MP_RAGE_R22"
ZEROS_MIB = 384  # what a bomb expands to: enough to see in memory, cheap to build (~1 s)


def real_files(count: int) -> list[Path]:
    return sorted(p for p in GE_T1.iterdir() if p.is_file())[:count]


def copy_real(folder: Path, count: int = 1) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(p, folder / p.name)) for p in real_files(count)]


def zip_bomb(path: Path, member: str = "bomb.dcm") -> Path:
    """A zip of ~400 KB whose one member expands to ZEROS_MIB MiB of zeros."""
    chunk = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open(member, "w", force_zip64=True) as handle,
    ):
        for _ in range(ZEROS_MIB):
            handle.write(chunk)
    return path


def gzip_bomb(path: Path) -> Path:
    chunk = b"\0" * (1 << 20)
    engine = zlib.compressobj(9, zlib.DEFLATED, 31)
    with path.open("wb") as handle:
        for _ in range(ZEROS_MIB):
            handle.write(engine.compress(chunk))
        handle.write(engine.flush())
    return path


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str
    max_rss_mib: float
    cpu_seconds: float


def run_measured(
    *args: str | os.PathLike[str],
    timeout: float = 60,
    prefix: tuple[str, ...] = (),
    cwd: Path | None = None,
    env: dict[str, str | None] | None = None,
) -> Run:
    """Run `veil ARGS` as a user would; its output, exit code, peak memory and CPU time.

    ``env`` adds to (a value of None: removes from) the environment, whose VEIL_KEY is the
    tests' key. Peak memory is the child's own VmHWM (see LAUNCHER; 0 when it was killed
    before reporting), CPU time its own from wait4. A run that outlives ``timeout``
    is killed and comes back with exit code -9 (a hang is a failure of the guard under test).
    """
    peak_file = Path(tempfile.mkstemp(prefix="veil-hwm-")[1])
    merged = {
        **os.environ,
        "VEIL_KEY": TEST_KEY,
        "COLUMNS": "200",
        "VEIL_TEST_HWM": str(peak_file),
        **(env or {}),
    }
    environment = {name: value for name, value in merged.items() if value is not None}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [*prefix, *VEIL, *map(str, args)],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=environment,
            cwd=cwd,
        )
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        process.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    text = peak_file.read_text().strip()
    peak_file.unlink(missing_ok=True)
    return Run(code, stdout, stderr, int(text or 0) / 1024, usage.ru_utime + usage.ru_stime)


def without_dac_override() -> tuple[str, ...]:
    """A command prefix that runs as this user but without root's right to read anything
    (so a folder with mode 000 is really unreadable, even under root in CI)."""
    if os.geteuid() != 0:
        return ()
    return ("setpriv", "--bounding-set", "-dac_override,-dac_read_search")


def wait_until(condition: object, timeout: float = 30.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(step)
    return bool(condition())  # type: ignore[operator]
