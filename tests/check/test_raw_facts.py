"""`--for` on the fast path: the per-file facts from only the raw elements the profiles read,
memoised per identical values, with "after" = "before" + the rewrite's changes
(veil.check.rawfacts, veil.pipeline._fast_facts), equal to the facts of reading the input and
the output whole (`pair_facts`), on real files of several vendors and on made-up series."""

from __future__ import annotations

import io
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from tests.conftest import CORPUS
from tests.engine import builders as b
from veil.check import rawfacts
from veil.check.evaluate import Collector, FileFacts, file_facts
from veil.check.model import Outcome, RequirementProfile
from veil.check.profile import builtin_names, load_profile
from veil.check.rawfacts import facts_memo
from veil.check.reads import profile_reads
from veil.check.regression import PairFacts, pair_facts
from veil.check.study import group_studies
from veil.dicom import tag_of
from veil.engine.fast import FastOutput, deidentify_bytes
from veil.engine.fast.header import (
    elements_after,
    header_dataset,
    private_creator_elements,
    top_elements,
)
from veil.io.dicomfile import read_bytes
from veil.mapping import Mapper
from veil.pipeline import FAST, Settings, _fast_facts, check_facts, check_outputs, deidentify_file
from veil.policy import compile_plan, load_policy
from veil.policy.plan import Plan

MAPPER = Mapper(bytes(range(32)))
NEUROQUANT = load_profile("neuroquant")
PROFILES = (NEUROQUANT,)
# Consecutive files of one series each (memo hits after the first), several vendors; one
# de-identified before (its markers decide the provenance fact), one partial series.
SERIES = (
    "dcm_qa_deident/Accelerated_SAG_IR-SPGR",  # GE, 3D T1, de-identified before
    "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22",  # GE, 3D T1
    "dcm_qa_philips_enh/1301_ADNI_Sag3D_MPRAGE_classic",  # Philips, 3D T1
    "dcm_qa_xa30i/5001_anat-T1w_acq-tfl",  # Siemens XA30
    "dcm_qa_frag/5001_anat-T1w_jpegll_fragmented_partial",  # Siemens, JPEG lossless
    "dcm_qa_nih/Si_mr_0003_epi_pe_ap",  # Siemens, 2D EPI
    "pydicom/dicomdirtests/98892001/CT5N",  # GE CT
    "pydicom/dicomdirtests/98892003/MR700",  # Philips MR (an older scanner)
    "pydicom/dicomdirtests/77654033/CR1",  # Agfa CR
    "pydicom/dicomdirtests/TINY_ALPHA/PT000000/ST000000/SE000000",  # no Manufacturer
)


def _plan(with_requirements: bool) -> Plan:
    return compile_plan(load_policy("basic"), list(PROFILES) if with_requirements else [])


def _full(data: bytes, encoded: bytes, profiles: tuple[RequirementProfile, ...]) -> PairFacts:
    """The facts of reading the input and the output whole (what `check_outputs` does)."""
    return pair_facts(
        profiles, True, partial(read_bytes, data, "in"), partial(read_bytes, encoded, "out")
    )


def _series_files(relative: str, count: int = 8) -> list[Path]:
    folder = CORPUS / relative
    return sorted(p for p in folder.iterdir() if p.is_file())[:count]


def _fresh_memos() -> None:
    rawfacts._MEMOS.clear()


def _memoised(fast: FastOutput, settings: Settings) -> PairFacts | None:
    """The memoised facts alone (None where they do not apply), without the fallbacks."""
    from veil.pipeline import _memo_facts

    memo = facts_memo(settings.profiles, settings.quality_checks)
    assert memo is not None
    return _memo_facts(memo, fast)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not next to the checkout")
