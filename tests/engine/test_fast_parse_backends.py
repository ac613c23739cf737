"""The compiled parse (`_parse.c`) gives parse.py's tree, or parse.py's refusal, everywhere.

Both routes run in one process: `parse._explicit` is the C level parse where it is built, and
`parse._explicit_level` (the Python loop, its reference) is put in its place to get the other
answer. Compared on the tests' datasets, the whole real corpus (../shared/corpus), a generated
benchmark corpus (and the 4,120-file one where it is on this machine), their cut and damaged
variants, hypothesis-generated datasets mutated at random, and raw element streams built from
random headers (every delimiter, VR and length form). ``parse_file`` and ``parse_head`` are
compared whole; the refusal's reason must be the same string.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.engine import builders as b
from tests.engine.test_fast_path_equivalence import BENCHMARKS, CORPUS, _encode, generated
from veil.engine.fast import parse
from veil.engine.fast.parse import Unsupported, parse_file, parse_head

needs_c = pytest.mark.skipif(parse.BACKEND != "c", reason="the C parse is not built here")
BENCH = BENCHMARKS / "work" / "corpus-v6-p20-s7"
HEAD_TAGS = (0x00080020, 0x00100020, 0x00200013, 0x7FE00010, 0xFFFFFFFF)


@contextmanager
def python_route() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parse, "_explicit", parse._explicit_level)
        yield


def _answer(read: Callable[[], object]) -> object:
    try:
        return read()
    except Unsupported as refused:
        return ("refused", refused.reason)


def _both(read: Callable[[], object]) -> tuple[object, object]:
    compiled = _answer(read)
    with python_route():
        python = _answer(read)
    return compiled, python


def _same_everywhere(data: bytes) -> object:
    """parse_file's and parse_head's answers by both routes, asserted equal; parse_file's."""
    compiled, python = _both(lambda: parse_file(data))
    assert compiled == python
    for last in HEAD_TAGS:
        head = _both(lambda last=last: parse_head(data, last))  # type: ignore[misc]
        assert head[0] == head[1]
    return compiled


def _files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix not in (".md", ".tsv", ".json")
    )


def _damaged(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    """Cut anywhere, a byte changed, a 4-byte length or a VR broken, a header doubled."""
    head = min(len(data), 8000)
    variants = []
    for _ in range(count):
        at = rng.randrange(132, head)
        variants.append(data[:at])
        flipped = bytearray(data)
        flipped[at] ^= rng.choice((0x01, 0x20, 0x80, 0xFF))
        variants.append(bytes(flipped))
        lengths = bytearray(data)
        lengths[at : at + 4] = rng.choice((b"\xff\xff\xff\xff", b"\0\0\0\0", b"\xfe\xff\xdd\xe0"))
        variants.append(bytes(lengths[: len(data)]))
        variants.append(data[:at] + data[at - 8 : at] + data[at:])
    return variants


@needs_c
def test_the_c_parse_is_in_use_and_the_python_route_can_be_forced() -> None:
    assert parse._explicit is not parse._explicit_level
    with python_route():
        assert parse._explicit is parse._explicit_level
    assert parse._COMPILED is parse._explicit


@needs_c
def test_the_tests_datasets_parse_the_same_by_both_routes() -> None:
    data = _encode(b.mr_dataset())
    parsed = _same_everywhere(data)
    assert isinstance(parsed, parse.ParsedFile) and len(parsed.elements) > 20
    # The very classes parse.py defines (the C parse fills their slots).
    assert type(parsed.elements[0]) is parse.Element
    for variant in _damaged(data, random.Random(5), 30):
        _same_everywhere(variant)


@needs_c
@pytest.mark.slow
def test_the_whole_corpus_parses_the_same_by_both_routes() -> None:
    files = _files(CORPUS)
    if not files:
        pytest.skip("../shared/corpus is not on this machine")
    rng = random.Random(12)
    trees, reasons = 0, set()
    for index, path in enumerate(files):
        data = path.read_bytes()
        answer = _same_everywhere(data)
        trees += isinstance(answer, parse.ParsedFile)
        if index % 9 == 0:
            for variant in _damaged(data, rng, 3):
                answer = _same_everywhere(variant)
                if isinstance(answer, tuple):
                    reasons.add(answer[1])
    assert trees > 800
    assert {"truncated", "unknown VR", "elements out of order"} <= reasons, reasons


@needs_c
@pytest.mark.slow
def test_a_generated_benchmark_corpus_parses_the_same_by_both_routes(tmp_path: Path) -> None:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from synth import generate  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(BENCHMARKS))
    info = generate(tmp_path, 1, 7)
    files = sorted(Path(info.root).rglob("*.dcm"))
    rng = random.Random(7)
    for path in files:
        data = path.read_bytes()
        assert isinstance(_same_everywhere(data), parse.ParsedFile)
        for variant in _damaged(data, rng, 1):
            _same_everywhere(variant)


