"""The README's recipes run as written (on the corpus beside the checkout)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import CORPUS, REPO, TEST_KEY


def _block(marker: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    after = text.split(marker, 1)[1]
    return after.split("```bash\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_share_one_case_recipe_runs_and_gives_an_archive_that_meets_the_profile(
    tmp_path: Path,
) -> None:
    script = _block("<!-- share-one-case").replace("../shared/corpus", str(CORPUS))
    env = {
        **os.environ,
        "VEIL_KEY": TEST_KEY,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "COLUMNS": "200",
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "meets neuroquant" in done.stderr and "does NOT" not in done.stderr
    with zipfile.ZipFile(tmp_path / "case.zip") as archive:
        names = archive.namelist()
    assert len(names) == 130
    assert all(name.startswith("VEIL") and name.endswith(".dcm") for name in names)
    assert (tmp_path / "case-report.json").is_file()
