"""The series facts of a classic image, memoised by the raw bytes of what they read but the
slice position (`veil.check.geometry.add_dataset`): equal to evaluating each file on its own,
on every file of the real corpus and on files that differ from a memoised one in one value."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from tests.conftest import CORPUS
from veil.check import geometry
from veil.check.geometry import SeriesFacts, _add_dataset, add_dataset


def _read(path: Path) -> Dataset | None:
    try:
        return pydicom.dcmread(path, stop_before_pixels=False, force=True)
    except Exception:  # (the corpus has broken files on purpose)
        return None


def _both(path: Path) -> tuple[SeriesFacts, SeriesFacts] | None:
    memoised, alone = _read(path), _read(path)
    if memoised is None or alone is None:
        return None
    found, expected = SeriesFacts(), SeriesFacts()
    try:
        _add_dataset(expected, alone)
    except Exception:
        with pytest.raises(Exception):  # noqa: B017  (the same failure, memo or not)
            add_dataset(found, memoised)
        return None
    add_dataset(found, memoised)
    return found, expected


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not there")
@pytest.mark.slow
def test_every_corpus_file_has_the_facts_of_its_own_evaluation() -> None:
    geometry._CLASSIC.clear()
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix != ".md")
    compared = hits = 0
    for path in files:
        before = len(geometry._CLASSIC)
        ds = _read(path)
        memoised = ds is not None and geometry._classic_key(ds) in geometry._CLASSIC
        pair = _both(path)
        if pair is None:
            continue
        assert pair[0] == pair[1], path.name
        compared += 1
        hits += memoised and len(geometry._CLASSIC) == before
    assert compared > 800 and hits > 400  # the series' files share their facts


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not there")
@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("ImageOrientationPatient", [1, 0, 0, 0, 1, 0]),
        ("PixelSpacing", [0.5, 0.5]),
        ("SliceThickness", "3"),
        ("Rows", 77),
        ("MRAcquisitionType", "2D"),
        ("EchoTime", "99"),
        ("ImagePositionPatient", [1, 2, 3]),
        ("SpecificCharacterSet", "ISO_IR 100"),
    ],
)
def test_a_file_that_differs_in_one_value_gets_its_own_facts(keyword: str, value: object) -> None:
    folder = CORPUS / "dcm_qa_xa30i/5001_anat-T1w_acq-tfl"
    path = sorted(p for p in folder.iterdir() if p.is_file())[0]
    geometry._CLASSIC.clear()
    first = _read(path)
    assert first is not None
    add_dataset(SeriesFacts(), _reread(first))  # memoised (as written back, as below)
    size = len(geometry._CLASSIC)
    add_dataset(SeriesFacts(), _reread(first))
    assert len(geometry._CLASSIC) == size  # the same bytes: a hit
    changed, alone = _read(path), _read(path)
    assert changed is not None and alone is not None
    setattr(changed, keyword, value)
    setattr(alone, keyword, value)
    # Written and read back: raw elements again, as a file's.
    found, expected = SeriesFacts(), SeriesFacts()
    add_dataset(found, _reread(changed))
    _add_dataset(expected, alone)
    assert found == expected
    unchanged = SeriesFacts()
    add_dataset(unchanged, _reread(first))
    assert (unchanged.slices, unchanged.acquisitions) != (found.slices, found.acquisitions) or (
        keyword == "SpecificCharacterSet"
    )


def _reread(ds: Dataset) -> Dataset:
    import io

    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=False)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()), force=True)