@needs_c
@pytest.mark.slow
@pytest.mark.skipif(not BENCH.is_dir(), reason="the benchmark corpus is not on this machine")
def test_the_benchmark_corpus_parses_the_same_by_both_routes() -> None:
    for path in _files(BENCH):
        _same_everywhere(path.read_bytes())


@needs_c
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=generated(), cuts=st.lists(st.tuples(st.integers(0), st.integers(0, 255)), max_size=4))
def test_generated_and_mutated_datasets_parse_the_same_by_both_routes(
    data: bytes, cuts: list[tuple[int, int]]
) -> None:
    _same_everywhere(data)
    changed = bytearray(data)
    for at, byte in cuts:
        changed[132 + at % (len(data) - 132)] = byte
    _same_everywhere(bytes(changed))
    for at, _ in cuts:
        _same_everywhere(data[: 132 + at % (len(data) - 132)])


# -- raw element streams from random headers ----------------------------------------------
_VRS = [b"AE", b"CS", b"LO", b"OB", b"OW", b"SQ", b"UN", b"UT", b"US", b"ZZ", b"\0\0"]
_TAGS = [0x00080020, 0x00100010, 0x00200013, 0x00291010, 0x7FE00010, 0x00100010 - 1]
_DELIMITERS = [0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD, 0xFFFE0000]
_LENGTHS = st.sampled_from([0, 2, 4, 8, 12, 16, 0xFFFF, 0xFFFFFFFF]) | st.integers(0, 40)


@st.composite
def _header(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 3)) == 0:
        tag = draw(st.sampled_from(_DELIMITERS))
        return struct.pack("<HHL", tag >> 16, tag & 0xFFFF, draw(_LENGTHS))
    tag = draw(st.sampled_from(_TAGS) | st.integers(0, 0xFFFFFFFF))
    vr = draw(st.sampled_from(_VRS))
    length = draw(_LENGTHS)
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"ZZ"):
        head = struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr, 0, length)
    else:
        head = struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, length & 0xFFFF)
    return head + bytes(draw(st.integers(0, 6)))


@needs_c
@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(_header(), max_size=14),
    top=st.booleans(),
    last=st.sampled_from([1 << 32, 0xFFFFFFFF, 0x00200000]),
)
def test_random_element_streams_parse_the_same_by_both_routes(
    parts: list[bytes], top: bool, last: int
) -> None:
    data = b"".join(parts)
    for end in (len(data), len(data) // 2):
        # depth 0 and one below the limit: nesting refusals show up in few headers
        for depth in (0, parse.MAX_DEPTH - 1):
            read = lambda end=end, depth=depth: parse._explicit(data, 0, end, depth, top, last)  # noqa: E731
            compiled, python = _both(read)
            assert compiled == python


def _long(tag: int, vr: bytes, length: int) -> bytes:
    return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr, 0, length)


def _wrapped(head: bytes, body: bytes, undefined: bool, end: bytes) -> tuple[bytes, int]:
    """A body after its header, with its length or after an undefined length and ``end``."""
    return (head + body + end, 0xFFFFFFFF) if undefined else (head + body, len(body))


def _variants(level: bytes, changes: list[tuple[int, int]], cut: int) -> list[bytes]:
    """The level, bytes of it changed, cut anywhere, and cut in each of its last 8 bytes."""
    if not level:
        return [level]
    changed = bytearray(level)
    for at, byte in changes:
        changed[at % len(level)] = byte
    return [level, bytes(changed), level[: cut % len(level)]] + [level[:-k] for k in range(1, 9)]


_FLAT = ["short", "long"] * 4 + ["stray"]
_KINDS = _FLAT + ["sq"] * 6 + ["pixels"] * 2


