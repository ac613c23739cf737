"""`--for`'s facts memo keyed by what moves per file (veil.check.rawfacts.FactsMemo.pair):
the bytes of the elements the profiles read, the rewrite's encoded changes, the private
creators and the slice position. A file that differs in any of them gets its own facts and
verdict, never its neighbour's: each is held to the facts of reading the input and the
output whole, and the per-study verdict to the one of those facts."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial
from pathlib import Path, PurePath
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from tests.conftest import CORPUS
from tests.engine import builders as b
from veil.batch.study_verdicts import output_name
from veil.check import rawfacts
from veil.check.evaluate import Collector, FileFacts, _parents
from veil.check.model import Outcome
from veil.check.profile import load_profile
from veil.check.rawfacts import facts_memo
from veil.check.reads import CHARSET, POSITION
from veil.check.regression import PairFacts, pair_facts
from veil.check.study import group_studies
from veil.engine.fast import FastOutput, deidentify_bytes, header
from veil.engine.fast.header import (
    changes_in,
    private_creator_elements,
    raw_scan,
    top_elements,
)
from veil.io.dicomfile import read_bytes
from veil.mapping import Mapper
from veil.pipeline import FAST, Settings, deidentify_file
from veil.policy import compile_plan, load_policy
from veil.policy.plan import Plan

MAPPER = Mapper(bytes(range(32)))
PROFILES = (load_profile("neuroquant"),)
MANUFACTURER = "neuroquant/manufacturer"


def _plan(with_requirements: bool = True) -> Plan:
    return compile_plan(load_policy("basic"), list(PROFILES) if with_requirements else [])


def _full(data: bytes, encoded: bytes) -> PairFacts:
    return pair_facts(
        PROFILES, True, partial(read_bytes, data, "in"), partial(read_bytes, encoded, "out")
    )


def _series(count: int, change: Callable[[int, Dataset], None] | None = None) -> list[bytes]:
    """A 3D T1 series of ``count`` slices; ``change(index, ds)`` alters one file."""
    found = []
    for index in range(count):
        ds = b.mr_dataset()
        ds.SOPInstanceUID = f"{b.SOP_UID}.{index}"
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [0, 0, 1.0 * index]
        ds.SliceThickness = 1
        ds.MRAcquisitionType = "3D"
        ds.EchoTime = 3
        ds.RepetitionTime = 2300
        ds.InversionTime = 900
        ds.ScanningSequence = ["GR", "IR"]
        ds.PatientAge = "054Y"
        if change is not None:
            change(index, ds)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        found.append(buffer.getvalue())
    return found


def _outcome(facts: FileFacts | None, rule_id: str) -> Outcome:
    assert facts is not None
    return dict(facts.outcomes)[rule_id].outcome


def _run(inputs: list[bytes], plan: Plan, rounds: int = 2) -> list[PairFacts]:
    """Each file through `deidentify_file` with the profiles, ``rounds`` times (from the
    second round on, every file that shares a key is a memo hit), each held to full reads;
    the last round's facts."""
    settings = Settings(plan, MAPPER, profiles=PROFILES)
    found: list[PairFacts] = []
    for _round in range(rounds):
        found = []
        for data in inputs:
            result = deidentify_file(data, "in.dcm", settings)
            assert result.engine == FAST and result.check is not None
            assert result.check == _full(data, result.encoded)
            found.append(result.check)
    return found


def _study_verdict(pairs: list[PairFacts]) -> tuple[Outcome, dict[str, Any]]:
    collector = Collector(PROFILES)
    for index, pair in enumerate(pairs):
        assert pair.after is not None
        collector.add_facts(pair.after, f"out/{index}.dcm")
    series = collector.results()
    (study,) = group_studies(series, PROFILES)
    return study.verdict, {r.rule_id: r for s in series for r in s.results}


