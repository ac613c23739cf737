"""The fast path's shortcuts give what the longer routes beside them give.

- the parse's one-unpack loop gives the tree (or the refusal) of the element-by-element parse
  it replaced (`_header` then `_element` per element), on real files, cut and damaged;
- the quick tables' decisions (kept runs copied as one slice, private elements and unlisted
  text decided without the element's own route) give the bytes the element's own route gives;
- the audit's needles memoised per list of identifiers are the needles of those identifiers;
- the memoised mapper gives the mapper's UIDs and pseudonyms.
"""

from __future__ import annotations

import io
import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.engine import builders as b
from tests.engine.test_fast_path_equivalence import (
    CORPUS,
    POLICIES,
    _encode,
    _plan,
    generated,
    same_or_handed_over,
)
from veil.engine.context import Context, Mode
from veil.engine.fast import Fallback, FastOutput, deidentify_bytes, parse
from veil.engine.fast import audit as fast_audit
from veil.engine.fast import tables as fast_tables
from veil.engine.fast.memo import MemoMapper, memoised
from veil.engine.fast.parse import (
    ITEM,
    ITEM_END,
    SEQUENCE_END,
    SEQUENCE_END_BYTES,
    UNDEFINED,
    Element,
    Item,
    Unsupported,
    parse_file,
)
from veil.mapping import LookupEntry, Mapper, Patient
from veil.policy.plan import Plan

MAPPER = Mapper(bytes(range(32)))
TESTS = Path(__file__).resolve().parents[1]


def _files(every: int) -> list[Path]:
    roots = [CORPUS] if CORPUS.is_dir() else []
    found = sorted(
        p
        for root in roots
        for p in root.rglob("*")
        if p.is_file() and p.suffix not in (".md", ".tsv")
    )
    return found[::every]


# -- the element-by-element parse, as it was before the one-unpack loop ----------------------
def _slow_level(
    data: bytes, pos: int, end: int, depth: int, top: bool = False
) -> tuple[list[Element], int]:
    if depth > parse.MAX_DEPTH:
        raise Unsupported("nesting too deep")
    elements: list[Element] = []
    previous = -1
    while pos < end:
        tag, vr, length, start = parse._header(data, pos, end)
        if tag == ITEM_END:
            if top:
                raise Unsupported("delimiter outside a sequence")
            return elements, pos
        if tag >> 16 == 0xFFFE:
            raise Unsupported("delimiter out of place")
        if tag <= previous:
            raise Unsupported("elements out of order")
        previous = tag
        elem = _slow_element(data, tag, vr, pos, start, length, end, depth)
        elements.append(elem)
        pos = elem.end
    if pos != end:
        raise Unsupported("truncated")
    return elements, pos


def _slow_element(
    data: bytes, tag: int, vr: str, pos: int, start: int, length: int, end: int, depth: int
) -> Element:
    if length == UNDEFINED:
        if vr == "SQ":
            items, after = _slow_items(data, start, end, depth, undefined=True)
            return Element(tag, vr, pos, start, after - 8, after, True, items)
        if vr == "UN":
            raise Unsupported("UN of undefined length")
        stop = data.find(SEQUENCE_END_BYTES, start, end)
        if stop < 0 or stop + 8 > end:
            raise Unsupported("truncated")
        return Element(tag, vr, pos, start, stop, stop + 8, True)
    after = start + length
    if after > end:
        raise Unsupported("truncated")
    if vr == "SQ":
        items, last = _slow_items(data, start, after, depth, undefined=False)
        if last != after:
            raise Unsupported("sequence length mismatch")
        return Element(tag, vr, pos, start, after, after, False, items)
    return Element(tag, vr, pos, start, after, after)