@pytest.mark.parametrize("with_requirements", [True, False])
def test_memoised_facts_equal_full_reads_on_several_vendors(with_requirements: bool) -> None:
    _fresh_memos()
    plan = _plan(with_requirements)
    settings = Settings(plan, MAPPER, profiles=PROFILES)
    taken: dict[str, int] = {}
    for relative in SERIES:
        for _round in range(2):  # the second round is all memo hits
            for path in _series_files(relative):
                data = path.read_bytes()
                fast = deidentify_bytes(data, plan, MAPPER, audit=True)
                if not isinstance(fast, FastOutput):
                    continue  # handed over: the reference path reads it whole
                new = _memoised(fast, settings)
                assert new is not None, relative  # classic objects: no full read
                assert new == _full(data, fast.encoded, PROFILES), path.name
                assert _fast_facts(data, fast, settings) == new
                taken[relative] = taken.get(relative, 0) + 1
    assert all(taken.get(relative, 0) >= 2 for relative in SERIES), taken
    memo = facts_memo(PROFILES, True)
    assert memo is not None
    # Files of one series share their entries: far fewer than two per file.
    assert len(memo.entries) < sum(taken.values())


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not next to the checkout")
def test_an_enhanced_object_is_read_whole_with_the_same_facts() -> None:
    """Its facts read inside the functional groups: not memoised, the header datasets decide."""
    _fresh_memos()
    plan = _plan(True)
    settings = Settings(plan, MAPPER, profiles=PROFILES)
    taken = 0
    for path in sorted((CORPUS / "dcm_qa_enh").rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        fast = deidentify_bytes(data, plan, MAPPER, audit=True)
        if not isinstance(fast, FastOutput):
            continue
        taken += 1
        assert _memoised(fast, settings) is None
        assert _fast_facts(data, fast, settings) == _full(data, fast.encoded, PROFILES)
    assert taken


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not next to the checkout")
def test_the_whole_corpus_gets_the_facts_of_full_reads() -> None:
    _fresh_memos()
    plan = _plan(True)
    settings = Settings(plan, MAPPER, profiles=PROFILES)
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix not in (".md", ".tsv"))
    taken = 0
    for path in files:
        data = path.read_bytes()
        fast = deidentify_bytes(data, plan, MAPPER, audit=True)
        if isinstance(fast, FastOutput):
            taken += 1
            assert _fast_facts(data, fast, settings) == _full(data, fast.encoded, PROFILES), path
    assert taken > 700


# -- made-up series: no Manufacturer, a 2D acquisition ---------------------------------------
def _encoded_series(count: int, **values: Any) -> list[bytes]:
    found = []
    for index in range(count):
        ds = b.mr_dataset()
        del ds.Manufacturer
        ds.SOPInstanceUID = f"{b.SOP_UID}.{index}"
        ds.InstanceNumber = index + 1
        ds.ImagePositionPatient = [0, 0, 2.5 * index]
        ds.SliceThickness = 2.5
        ds.PixelSpacing = [1, 1]
        for keyword, value in values.items():
            setattr(ds, keyword, value)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        found.append(buffer.getvalue())
    return found


def _outcome(facts: FileFacts, rule_id: str) -> Outcome:
    return dict(facts.outcomes)[rule_id].outcome


@pytest.mark.parametrize("acquisition", ["2D", "3D"])
@pytest.mark.parametrize("with_requirements", [True, False])
def test_a_series_without_manufacturer_gets_the_verdicts_of_full_reads(
    tmp_path: Path, with_requirements: bool, acquisition: str
) -> None:
    _fresh_memos()
    plan = _plan(with_requirements)
    settings = Settings(plan, MAPPER, profiles=PROFILES)
    inputs = _encoded_series(5, PatientAge="054Y", MRAcquisitionType=acquisition)
    facts, pairs, names = [], [], []
    for index, data in enumerate(inputs):
        result = deidentify_file(data, f"{index}.dcm", settings)
        assert result.engine == FAST and result.check is not None
        assert result.check == _full(data, result.encoded, PROFILES)
        output = tmp_path / f"{index}.dcm"
        output.write_bytes(result.encoded)
        facts.append((result.check, str(output)))
        pairs.append((partial(lambda d: d, data), output))
        names.append(str(output))
        before, after = result.check.before, result.check.after
        assert before is not None and after is not None
        assert _outcome(before, "neuroquant/manufacturer") is Outcome.FAIL
        assert _outcome(after, "neuroquant/manufacturer") is Outcome.FAIL
    verdict = check_facts(PROFILES, facts)
    assert verdict == check_outputs(PROFILES, pairs)
    # Without the requirements in the plan, basic drops sex and age: lost where the series is
    # used (a 2D series is not: nothing of it is lost).
    lost = {r.rule_id for r in verdict.regressions}
    dropped = {"neuroquant/patient-sex", "neuroquant/patient-age"}
    assert lost == (set() if with_requirements or acquisition == "2D" else dropped)
    # The per-study verdict from the facts: no Manufacturer (or no 3D series): it fails.
    collector = Collector(PROFILES)
    for pair, name in facts:
        assert pair.after is not None
        collector.add_facts(pair.after, name)
    studies = group_studies(collector.results(), PROFILES)
    assert [s.verdict for s in studies] == [Outcome.FAIL]


