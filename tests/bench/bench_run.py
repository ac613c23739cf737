"""benchmarks/run.py loaded as a module, for tests of its helpers."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.conftest import REPO


def load_run() -> ModuleType:
    """benchmarks/run.py under a name of its own (it imports its neighbours)."""
    if "bench_run" in sys.modules:
        return sys.modules["bench_run"]
    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location("bench_run", REPO / "benchmarks" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module
