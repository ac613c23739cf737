"""The README's burned-in text example runs as written, and prints what the README shows."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"
VEIL = Path(sys.executable).parent / "veil"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Burned-in text")
    return text[start : text.index("\n## ", start + 1)]


def test_the_readme_policy_and_commands_run_and_print_the_documented_lines(
    corpus: Path, tmp_path: Path
) -> None:
    section = _section()
    policy = re.search(r"```yaml\n(.*?)```", section, re.S)
    commands = re.search(r"```bash\n(.*?)```", section, re.S)
    shown = re.search(r"```\n(burned-in text:.*?)```", section, re.S)
    assert policy and commands and shown
    (tmp_path / "ultrasound-release.yaml").write_text(policy.group(1))
    env = dict(os.environ, VEIL_KEY="ab" * 32, COLUMNS="200")
    outputs = []
    for line in commands.group(1).strip().splitlines():
        argv = [arg.replace("../shared/corpus", str(corpus)) for arg in shlex.split(line)]
        assert argv[0] == "veil"
        done = subprocess.run(
            [str(VEIL), *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    # One output, in the default hierarchy layout (PSEUDONYM/DATE_x/SERIES/INSTANCE.dcm).
    assert len(list((tmp_path / "us-out").rglob("*.dcm"))) == 1
    assert (tmp_path / "check.png").stat().st_size > 1000
    printed = [" ".join(line.split()) for line in outputs[-1].splitlines()]
    for line in shown.group(1).splitlines():
        if line.strip() and line.strip() != "..." and not line.startswith("  rendered"):
            assert " ".join(line.split()) in printed, line
