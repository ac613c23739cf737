"""The MIDI-B-like scored benchmark (benchmarks/midib): the research-release policy writes
every file, leaves no planted identifier anywhere in the bytes, and scores above MIDI-B's best
published result; the scorer itself fails what it should (a copy of the input, the basic
profile's lost descriptions)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CORPUS, REPO, run_veil

pytestmark = pytest.mark.slow

sys.path.insert(0, str(REPO / "benchmarks" / "midib"))
from generate import generate  # noqa: E402
from score import score  # noqa: E402

MIDI_B_BEST = 99.93


@pytest.fixture(scope="module")
def midib_set(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("midib")
    assert generate(folder, CORPUS) >= 50
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_research_release_writes_every_file_leaves_nothing_and_beats_midi_b(
    midib_set: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_veil(
        "deid", midib_set / "input", "--out", out, "--policy", "research-release", "-j", "2"
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = score(midib_set, out).summary()
    assert summary["written"] == summary["inputs"]  # nothing quarantined or failed
    assert summary["files_with_survivors"] == 0, summary["survivors"]
    _, total, rate = summary["overall"]  # type: ignore[misc]
    assert rate > MIDI_B_BEST, summary["failing_action_classes"]
    assert total > 4000


def test_the_scorer_fails_an_undeidentified_copy_and_names_the_failing_classes(
    midib_set: Path,
) -> None:
    summary = score(midib_set, midib_set / "input").summary()
    hipaa = summary["categories"]["hipaa"]  # type: ignore[index]
    assert hipaa[2] < 20  # the planted identifiers are all still there
    failing = summary["failing_action_classes"]
    assert "text_removed: patient name" in failing and "uid_changed: instance UID" in failing
    assert summary["files_with_survivors"] == summary["inputs"]


def test_the_basic_profile_loses_descriptions_and_the_score_says_so(
    midib_set: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = run_veil("deid", midib_set / "input", "--out", out, "--policy", "basic", "-j", "2")
    assert result.returncode == 0
    summary = score(midib_set, out).summary()
    assert summary["files_with_survivors"] == 0
    assert "text_retained: series description" in summary["failing_action_classes"]
    assert summary["overall"][2] < 95  # type: ignore[index]