@st.composite
def _level(draw: st.DrawFn, depth: int) -> bytes:
    """A dataset with short and long values, sequences of items and encapsulated pixels, in
    every length form; tags ascending (now and then repeated: out of order)."""
    out, tag = b"", 0x00080000
    for _ in range(draw(st.integers(0, 4))):
        tag += draw(st.sampled_from([1, 0x10, 0x10000, 0x200000] * 3 + [0]))
        kind = draw(st.sampled_from(_KINDS if depth < 3 else _FLAT))
        if kind == "stray":  # a delimiter or an item where an element belongs
            stray = draw(st.sampled_from([0xE00D, 0xE00D, 0xE0DD, 0xE000]))
            out += struct.pack("<HHL", 0xFFFE, stray, draw(st.sampled_from([0, 0, 8])))
        elif kind == "short":
            value = bytes(draw(st.integers(0, 6)))
            vr = draw(st.sampled_from([b"CS", b"LO", b"US"]))
            out += struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value
        elif kind == "long":
            value = bytes(draw(st.integers(0, 6)))
            out += _long(tag, draw(st.sampled_from([b"OB", b"UT", b"UN"])), len(value)) + value
        elif kind == "pixels":
            fragments = b"".join(
                struct.pack("<HHL", 0xFFFE, 0xE000, 4) + b"\xfe\xff\x00\x00"
                for _ in range(draw(st.integers(0, 2)))
            )
            out += (
                _long(tag, b"OB", 0xFFFFFFFF) + fragments + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
            )
        else:
            body = b""
            for _ in range(draw(st.integers(0, 2))):
                inner, length = _wrapped(
                    b"",
                    draw(_level(depth + 1)),
                    draw(st.booleans()),
                    b"\xfe\xff\x0d\xe0" + bytes(4),
                )
                body += struct.pack("<HHL", 0xFFFE, 0xE000, length) + inner
            whole, length = _wrapped(b"", body, draw(st.booleans()), b"\xfe\xff\xdd\xe0" + bytes(4))
            out += _long(tag, b"SQ", length) + whole
    return out


@needs_c
@settings(max_examples=300, deadline=None)
@given(
    level=_level(0),
    changes=st.lists(st.tuples(st.integers(0), st.integers(0, 255)), max_size=3),
    cut=st.integers(0),
)
def test_random_nested_levels_parse_the_same_by_both_routes(
    level: bytes, changes: list[tuple[int, int]], cut: int
) -> None:
    for data in _variants(level, changes, cut):
        for top, last in ((True, 1 << 32), (False, 1 << 32), (True, 0x00200000)):
            read = lambda data=data, top=top, last=last: parse._explicit(  # noqa: E731
                data, 0, len(data), 0, top, last
            )
            compiled, python = _both(read)
            assert compiled == python


def test_a_deep_nesting_is_refused_alike() -> None:
    item = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    sq = struct.pack("<HH2sHL", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF)
    data = (sq + item) * 40
    compiled, python = _both(lambda: parse._explicit(data, 0, len(data), 0, True, 1 << 32))
    assert compiled == python == ("refused", "nesting too deep")


@needs_c
def test_the_c_parse_refuses_a_class_whose_layout_it_does_not_know() -> None:
    from veil.engine.fast import _parse

    class Loose:  # a __dict__, no slots: its records could not be filled in place
        pass

    try:
        with pytest.raises(TypeError):
            _parse.bind(Loose, parse.Item, Unsupported, parse._RAW_VRS, parse.MAX_DEPTH)  # type: ignore[arg-type]
        with pytest.raises(RuntimeError):  # unbound after a refused bind: never a wild write
            _parse.explicit_level(b"", 0, 0, 0, True)
        with pytest.raises(ValueError):
            _parse.bind(parse.Element, parse.Item, Unsupported, {b"ABC": ("AB", False)}, 32)
    finally:
        _parse.bind(parse.Element, parse.Item, Unsupported, parse._RAW_VRS, parse.MAX_DEPTH)
    data = _encode(b.mr_dataset())
    assert _same_everywhere(data) == parse_file(data)
    with pytest.raises(ValueError):  # never a read past the buffer
        _parse.explicit_level(data, 0, len(data) + 1, 0, True)


@pytest.mark.skipif(not os.environ.get("CI"), reason="only CI promises a C compiler")
def test_ci_builds_the_c_parse_from_a_clean_clone() -> None:
    assert parse.BACKEND == "c"


_WITHOUT = """
import sys
if sys.argv[2] == "unbuilt":
    sys.modules["veil.engine.fast._parse"] = None  # as where no C compiler built it
from veil.engine.fast import FastOutput, deidentify_bytes, parse
from veil.mapping import Mapper
from veil.policy import compile_plan, load_policy

assert parse.BACKEND == "python" and parse._explicit is parse._explicit_level, parse.BACKEND
out = deidentify_bytes(open(sys.argv[1], "rb").read(), compile_plan(load_policy("basic")),
                       Mapper(bytes(32)), audit=True)
assert isinstance(out, FastOutput), out
print("python parse ok")
"""


@pytest.mark.parametrize("how", ["unbuilt", "forced"])
def test_without_the_c_parse_the_fast_path_parses_in_python(tmp_path: Path, how: str) -> None:
    path = tmp_path / "in.dcm"
    path.write_bytes(_encode(b.mr_dataset()))
    env = {k: v for k, v in os.environ.items() if k != "VEIL_PARSE_BACKEND"}
    if how == "forced":
        env["VEIL_PARSE_BACKEND"] = "python"
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT, str(path), how],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "python parse ok" in done.stdout
