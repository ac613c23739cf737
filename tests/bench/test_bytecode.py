"""Measured runs use veil as installed, with bytecode: the benchmark byte-compiles veil before
timing it (this environment sets PYTHONDONTWRITEBYTECODE=1 with an editable install, so
otherwise every run compiled ~230 modules first), and so does scripts/setup.sh."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import veil
from tests.bench.bench_run import load_run
from tests.conftest import REPO


def _compile_veil() -> int:
    """benchmarks/run.py's compile_veil."""
    return int(load_run().compile_veil())


def test_the_benchmark_compiles_every_veil_module_before_timing() -> None:
    root = Path(veil.__file__).parent
    modules = sorted(root.rglob("*.py"))
    assert _compile_veil() == len(modules) > 100
    for module in modules:
        cached = Path(importlib.util.cache_from_source(str(module)))
        assert cached.is_file(), module
        assert cached.stat().st_mtime >= module.stat().st_mtime, module


def test_setup_compiles_the_sources() -> None:
    setup = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert "-m compileall -q src" in setup
