"""Shared fixtures: the real corpus beside the repo, and a fixed project key per test run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from veil.io.quiet import configure_process

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"
TEST_KEY = "5eed" * 16  # 32 bytes, hex: tests never touch the user's ~/.config/veil/key
VEIL = [sys.executable, "-m", "veil"]


configure_process()  # as the CLI does: pydicom's warnings quote values


@pytest.fixture(autouse=True)
def _test_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEIL_KEY", TEST_KEY)


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"the corpus is expected at {CORPUS} (../shared/corpus beside the repo)")
    return CORPUS


def run_veil(
    *args: str | os.PathLike[str], key: str = TEST_KEY, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the real `veil` command in a subprocess, as a user would, capturing all output."""
    env = {**os.environ, "VEIL_KEY": key, "COLUMNS": "200"}
    result = subprocess.run(
        [*VEIL, *map(str, args)], capture_output=True, text=True, env=env, timeout=1800
    )
    if check and result.returncode != 0:
        raise AssertionError(f"veil {args} exited {result.returncode}:\n{result.stderr}")
    return result
