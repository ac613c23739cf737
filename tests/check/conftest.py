"""Fixtures of the check tests: the corpus folders and de-identified copies of the corpus.

The corpus and the test key come from tests/conftest.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import CORPUS, TEST_KEY

VEIL = Path(sys.executable).parent / "veil"


def corpus_folders() -> list[str]:
    """Every corpus folder that holds DICOM files directly (reference/ folders excluded)."""
    found = []
    if not CORPUS.is_dir():
        return found
    for folder, dirs, names in os.walk(CORPUS):
        dirs.sort()
        dirs[:] = [d for d in dirs if d != "reference"]
        for name in names:
            with open(os.path.join(folder, name), "rb") as handle:
                head = handle.read(132)
            if head[128:132] == b"DICM" or head[:2] in (b"\x08\x00", b"\x02\x00", b"\x00\x08"):
                found.append(Path(folder).relative_to(CORPUS).as_posix())
                break
    return sorted(found)


def run_deid(inputs: list[Path], out: Path, *extra: str) -> tuple[int, dict, str]:
    """`veil deid` as a user runs it; returns exit code, JSON report and stderr."""
    report = out.parent / f"{out.name}.report.json"
    args = [str(VEIL), "deid", *map(str, inputs), "--out", str(out), "-q", "-j", "2"]
    # The mirror layout (the tests compare folders before and after) and plain input paths.
    args += ["--layout", "mirror", "--report", str(report), "--report-paths", "plain", *extra]
    env = {**os.environ, "VEIL_KEY": TEST_KEY}
    run = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900, check=False)
    data = json.loads(report.read_text()) if report.exists() else {}
    return run.returncode, data, run.stderr


@pytest.fixture(scope="session")
def deid_corpus(
    corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., tuple[Path, dict]]:
    """De-identify the whole corpus once per set of `veil deid` options (cached)."""
    cache: dict[tuple[str, ...], tuple[Path, dict]] = {}

    def run(*extra: str) -> tuple[Path, dict]:
        if extra not in cache:
            out = tmp_path_factory.mktemp("deid") / "out"
            _, report, stderr = run_deid([corpus], out, *extra)
            assert report, f"veil deid wrote no report: {stderr[-2000:]}"
            cache[extra] = (out, report)
        return cache[extra]

    return run


def by_input_names(inputs: list[Path], out: Path, report: dict) -> Path:
    """The outputs of a mirror run under the names their inputs would have had.

    The mirror layout renames a folder or file name that holds an identifying value of its file
    (a UID as file name, a patient's name as folder), so tests that pair an input with its
    output by name go through the report's per-file ``output`` instead: a folder of symbolic
    links, at the input's own mirror path, to the output veil actually wrote for it."""
    from veil.batch.naming import strip_suffixes
    from veil.io.inputs import iter_inputs

    relative = {item.display: item.relative for item in iter_inputs(inputs)}
    view = out.parent / f"{out.name}.by-input"
    for record in report["files"]:
        if record["outcome"] != "written" or record["input"] not in relative:
            continue
        link = view / strip_suffixes(relative[record["input"]])
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to((out / record["output"]).resolve())
    return view
