"""The compiled `raw_scan` (`_parse.c`) gives header.py's Python loop's answer, everywhere.

`veil.engine.fast.header.raw_scan` reads, for the `--for` facts memo, the encoded bytes of the
top-level elements among some tags (the memo's key), one element held apart, the character
set and the private creators at any level. Its C route must give `_raw_scan_python`'s answer
(the reference) byte for byte: compared on the tests' datasets, the whole real corpus
(../shared/corpus, explicit and implicit VR), the benchmark corpus where it is on this
machine and hypothesis-generated datasets, with the memo's own tags and random tag sets
(adjacent runs, gaps, pixel data, the position held apart or not). A record it does not know
goes by the Python loop.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.sequence import Sequence

from tests.engine import builders as b
from tests.engine.test_fast_path_equivalence import BENCHMARKS, CORPUS, _encode, generated
from veil.check.profile import load_profile
from veil.check.rawfacts import FactsMemo
from veil.check.reads import POSITION
from veil.engine.fast import FastOutput, deidentify_bytes, header, parse
from veil.engine.fast.parse import Element, ParsedFile, Unsupported, parse_file
from veil.mapping import Mapper
from veil.policy import compile_plan, load_policy
from veil.policy.plan import Plan

needs_c = pytest.mark.skipif(parse.BACKEND != "c", reason="the C parse is not built here")
BENCH = BENCHMARKS / "work" / "corpus-v6-p20-s7"
NEUROQUANT = FactsMemo((load_profile("neuroquant"),), True)
MAPPER = Mapper(bytes(range(32)))
# Plans whose rewrites differ: removals only, kept and derived elements, the research policy.
PLANS = (
    compile_plan(load_policy("basic")),
    compile_plan(load_policy("basic"), [load_profile("neuroquant")]),
    compile_plan(load_policy("research-longitudinal")),
)


def _parsed(data: bytes) -> ParsedFile | None:
    try:
        return parse_file(data)
    except Unsupported:
        return None


def _tag_sets(parsed: ParsedFile, rng: random.Random) -> list[frozenset[int]]:
    present = [e.tag for e in parsed.elements]
    sets = [NEUROQUANT.tags, frozenset(present), frozenset()]
    for _ in range(3):
        sets.append(frozenset(rng.sample(present, rng.randint(0, len(present)))))
    return sets


def _same(parsed: ParsedFile, tags: frozenset[int], apart: int | None) -> header.RawScan:
    compiled = header.raw_scan(parsed, tags, apart)
    python = header._raw_scan_python(parsed, tags, apart)
    assert compiled == python
    assert type(compiled.key) is bytes
    return compiled


def _same_everywhere(parsed: ParsedFile, rng: random.Random) -> None:
    for tags in _tag_sets(parsed, rng):
        for apart in (None, POSITION, header.CHARSET, rng.choice(sorted(tags) or [1])):
            _same(parsed, tags, apart)


def _files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix not in (".md", ".tsv", ".json")
    )


@needs_c
def test_the_c_route_is_in_use() -> None:
    assert header._COMPILED_SCAN is not None
    parsed = parse_file(_encode(b.mr_dataset()))
    scan = header._COMPILED_SCAN(
        parsed.elements, parsed.data, NEUROQUANT.tags, POSITION, header.PIXEL_TAGS,
        header.CHARSET, False,
    )  # fmt: skip
    assert scan[0][:1] == b"\0" and len(scan[0]) > 100
    assert scan[1] is not None and scan[1][0] == "DS"  # the position, held apart


@needs_c
def test_the_tests_datasets_scan_the_same_by_both_routes() -> None:
    parsed = parse_file(_encode(b.mr_dataset()))
    rng = random.Random(3)
    for _ in range(5):
        _same_everywhere(parsed, rng)
    scan = _same(parsed, NEUROQUANT.tags, POSITION)
    # Not empty answers: the key holds the elements read, the position is apart.
    assert scan.apart is not None and scan.charset is None
    assert parsed.data[parsed.elements[0].start : parsed.elements[0].end] not in scan.key


@needs_c
def test_private_creators_at_every_level_and_the_charset_are_found_alike() -> None:
    ds = b.mr_dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    block = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    block.add_new(0x10, "OB", b"\0\1")
    inner = b.mr_dataset()
    inner.private_block(0x0019, "GEMS_ACQU_01", create=True).add_new(0x10, "LO", "x")
    ds.ReferencedImageSequence = Sequence([inner])
    parsed = parse_file(_encode(ds))
    scan = _same(parsed, NEUROQUANT.tags, POSITION)
    assert {value.rstrip(b" ") for _, _, value in scan.creators} >= {
        b"SIEMENS CSA HEADER",
        b"GEMS_ACQU_01",  # inside an item
    }
    assert scan.charset == ("CS", b"ISO_IR 100")


@needs_c
def test_a_record_the_c_route_does_not_know_goes_by_the_python_loop() -> None:
    parsed = parse_file(_encode(b.mr_dataset()))
    first = parsed.elements[0]
    # A position past the buffer (the C route refuses it; a Python slice stops at the end).
    beyond = Element(first.tag, first.vr, first.start, first.value_start, 10**9, 10**9)
    odd = ParsedFile(parsed.meta, parsed.transfer_syntax, [beyond], parsed.data)
    tags = frozenset({first.tag})
    with pytest.raises(ValueError):
        header._COMPILED_SCAN(  # type: ignore[misc]
            odd.elements, odd.data, tags, -1, header.PIXEL_TAGS, header.CHARSET, False
        )
    assert header.raw_scan(odd, tags, None) == header._raw_scan_python(odd, tags, None)


@needs_c
@pytest.mark.slow
def test_the_whole_corpus_scans_the_same_by_both_routes() -> None:
    files = _files(CORPUS)
    if not files:
        pytest.skip("../shared/corpus is not on this machine")
    rng = random.Random(12)
    scanned = implicit = 0
    for path in files:
        parsed = _parsed(path.read_bytes())
        if parsed is None:
            continue
        _same_everywhere(parsed, rng)
        scanned += 1
        implicit += parsed.implicit
    assert scanned > 800 and implicit > 10


@needs_c
@pytest.mark.slow
@pytest.mark.skipif(not BENCH.is_dir(), reason="the benchmark corpus is not on this machine")
def test_the_benchmark_corpus_scans_the_same_by_both_routes() -> None:
    rng = random.Random(7)
    for path in _files(BENCH)[::7]:
        parsed = _parsed(path.read_bytes())
        assert parsed is not None
        _same_everywhere(parsed, rng)


@needs_c
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=generated(), seed=st.integers(0, 2**32))
def test_generated_datasets_scan_the_same_by_both_routes(data: bytes, seed: int) -> None:
    parsed = _parsed(data)
    if parsed is not None:
        _same_everywhere(parsed, random.Random(seed))


# -- changes_key: the rewrite's output of the memo's tags, as one bytes -----------------------
def _changes_same(data: bytes, plan: Plan, rng: random.Random) -> int:
    """Both routes of `changes_key` on one file's rewrite, with the memo's tags and random
    ones; how many keys were compared (0: the fast path handed the file over)."""
    fast = deidentify_bytes(data, plan, MAPPER, audit=False)
    if not isinstance(fast, FastOutput) or fast.changes is None:
        return 0
    changes = fast.changes
    touched = sorted({*changes.spans, *(tag for tag, _ in changes.added)})
    sets = [NEUROQUANT.tags, frozenset(touched), frozenset()]
    sets.append(frozenset(rng.sample(touched, rng.randint(0, len(touched)))))
    for tags in sets:
        ordered = tuple(sorted(tags))
        compiled = header.changes_key(changes, ordered, tags)
        assert compiled == header._changes_key_python(changes, ordered, tags)
        # It stands for changes_in: each (tag, bytes) in order, nothing else.
        found, at = [], 0
        while at < len(compiled):
            tag, size = header._TAG_LENGTH.unpack_from(compiled, at)
            found.append((tag, compiled[at + 8 : at + 8 + size]))
            at += 8 + size
        assert tuple(found) == header.changes_in(changes, ordered, tags)
    return len(sets)


@needs_c
def test_the_c_changes_key_is_in_use() -> None:
    assert header._COMPILED_CHANGES is not None


@needs_c
def test_the_tests_datasets_key_their_changes_the_same_by_both_routes() -> None:
    rng = random.Random(5)
    compared = 0
    other = b.mr_dataset()  # dates, age, sex and a private block the plans treat apart
    other.SpecificCharacterSet = "ISO_IR 100"
    other.PatientAge, other.PatientSex, other.StudyDate = "054Y", "F", "20240102"
    other.private_block(0x0029, "SIEMENS CSA HEADER", create=True).add_new(0x10, "OB", b"x")
    for plan in PLANS:
        for ds in (b.mr_dataset(), other):
            compared += _changes_same(_encode(ds), plan, rng)
    assert compared


@needs_c
def test_changes_the_c_route_does_not_know_go_by_the_python_route() -> None:
    fast = deidentify_bytes(_encode(b.mr_dataset()), PLANS[1], MAPPER, audit=False)
    assert isinstance(fast, FastOutput) and fast.changes is not None
    changes = fast.changes
    tags = frozenset([*changes.spans, *(tag for tag, _ in changes.added)])
    ordered = tuple(sorted(tags))
    expected = header._changes_key_python(changes, ordered, tags)
    # A slice past the data, a span past the chunks, a chunk of another type.
    first = next(iter(changes.spans.values()))[0]
    broken = [
        replace(changes, chunks=[(0, len(changes.data) + 1)] * len(changes.chunks)),
        replace(changes, spans={tag: (0, len(changes.chunks) + 1) for tag in changes.spans}),
        replace(changes, chunks=[*changes.chunks[:first], "x", *changes.chunks[first + 1 :]]),
    ]
    for odd in broken:
        with pytest.raises((TypeError, ValueError)):
            header._COMPILED_CHANGES(  # type: ignore[misc]
                odd.data, odd.chunks, odd.spans, ordered, odd.added
            )
    assert header.changes_key(changes, ordered, tags) == expected


@needs_c
@pytest.mark.slow
def test_the_whole_corpus_keys_its_changes_the_same_by_both_routes() -> None:
    files = _files(CORPUS)
    if not files:
        pytest.skip("../shared/corpus is not on this machine")
    rng = random.Random(13)
    compared = sum(_changes_same(p.read_bytes(), plan, rng) for p in files for plan in PLANS)
    assert compared > 2000


@needs_c
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=generated(), seed=st.integers(0, 2**32))
def test_generated_datasets_key_their_changes_the_same_by_both_routes(
    data: bytes, seed: int
) -> None:
    rng = random.Random(seed)
    for plan in PLANS:
        _changes_same(data, plan, rng)