@pytest.fixture(autouse=True, params=["c", "python"])
def scan_route(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every case by both routes of `raw_scan`: the C one (where the C parse is built) and
    the Python loop, its reference."""
    if request.param == "python":
        monkeypatch.setattr(header, "_COMPILED_SCAN", None)
    elif header._COMPILED_SCAN is None:
        pytest.skip("the C parse is not built here")
    return str(request.param)


def _fresh() -> None:
    rawfacts._MEMOS.clear()
    rawfacts._LAST.clear()


def test_a_file_without_a_required_attribute_gets_its_own_verdict() -> None:
    """The third file of a series has no Manufacturer: its facts fail the rule, its
    neighbours' (one memo entry) pass it, and the study fails for that one file."""
    _fresh()

    def drop(index: int, ds: Dataset) -> None:
        if index == 2:
            del ds.Manufacturer

    pairs = _run(_series(6, drop), _plan())
    for index, pair in enumerate(pairs):
        expected = Outcome.FAIL if index == 2 else Outcome.PASS
        assert _outcome(pair.before, MANUFACTURER) is expected
        assert _outcome(pair.after, MANUFACTURER) is expected
    verdict, results = _study_verdict(pairs)
    assert verdict is Outcome.FAIL
    assert results[MANUFACTURER].outcome is Outcome.FAIL
    assert results[MANUFACTURER].names == ("out/2.dcm",)
    # The same series without the gap passes the rule (the memo is the same one).
    _, results = _study_verdict(_run(_series(6), _plan()))
    assert results[MANUFACTURER].outcome is Outcome.PASS


@pytest.mark.parametrize("changed", ["orientation", "spacing"])
def test_a_file_with_another_series_geometry_gets_its_own_slice(changed: str) -> None:
    """One file has another orientation, or another pixel spacing of the same length in
    bytes (a reformat filed in the series): its slice is its own, and the series fails."""
    _fresh()
    orientation = (0, 1, 0, 0, 0, -1) if changed == "orientation" else (1, 0, 0, 0, 1, 0)
    spacing = (2, 2) if changed == "spacing" else (1, 1)

    def turn(index: int, ds: Dataset) -> None:
        if index == 3:
            ds.ImageOrientationPatient = list(orientation)
            ds.PixelSpacing = list(spacing)

    pairs = _run(_series(6, turn), _plan())
    for index, pair in enumerate(pairs):
        assert pair.before is not None and pair.after is not None
        (first,) = pair.before.facts.slices
        (after,) = pair.after.facts.slices
        assert first == after
        assert first.orientation == (orientation if index == 3 else (1, 0, 0, 0, 1, 0))
        assert first.spacing == (spacing if index == 3 else (1, 1))
        assert first.position == (0, 0, float(index))  # the position moves in every file
    verdict, results = _study_verdict(pairs)
    assert verdict is Outcome.FAIL
    rule = (
        "neuroquant/one-orientation" if changed == "orientation" else "neuroquant/one-pixel-spacing"
    )
    assert results[rule].outcome is Outcome.FAIL


@pytest.mark.parametrize("nested", [False, True])
def test_a_renamed_private_block_is_not_taken_from_another_files_entry(nested: bool) -> None:
    """Same elements read, but one file's private creator (at the top or in an item) was
    renamed by an anonymizer: its provenance is its own (the creators are compared)."""
    _fresh()

    def rename(index: int, ds: Dataset) -> None:
        if index != 1:
            return
        target = ds
        if nested:
            item = Dataset()
            item.ReferencedSOPInstanceUID = b.SOP_UID
            ds.ReferencedImageSequence = Sequence([item])
            target = item
        target.add_new(0x00290010, "LO", "ANONYMIZED BY TOOL")
        target.add_new(0x00291010, "LO", "x")

    pairs = _run(_series(4, rename), _plan())
    for index, pair in enumerate(pairs):
        assert pair.before is not None
        renamed = pair.before.before.startswith("its private blocks were renamed")
        assert renamed is (index == 1)


def test_one_input_under_two_plans_gets_each_plans_after_facts() -> None:
    """The same inputs (one "before" entry) through a plan that keeps PatientSex and one
    that drops it, alternately: "after" follows the rewrite's changes of each plan."""
    _fresh()
    inputs = _series(3)
    keeps, drops = _plan(True), _plan(False)
    for plan, expected in ((keeps, Outcome.PASS), (drops, Outcome.WARN), (keeps, Outcome.PASS)):
        for pair in _run(inputs, plan, rounds=1):
            assert _outcome(pair.before, "neuroquant/patient-sex") is Outcome.PASS
            assert _outcome(pair.after, "neuroquant/patient-sex") is expected
    memo = facts_memo(PROFILES, True)
    assert memo is not None
    (entry,) = [e for key, e in memo.entries.items() if isinstance(key, bytes)]
    assert len(entry.after) == 2  # one "after" per plan's changes, under one "before"


# -- the keys themselves, pinned to the reads they replace -----------------------------------
def _files() -> list[bytes]:
    found = [*_series(3), *_series(2, lambda i, ds: setattr(ds, "PatientSex", "F"))]
    if CORPUS.is_dir():
        for relative in ("dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22", "dcm_qa_xa30i/5001_anat-T1w_acq-tfl"):
            folder = CORPUS / relative
            found += [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()][:3]
    return found


def test_the_one_pass_scan_and_changes_equal_the_reads_they_replace() -> None:
    """`raw_scan` (key, position, character set, creators in one pass) and `changes_in`
    against `top_elements`, `private_creator_elements` and `TopChanges.encoded`: equal keys
    exactly when the elements read (but the position) are equal."""
    memo = facts_memo(PROFILES, True)
    assert memo is not None
    seen: list[tuple[bytes, dict[int, tuple[str, bytes]]]] = []
    for data in _files():
        fast = deidentify_bytes(data, _plan(), MAPPER, audit=True)
        assert isinstance(fast, FastOutput) and fast.changes is not None
        parsed = fast.parsed
        scan = raw_scan(parsed, memo.tags, memo.position_tag)
        elements = top_elements(parsed, memo.tags)
        assert scan.apart == elements.get(POSITION)
        assert scan.charset == elements.get(CHARSET)
        assert scan.creators == private_creator_elements(parsed.elements, parsed.data)
        expected = tuple(sorted(fast.changes.encoded(memo.tags).items()))
        assert changes_in(fast.changes, memo.ordered, memo.tags) == expected
        without = {tag: value for tag, value in elements.items() if tag != POSITION}
        for key, other in seen:
            assert (key == scan.key) == (other == without)
        seen.append((scan.key, without))
    assert len({key for key, _ in seen}) < len(seen)  # the files of a series share keys


# -- the parent's path texts, pinned to pathlib ----------------------------------------------
_PARTS = st.sampled_from(["a", "b", ".", "..", "", "c.dcm", "x y"])
_PATHS = st.lists(_PARTS, min_size=1, max_size=4).map("/".join)


@settings(max_examples=300, deadline=None)
@given(names=st.lists(_PATHS, min_size=1, max_size=6), folder=_PATHS)
def test_folder_texts_are_pathlibs(names: list[str], folder: str) -> None:
    assert _parents(names) == [PurePath(name).parent.as_posix() for name in names]
    known: dict[str, str] = {}
    for name in [*names, *names]:
        assert output_name(Path(folder or "."), name, known) == str(Path(folder or ".") / name)
