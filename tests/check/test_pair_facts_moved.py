"""`--for`'s facts as a batch's workers send them (`PairFacts.moved`, issue 12): the series'
shared facts and each file's slice position. They must give the same facts as full reads when
asked (`before`, `after`), the same aggregation through `PairCollector` (which makes only the
geometry), survive pickling in a chunk with their sharing, and be far smaller than one pair of
facts per file."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from tests.conftest import CORPUS
from veil.check import rawfacts
from veil.check.evaluate import Collector
from veil.check.geometry import position_of
from veil.check.profile import load_profile
from veil.check.regression import PairCollector, PairFacts, pair_facts
from veil.engine.fast import FastOutput, deidentify_bytes
from veil.io.dicomfile import read_bytes
from veil.mapping import Mapper
from veil.pipeline import Settings, _fast_facts
from veil.policy import compile_plan, load_policy

MAPPER = Mapper(bytes(range(32)))
PROFILES = (load_profile("neuroquant"),)
SERIES = CORPUS / "dcm_qa_xa30i/5001_anat-T1w_acq-tfl"  # Siemens XA30, 3D T1

pytestmark = pytest.mark.skipif(not SERIES.is_dir(), reason="../shared/corpus is not there")


def _series(count: int = 12) -> list[tuple[bytes, FastOutput]]:
    plan = compile_plan(load_policy("basic"), list(PROFILES))
    found = []
    for path in sorted(p for p in SERIES.iterdir() if p.is_file())[:count]:
        data = path.read_bytes()
        fast = deidentify_bytes(data, plan, MAPPER, audit=True)
        assert isinstance(fast, FastOutput)
        found.append((data, fast))
    return found


def _pairs(series: list[tuple[bytes, FastOutput]]) -> list[PairFacts]:
    rawfacts._MEMOS.clear()
    rawfacts._LAST.clear()
    plan = compile_plan(load_policy("basic"), list(PROFILES))
    settings = Settings(plan, MAPPER, profiles=PROFILES)
    return [_fast_facts(data, fast, settings) for data, fast in series]


def test_a_series_files_share_their_facts_and_differ_by_position() -> None:
    series = _series()
    pairs = _pairs(series)
    shared = {tuple(map(id, pair.shared())) for pair in pairs}
    # One series, one plan: the very same facts for every file (a GE series whose
    # orientation jitters in its last digits gets a few: dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22).
    assert len(shared) == 1
    positions = []
    for (data, fast), pair in zip(series, pairs, strict=True):
        full = pair_facts(
            PROFILES,
            True,
            lambda data=data: read_bytes(data, "in"),
            lambda fast=fast: read_bytes(fast.encoded, "out"),
        )
        assert pair == full  # made when asked: the facts of reading both files whole
        before, after = pair.geometry()
        assert before is after  # de-identification left the geometry alone: one object
        assert before is not None
        (moved,) = before.slices
        assert moved.position == position_of(read_bytes(data, "in"))
        positions.append(moved.position)
    assert len(set(positions)) == len(positions)  # (each file at its own)


def test_pickled_in_a_chunk_they_keep_their_sharing_and_are_small() -> None:
    pairs = _pairs(_series())
    chunk = pickle.dumps(pairs, pickle.HIGHEST_PROTOCOL)
    made = [PairFacts(pair.before, pair.after) for pair in pairs]  # one pair of facts per file

    def per_file(pairs: list[PairFacts]) -> float:  # bytes each file adds to a chunk
        size = len(pickle.dumps(pairs, pickle.HIGHEST_PROTOCOL))
        return (size - len(pickle.dumps(pairs[:1], pickle.HIGHEST_PROTOCOL))) / (len(pairs) - 1)

    assert per_file(pairs) < 60 < 150 < per_file(made)
    back = pickle.loads(chunk)
    assert back == pairs
    first = back[0].shared()
    assert all(pair.shared()[0] is first[0] for pair in back)
    assert all(
        pair.shared()[0].facts is pair.shared()[1].facts  # type: ignore[union-attr]
        for pair in back
    )
    # Alone, too: a pair pickled on its own is the same pair.
    assert pickle.loads(pickle.dumps(pairs[3])) == pairs[3]
    assert pickle.loads(pickle.dumps(PairFacts.failed("x"))).problem == "x"


def test_the_collector_aggregates_them_as_the_facts_they_stand_for() -> None:
    pairs = _pairs(_series())
    compact = PairCollector(PROFILES)
    made = PairCollector(PROFILES)
    for index, pair in enumerate(pairs):
        compact.add(pair, f"out/{index}.dcm")
        made.add(PairFacts(pair.before, pair.after), f"out/{index}.dcm")
    assert compact.report() == made.report()
    after_compact, after_made = compact.after.results(), made.after.results()
    assert [s.results for s in after_compact] == [s.results for s in after_made]
    # The coverage check saw every file's position, not the shared facts' one slice.
    collector = Collector(PROFILES)
    for index, pair in enumerate(pairs):
        before, _ = pair.shared()
        assert before is not None
        collector.add_facts(before, f"out/{index}.dcm")  # (the wrong way: one position)
    wrong = {r.rule_id: r.observed for s in collector.results() for r in s.results}
    right = {r.rule_id: r.observed for s in compact.before.results() for r in s.results}
    assert wrong != right


def test_a_file_of_no_facts_stays_unverifiable(tmp_path: Path) -> None:
    collector = PairCollector(PROFILES)
    collector.add(PairFacts.failed("cannot be checked (ValueError)"), str(tmp_path / "a.dcm"))
    report = collector.report()
    assert report.unverifiable == (f"{tmp_path / 'a.dcm'}: cannot be checked (ValueError)",)
