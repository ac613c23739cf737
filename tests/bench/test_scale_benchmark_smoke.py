"""The scale-out benchmark still runs: `benchmarks/scale.py --quick` on two configurations."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_quick_scale_benchmark_prints_cpu_per_file_for_the_pool_and_the_cluster() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "scale.py"), "--quick", "--only",
         "dask 2 workers"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "`-j 2`" in result.stdout and "`dask 2 workers`" in result.stdout
    assert "CPU ms/file" in result.stdout and "Driver memory per file" in result.stdout