# -- a changed element's facts are evaluated again ------------------------------------------
def test_a_changed_element_is_evaluated_again_even_on_a_memo_hit() -> None:
    """Two series whose inputs are the same but whose outputs differ in what the profile
    reads: "after" must follow the changed elements, not the input's memoised facts."""
    _fresh_memos()
    memo = facts_memo(PROFILES, True)
    assert memo is not None
    data = _encoded_series(1, PatientAge="054Y", MRAcquisitionType="3D")[0]
    fast = deidentify_bytes(data, _plan(True), MAPPER, audit=True)
    assert isinstance(fast, FastOutput)
    elements = top_elements(fast.parsed, memo.tags)

    def creators() -> set[str]:
        return set()

    manufacturer = tag_of("Manufacturer")
    sex = tag_of("PatientSex")
    elements = {**elements, manufacturer: ("LO", b"SIEMENS ")}
    for _round in range(2):  # the second round: every evaluation is a memo hit
        before = memo.facts(elements, creators)
        assert before is not None
        assert _outcome(before, "neuroquant/manufacturer") is Outcome.PASS
        assert _outcome(before, "neuroquant/patient-sex") is Outcome.PASS
        removed = {k: v for k, v in elements.items() if k != manufacturer}
        after = memo.after(before, removed, frozenset({manufacturer}), creators)
        assert after is not None
        assert _outcome(after, "neuroquant/manufacturer") is Outcome.FAIL
        other = {**elements, sex: ("CS", b"X ")}
        after = memo.after(before, other, frozenset({sex}), creators)
        assert after is not None
        assert _outcome(after, "neuroquant/patient-sex") is Outcome.WARN
        assert _outcome(after, "neuroquant/manufacturer") is Outcome.PASS


def test_the_rewrites_changes_reach_the_after_facts() -> None:
    """A plan that drops PatientSex: the output's facts lose it though the input has it (the
    fast path reports the element as changed; its fact is evaluated again)."""
    _fresh_memos()
    plan = _plan(False)
    settings = Settings(plan, MAPPER, profiles=PROFILES)
    for data in _encoded_series(3, PatientAge="054Y", PatientSex="F"):
        fast = deidentify_bytes(data, plan, MAPPER, audit=True)
        assert isinstance(fast, FastOutput)
        pair = _memoised(fast, settings)
        assert pair is not None and pair.before is not None and pair.after is not None
        assert _outcome(pair.before, "neuroquant/patient-sex") is Outcome.PASS
        assert _outcome(pair.after, "neuroquant/patient-sex") is Outcome.WARN
        memo = facts_memo(PROFILES, True)
        assert memo is not None
        elements = top_elements(fast.parsed, memo.tags)
        _, changed = elements_after(elements, fast.changes, memo.tags)
        assert tag_of("PatientSex") in changed


