"""Placing outputs in series folders (`veil.batch.placement`): a folder claimed once is written
into without a check per file, and claimed again when it went since."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from veil.batch import placement
from veil.batch.naming import HierarchyName
from veil.batch.placement import OutputTaken, place_hierarchy, place_mirror

NAME = HierarchyName("VEILX/2024-01-31_abcdef/5_T1", "0001", "1.2.3")


@pytest.fixture(autouse=True)
def _fresh_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(placement, "_SERIES_FOLDERS", {})


def test_the_files_of_a_series_go_to_its_folder_and_a_duplicate_number_gets_a_suffix(
    tmp_path: Path,
) -> None:
    assert place_hierarchy(tmp_path, NAME, b"one", False) == f"{NAME.series_folder}/0001.dcm"
    assert place_hierarchy(tmp_path, NAME, b"one", False) == f"{NAME.series_folder}/0001.dcm"
    assert place_hierarchy(tmp_path, NAME, b"echo 2", False) == f"{NAME.series_folder}/0001_2.dcm"
    other = HierarchyName(NAME.series_folder, "0001", "1.2.4")  # another series, same name
    assert place_hierarchy(tmp_path, other, b"x", False) == f"{NAME.series_folder}_2/0001.dcm"
    folder = tmp_path / NAME.series_folder
    assert sorted(p.name for p in folder.iterdir()) == ["0001.dcm", "0001_2.dcm"]
    assert (folder / "0001_2.dcm").read_bytes() == b"echo 2"


def test_a_series_folder_removed_since_its_claim_is_claimed_and_made_again(
    tmp_path: Path,
) -> None:
    place_hierarchy(tmp_path, NAME, b"one", False)
    shutil.rmtree(tmp_path)  # a long-lived process, its output folder removed by hand
    tmp_path.mkdir()
    second = HierarchyName(NAME.series_folder, "0002", NAME.series_uid)
    assert place_hierarchy(tmp_path, second, b"two", False) == f"{NAME.series_folder}/0002.dcm"
    assert (tmp_path / NAME.series_folder / "0002.dcm").read_bytes() == b"two"
    claims = list((tmp_path / placement.CLAIMS).iterdir())
    assert [c.read_bytes() for c in claims] == [b"1.2.3"]  # the claim was made again
    # With a cluster group's temporary folder too.
    temp = tmp_path / "group-tmp"
    temp.mkdir()
    shutil.rmtree(tmp_path / NAME.series_folder)
    assert place_hierarchy(tmp_path, NAME, b"one", False, temp) == f"{NAME.series_folder}/0001.dcm"
    assert list(temp.iterdir()) == []


def test_a_mirror_output_is_placed_once_and_never_over_other_content(tmp_path: Path) -> None:
    assert place_mirror(tmp_path, "a/b/c.dcm", b"one", False) == "a/b/c.dcm"
    assert place_mirror(tmp_path, "a/b/c.dcm", b"one", False) == "a/b/c.dcm"  # idempotent
    with pytest.raises(OutputTaken):
        place_mirror(tmp_path, "a/b/c.dcm", b"two", False)
    assert (tmp_path / "a" / "b" / "c.dcm").read_bytes() == b"one"
    assert place_mirror(tmp_path, "a/b/c.dcm", b"two", True) == "a/b/c.dcm"
    assert (tmp_path / "a" / "b" / "c.dcm").read_bytes() == b"two"