def _slow_items(
    data: bytes, pos: int, end: int, depth: int, *, undefined: bool
) -> tuple[list[Item], int]:
    items: list[Item] = []
    while True:
        if not undefined and pos == end:
            return items, pos
        if pos + 8 > end:
            raise Unsupported("truncated")
        group, number, length = parse._HHL.unpack_from(data, pos)
        tag = (group << 16) | number
        if tag == SEQUENCE_END:
            if not undefined or length != 0:
                raise Unsupported("unexpected sequence delimiter")
            return items, pos + 8
        if tag != ITEM:
            raise Unsupported("not an item in a sequence")
        start = pos + 8
        if length == UNDEFINED:
            elements, stop = _slow_level(data, start, end, depth + 1)
            if stop + 8 > end or parse._HHL.unpack_from(data, stop) != (0xFFFE, 0xE00D, 0):
                raise Unsupported("item not closed")
            items.append(Item(pos, start, stop, stop + 8, True, elements))
            pos = stop + 8
        else:
            after = start + length
            if after > end:
                raise Unsupported("truncated")
            elements, stop = _slow_level(data, start, after, depth + 1)
            if stop != after:
                raise Unsupported("item length mismatch")
            items.append(Item(pos, start, after, after, False, elements))
            pos = after


def _damaged(data: bytes, rng: random.Random) -> list[bytes]:
    head = min(len(data), 6000)
    variants = [data]
    for _ in range(4):
        variants.append(data[: rng.randrange(132, head)])
        flipped = bytearray(data)
        flipped[rng.randrange(132, head)] ^= rng.choice((0x01, 0x20, 0xFF))
        variants.append(bytes(flipped))
    return variants


def _read(level: object, data: bytes, start: int) -> object:
    try:
        return level(data, start, len(data), 0, True)[0]  # type: ignore[operator]
    except Unsupported as refused:
        return refused.reason


def test_the_one_unpack_parse_gives_the_element_by_element_tree_or_refusal() -> None:
    rng = random.Random(12)
    datas = [_encode(b.mr_dataset())] + [p.read_bytes() for p in _files(7)]
    trees, reasons = 0, set()
    for data in datas:
        try:
            parsed = parse_file(data)
        except Unsupported:
            continue
        if parsed.implicit:
            continue  # implicit VR keeps its own loop
        start = parsed.elements[0].start
        for variant in _damaged(data, rng):
            got = _read(parse._level, variant, start)
            assert got == _read(_slow_level, variant, start)
            if isinstance(got, str):
                reasons.add(got)
            else:
                trees += 1
    assert trees > 10
    if CORPUS.is_dir():
        assert {"truncated", "unknown VR"} <= reasons, reasons


def _slow_head(data: bytes, last: int) -> list[Element]:
    """`parse_head` as it was (its checks of the file meta, then its own loop)."""
    if len(data) < 140 or data[128:132] != b"DICM":
        raise Unsupported("not Part 10 (no DICM marker)")
    meta, pos = parse._meta(data)
    if not parse.is_explicit_le(parse._text(meta.get(parse.TRANSFER_SYNTAX, b""))):
        raise Unsupported("not explicit VR little endian")
    if pos + 8 > len(data) or data[pos + 4 : pos + 6].decode("latin-1") not in parse._VALID_VRS:
        raise Unsupported("dataset contradicts its syntax")
    elements: list[Element] = []
    previous, end = -1, len(data)
    while pos < end:
        tag, vr, length, value = parse._header(data, pos, end)
        if tag >> 16 == 0xFFFE or tag <= previous:
            raise Unsupported("elements out of order")
        if tag > last:
            break
        previous = tag
        elem = _slow_element(data, tag, vr, pos, value, length, end, 0)
        elements.append(elem)
        pos = elem.end
    return elements


def test_the_head_parse_gives_what_its_own_loop_gave() -> None:
    rng = random.Random(3)
    datas = [_encode(b.mr_dataset())] + [p.read_bytes() for p in _files(11)]
    compared = 0
    for data in datas:
        try:
            parsed = parse_file(data)
        except Unsupported:
            continue
        if parsed.implicit:
            continue
        for variant in _damaged(data, rng):
            for last in (0x00080020, 0x00200013, 0x7FE00010, 0xFFFFFFFF):
                try:
                    expected: object = _slow_head(variant, last)
                except Unsupported as refused:
                    expected = refused.reason
                try:
                    got: object = parse.parse_head(variant, last)
                except Unsupported as refused:
                    got = refused.reason
                assert got == expected
                compared += 1
    assert compared > 40


# -- the quick tables against the element's own route ---------------------------------------
def _outcome(data: bytes, plan: Plan) -> object:
    fast = deidentify_bytes(data, plan, MAPPER, audit=True)
    if isinstance(fast, Fallback):
        return fast.reason, b""
    assert isinstance(fast, FastOutput)
    return "fast", fast.encoded


