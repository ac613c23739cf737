"""The core never imports the edges (DESIGN: layout): standard, policy, engine, text, pixels,
mapping, dicom, check, audit, pipeline and their helpers stay free of cli, node, batch and
console, so the same code serves all of them and runs without any of them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "veil"
EDGES = ("cli", "node", "batch", "console")
FORBIDDEN = tuple(f"veil.{edge}" for edge in EDGES)


def _core_modules() -> list[Path]:
    return sorted(
        path
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).parts[0] not in EDGES and path.name != "__main__.py"
    )


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module an import statement names, at any depth (lazy imports included)."""
    found = []
    package = ".".join(("veil", *path.relative_to(SRC).with_suffix("").parts[:-1]))
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def test_there_is_a_core_to_check() -> None:
    names = {p.relative_to(SRC).parts[0] for p in _core_modules()}
    assert {"policy", "engine", "audit", "check", "pipeline.py", "dicom.py"} <= names


@pytest.mark.parametrize("path", _core_modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_a_core_module_imports_no_edge(path: Path) -> None:
    bad = [
        f"line {line}: {name}"
        for line, name in _imports(path)
        if name == "veil" or name.startswith(FORBIDDEN)
    ]
    assert bad == []


def test_importing_the_pipeline_loads_no_edge() -> None:
    """The same, as Python sees it: what the pipeline pulls in, transitively."""
    code = (
        "import sys, veil.pipeline, veil.audit.batch, veil.parallel\n"
        f"print([m for m in sys.modules if m.startswith({FORBIDDEN!r})])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
