"""scripts/setup.sh runs pip again (and so compiles the C extensions again) when any C source
changes, not only the one it once named: its stamp covers setup.py and every src/**/*.c, *.h.
Before, an edited src/veil/engine/fast/_parse.c left the old compiled module in use."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import REPO


def _stamp_script() -> str:
    setup = (REPO / "scripts" / "setup.sh").read_text(encoding="utf-8")
    found = re.search(r'^want="\$\(\n(.*?)^\)"\n', setup, re.MULTILINE | re.DOTALL)
    assert found, "setup.sh computes its stamp in want=$(...)"
    return f'set -euo pipefail\nEXTRAS=test\nwant="$(\n{found.group(1)})"\necho "$want"\n'


def _stamp(root: Path) -> str:
    done = subprocess.run(
        ["bash", "-c", _stamp_script()], cwd=root, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_the_setup_stamp_changes_with_every_c_source_and_setup_py(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "setup.py").write_text("setup()\n")
    kernel = tmp_path / "src" / "veil" / "audit" / "_kernel.c"
    kernel.parent.mkdir(parents=True)
    kernel.write_text("int a;\n")
    stamps = [_stamp(tmp_path)]
    assert _stamp(tmp_path) == stamps[0]  # nothing changed: no reinstall

    other = tmp_path / "src" / "veil" / "engine" / "_other.c"
    other.parent.mkdir(parents=True)
    other.write_text("int b;\n")  # a new extension
    stamps.append(_stamp(tmp_path))
    other.write_text("int b = 1;\n")  # an edited one that is not the first
    stamps.append(_stamp(tmp_path))
    (other.parent / "_other.h").write_text("#define B 1\n")  # a header
    stamps.append(_stamp(tmp_path))
    (tmp_path / "setup.py").write_text("setup(ext_modules=[])\n")
    stamps.append(_stamp(tmp_path))
    assert len(set(stamps)) == len(stamps), stamps


def test_the_real_stamp_covers_both_extensions() -> None:
    script = _stamp_script()
    listed = subprocess.run(
        ["bash", "-c", script.replace("| sha256sum | cut -d' ' -f1", "")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for source in ("src/veil/audit/_multiscan.c", "src/veil/engine/fast/_parse.c", "setup.py"):
        assert source in listed, listed