def _nested() -> bytes:
    """Unlisted text in a dummied sequence, and code meanings (cleaned with descriptors)."""
    ds = b.mr_dataset()
    observer = Dataset()
    observer.VerifyingObserverName = "SMITH^JOHN"
    observer.CodeMeaning = "SECOND READER"
    observer.Manufacturer = "ACME"
    ds.VerifyingObserverSequence = Sequence([observer])
    region = Dataset()
    region.CodeValue = "T-A0100"
    region.CodingSchemeDesignator = "SRT"
    region.CodeMeaning = "Brain PID-0042"  # the patient's ID: cleaned with descriptors
    ds.AnatomicRegionSequence = Sequence([region])
    block = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    block.add_new(0x08, "CS", "NORMAL")
    return _encode(ds)


def _quick_and_slow(datas: list[bytes], plan: Plan) -> tuple[list[object], list[object]]:
    quick = [_outcome(data, plan) for data in datas]
    with pytest.MonkeyPatch.context() as patch:
        # Every element through `Rewriter.element` (no quick decision, no kept run).
        patch.setattr(fast_tables.Tables, "_quick", lambda *_: fast_tables.OTHER)
        patch.setattr(fast_tables, "_TABLES", {})
        slow = [_outcome(data, plan) for data in datas]
    return quick, slow


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_the_quick_decisions_give_the_bytes_of_each_elements_own_route(policy: str) -> None:
    datas = [_encode(b.mr_dataset()), _nested()] + [p.read_bytes() for p in _files(40)]
    quick, slow = _quick_and_slow(datas, _plan(POLICIES[policy]))
    assert quick == slow
    assert ("fast" in str(quick[1])) == (policy in ("release", "research", "structured"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=generated(), policy=st.sampled_from(sorted(POLICIES)))
def test_generated_datasets_get_the_same_bytes_by_both_routes(data: bytes, policy: str) -> None:
    quick, slow = _quick_and_slow([data], _plan(POLICIES[policy]))
    assert quick == slow


# -- the audit's needles --------------------------------------------------------------------
def test_the_needles_memoised_per_list_are_the_needles_of_the_identifiers() -> None:
    datas = [_encode(b.mr_dataset())] + [p.read_bytes() for p in _files(60)]
    checked = 0
    for data in datas:
        try:
            parsed = parse_file(data)
            found = fast_audit.collect(parsed, frozenset(), "latin_1")
            keys, needles = fast_audit._needles(found)
        except Unsupported:
            continue
        idents = {ident for idents in found.values() for ident in idents}
        expected = set()
        for ident in idents:
            entry = fast_audit._ident_needles(ident)
            assert entry is not None
            expected.update(zip(entry[0], entry[1], strict=True))
        assert set(zip(keys, needles, strict=True)) == expected
        assert len(keys) == sum(len(e[0]) for e in map(fast_audit._ident_needles, idents) if e)
        # Again, from the memo of the known lists (all of them now): the same needles, in an
        # order of no consequence (the audit asks whether any hit may be reported).
        again = fast_audit._needles(found)
        assert Counter(zip(*again, strict=True)) == Counter(zip(keys, needles, strict=True))
        checked += bool(keys)
    assert checked >= 1


def _series(name: str, count: int) -> list[bytes]:
    return [p.read_bytes() for p in sorted((CORPUS / name).rglob("*")) if p.is_file()][:count]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not next to the checkout")
def test_the_needles_of_a_series_from_the_memo_are_those_of_its_identifiers() -> None:
    """The files of a series one after another (the memo of the lists each shares with the
    file before serves them, only each file's own UIDs are added), then two series
    interleaved (the memo changes at every file): each file's needles are exactly those of
    its identifiers, once per identifier."""
    one = _series("dcm_qa_deident/Accelerated_SAG_IR-SPGR", 16)
    two = _series("dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22", 8)
    interleaved = [data for pair in zip(one[8:], two, strict=True) for data in pair]
    fast_audit._MEMO.clear()
    served = 0
    for data in one[:8] + interleaved:
        found = fast_audit.collect(parse_file(data), frozenset(), "latin_1")
        memo = fast_audit._MEMO[0] if fast_audit._MEMO else None
        keys, needles = fast_audit._needles(found)
        served += memo is not None and bool(memo.lists) and fast_audit._MEMO[0] is memo
        expected: Counter[tuple[bytes, object]] = Counter()
        for ident in {ident for idents in found.values() for ident in idents}:
            entry = fast_audit._ident_needles(ident)
            assert entry is not None
            expected.update(zip(*entry, strict=True))
        assert Counter(zip(keys, needles, strict=True)) == expected
    assert served >= 6  # the first series' files after its first: the memo's own path ran


# -- the memoised mapper --------------------------------------------------------------------
def test_the_memoised_mapper_gives_the_mappers_uids_and_pseudonyms() -> None:
    lookup = {("", "TRIAL-7"): LookupEntry("SUBJ-007")}
    mapper = Mapper(bytes(range(32)), lookup)
    memo = memoised(mapper)
    assert isinstance(memo, MemoMapper) and memoised(mapper) is memo and memoised(memo) is memo
    for round_ in range(2):  # the second round from the memo
        for n in range(50):
            uid = f"1.2.826.0.1.{n}"
            assert memo.uid(uid) == mapper.uid(uid), round_
        for patient in (
            Patient("12345", "HOSP"),
            Patient("12345"),
            Patient("TRIAL-7"),
            Patient("", "", "1.2.3", "1.2.3.4"),
        ):
            assert memo.patient_pseudonym(patient) == mapper.patient_pseudonym(patient)
    assert memo.date_offset_days(Patient("12345")) == mapper.date_offset_days(Patient("12345"))


def test_the_memoised_pseudonym_follows_the_instance_only_where_the_mapper_does() -> None:
    mapper = Mapper(bytes(range(32)))
    memo = memoised(mapper)
    patients = [
        Patient(patient_id, "", study, f"1.2.3.{instance}")
        for patient_id in ("12345", "UNKNOWN", "")
        for study in ("1.2.9", "", " \x00")
        for instance in range(3)
    ]
    for patient in patients * 2:
        assert memo.patient_pseudonym(patient) == mapper.patient_pseudonym(patient)
    # A placeholder ID without a study: each instance is its own subject (and stays so).
    alone = {memo.patient_pseudonym(Patient("UNKNOWN", "", "", f"1.2.3.{n}")) for n in range(3)}
    assert len(alone) == 3


# -- neuroquant's plan: kept listed elements, the derived age and the record, memoised -------
def _age_variant(age: str | None, birth: str, dates: tuple[str, str, str, str]) -> bytes:
    ds = b.mr_dataset()
    if age is None:
        if "PatientAge" in ds:
            del ds.PatientAge
    else:
        ds.PatientAge = age
    ds.PatientBirthDate = birth
    ds.StudyDate, ds.SeriesDate, ds.AcquisitionDate, ds.ContentDate = dates
    return _encode(ds)


def _age_of(encoded: bytes) -> bytes | None:
    """PatientAge's value in an output (the fast parse)."""
    for elem in parse_file(encoded).elements:
        if elem.tag == 0x00101010:
            return encoded[elem.value_start : elem.value_end]
    return None


def test_kept_listed_elements_are_decided_converted_and_give_their_own_routes_bytes() -> None:
    plan = _plan(profiles=("neuroquant",))
    tables = fast_tables.Tables(plan)
    context = Context(plan, MAPPER, "1.2.840.10008.5.1.4.1.1.4", Patient(""))
    # PatientSex is kept as it is under neuroquant: converted, without its own route; the
    # top level's PatientAge too, or replaced by the derived age.
    quick = [
        tables.quick_code(tag, vr, context, (), Mode.PLAN, top)
        for tag, vr, top in ((0x00100040, "CS", True), (0x00101010, "AS", True))
    ]
    assert quick == [fast_tables.CONVERTED, fast_tables.AGE]
    basic = fast_tables.Tables(_plan())
    assert basic.quick_code(0x00101010, "AS", context, (), Mode.PLAN, True) is fast_tables.OTHER
    odd = b.mr_dataset()
    odd.PatientSex = "O"
    raw_odd = bytearray(_encode(odd))
    # An odd-length value (pydicom pads it when writing): the round trip changes its bytes.
    at = raw_odd.index(b"\x10\x00\x40\x00CS\x02\x00O ")
    raw_odd[at : at + 10] = b"\x10\x00\x40\x00CS\x01\x00O"
    dates = ("20240131", "20240131", "20240131", "20240131")
    datas = [_encode(b.mr_dataset()), bytes(raw_odd), _nested()] + [
        _age_variant(age, "19800115", dates) for age in (None, "99", "044Y", "44Y", "")
    ]
    datas += [p.read_bytes() for p in _files(40)]
    quick_outcomes, slow = _quick_and_slow(datas, plan)
    assert quick_outcomes == slow
    taken = [str(outcome[0]) for outcome in quick_outcomes[:8]]  # type: ignore[index]
    assert taken == ["fast", "fast", "audit: a possible finding"] + ["fast"] * 5
    written = [same_or_handed_over(data, plan) for data in datas[:2]]
    assert all(isinstance(output, FastOutput) for output in written)
    # The odd value comes out padded, as pydicom writes it (the reference's bytes).
    assert b"\x10\x00\x40\x00CS\x02\x00O " in written[1].encoded  # type: ignore[union-attr]


def test_the_derived_age_memo_tells_apart_every_value_it_reads() -> None:
    """A series repeats the age's inputs: memoised on their bytes, each differing one still
    gives the reference path's age (and the fresh tables' bytes)."""
    plan = _plan(profiles=("neuroquant",))
    dates = ("20240131", "20240131", "20240131", "20240131")
    variants = [
        _age_variant(None, "19800115", dates),
        _age_variant(None, "19800115", dates),  # from the memo
        _age_variant(None, "19700115", dates),  # another birth date
        _age_variant("99", "19800115", dates),  # an invalid age, replaced
        _age_variant("044Y", "19800115", dates),  # a valid one, kept
        _age_variant(None, "19800115", ("", "20300131", "20240131", "20240131")),
        _age_variant(None, "19800115", ("", "", "", "20350131")),
        _age_variant(None, "", dates),  # no birth date: no age
    ]
    for age in ("044Y", "99"):
        # A study date of another VR: the age is not read alone (the memo of every value).
        ds = dcmread(io.BytesIO(_age_variant(age, "19800115", ("", "", "", ""))))
        ds.add_new(0x00080020, "LO", "20300131")
        variants.append(_encode(ds))
    ages = []
    for data in variants:
        result = same_or_handed_over(data, plan)
        assert isinstance(result, FastOutput)
        ages.append(_age_of(result.encoded))
    expected = [b"044Y", b"044Y", b"054Y", b"044Y", b"044Y", b"050Y", b"055Y", None]
    assert ages == [*expected, b"044Y", b"050Y"]
    fresh = []
    for data in variants:
        fast_tables._TABLES.clear()
        fresh.append(_outcome(data, plan))
    assert fresh == [_outcome(data, plan) for data in variants]


def test_the_record_memo_keeps_the_inputs_own_record_forms() -> None:
    """The de-identification record is memoised per plan and per form of the input's own
    record attributes (VR, length form): each input still gets the reference's bytes."""
    plan = _plan(profiles=("neuroquant",))
    plain = b.mr_dataset()
    defined, undefined = b.mr_dataset(), b.mr_dataset()
    for ds in (defined, undefined):
        code = Dataset()
        code.CodeValue = "113100"
        code.CodingSchemeDesignator = "DCM"
        code.CodeMeaning = "Basic Application Confidentiality Profile"
        ds.DeidentificationMethodCodeSequence = Sequence([code])
    undefined["DeidentificationMethodCodeSequence"].is_undefined_length = True
    marked = b.mr_dataset()
    marked.LongitudinalTemporalInformationModified = "MODIFIED"
    marked.PatientIdentityRemoved = "NO"
    datas = [_encode(ds) for ds in (plain, defined, undefined, marked, plain)]
    outputs = [same_or_handed_over(data, plan) for data in datas]
    assert all(isinstance(output, FastOutput) for output in outputs)
    encoded = [output.encoded for output in outputs]  # type: ignore[union-attr]
    assert encoded[0] == encoded[4]
    codes = b"\x12\x00\x64\x00SQ\x00\x00"
    assert codes + b"\xff\xff\xff\xff" in encoded[2]
    assert codes + b"\xff\xff\xff\xff" not in encoded[1]
    assert b"REMOVED" in encoded[3]
