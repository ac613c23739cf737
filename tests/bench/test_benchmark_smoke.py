"""The benchmark still runs (DESIGN definition of done): `benchmarks/run.py --quick`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_quick_benchmark_runs_and_prints_the_figures() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "veil" in output and "files/s" in output and "cp" in output