# -- what the facts read ---------------------------------------------------------------------
class _Tracking(Dataset):
    """A dataset that notes every top-level tag something looks up in it."""

    def _note(self, key: object) -> None:
        if isinstance(key, str):
            tag = tag_for_keyword(key)
            if tag is not None:
                self.__dict__.setdefault("read", set()).add(int(tag))
        elif isinstance(key, int):
            self.__dict__.setdefault("read", set()).add(int(key))

    def __getitem__(self, key: Any) -> Any:
        self._note(key)
        return super().__getitem__(key)

    def get_item(self, key: Any, *, keep_deferred: bool = False) -> Any:
        self._note(key)
        return super().get_item(key, keep_deferred=keep_deferred)

    def __contains__(self, name: object) -> bool:
        self._note(name)
        return super().__contains__(name)  # type: ignore[operator]


def _corpus_sample() -> Iterator[bytes]:
    for relative in (*SERIES, "dcm_qa_enh/Siemens_XA10", "dcm_qa_enh/Philips_fMAP"):
        for path in _series_files(relative, 2):
            yield path.read_bytes()


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not next to the checkout")
@pytest.mark.parametrize("name", builtin_names())
def test_the_facts_read_only_what_the_profiles_declare(name: str) -> None:
    """Every top-level tag `file_facts` looks at is in `profile_reads` (the memo's key):
    a fact reading an undeclared tag would be memoised across files that differ in it."""
    profiles = (load_profile(name),)
    declared = profile_reads(profiles)
    assert declared is not None
    plan = _plan(True)
    checked = 0
    for data in _corpus_sample():
        fast = deidentify_bytes(data, plan, MAPPER, audit=True)
        if not isinstance(fast, FastOutput):
            continue
        tracking = _Tracking()
        tracking._dict.update(header_dataset(fast.parsed)._dict)
        file_facts(profiles, True, tracking, lambda: set())
        assert tracking.__dict__.get("read"), "nothing was read: the tracking is broken"
        assert tracking.__dict__["read"] <= declared
        checked += 1
    assert checked >= len(SERIES)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not next to the checkout")
@pytest.mark.parametrize("name", builtin_names())
def test_memoised_before_facts_of_every_builtin_profile_equal_full_reads(name: str) -> None:
    """Private-block rules (dcm2niix) read the creators at any level, found on the parse."""
    _fresh_memos()
    profiles = (load_profile(name),)
    memo = facts_memo(profiles, True)
    assert memo is not None
    plan = _plan(True)
    for data in _corpus_sample():
        fast = deidentify_bytes(data, plan, MAPPER, audit=True)
        if not isinstance(fast, FastOutput):
            continue
        parsed = fast.parsed
        elements = top_elements(parsed, memo.tags)
        found = private_creator_elements(parsed.elements, parsed.data)
        creators = partial(
            rawfacts.creator_names, found, elements.get(tag_of("SpecificCharacterSet"))
        )

        for _round in range(2):
            memoised = memo.facts(elements, creators)
            if memoised is not None:
                assert memoised == file_facts(profiles, True, read_bytes(data, "in"))


@pytest.mark.parametrize(
    "raw",
    [
        b"-98.5\\-120.3\\37.2 ",
        b"0\\0\\0 ",
        b"1e2\\3\\4 ",  # an exponent: through pydicom
        b" 1.5\\2\\3",  # a leading space: through pydicom
        b"1\\2 ",  # two values: none
        b"1\\2\\3\\4 ",
        b"nan\\1\\2 ",
        b"",
    ],
)
def test_the_slice_position_is_read_as_on_a_dataset(raw: bytes) -> None:
    from veil.check.geometry import position_of
    from veil.check.rawfacts import raw_dataset, read_position

    position = tag_of("ImagePositionPatient")
    expected = position_of(raw_dataset({position: ("DS", raw)}))
    assert read_position(("DS", raw)) == expected
    assert read_position(None) is None


def test_profiles_whose_reads_cannot_be_told_are_read_whole() -> None:
    """A rule on the pixel data (read as present, never by value, on the raw elements):
    no memo, the header datasets or full reads decide."""
    from veil.check.profile import parse_profile

    pixels = parse_profile(
        "name: p\nrules:\n  - {id: px, attribute: PixelData, severity: fail, need: display}\n",
        "p.yaml",
    )
    assert profile_reads((pixels,)) is None
    assert facts_memo((pixels,), True) is None
    assert facts_memo(PROFILES, True) is not None
