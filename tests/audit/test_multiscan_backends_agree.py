"""The compiled scan kernel (every route this CPU supports: AVX2, SSSE3, scalar) and the numpy
fallback find exactly what a plain search finds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import CORPUS
from tests.engine import builders as b
from veil.audit import multiscan

_C_ROUTES = multiscan.ROUTES  # empty without the kernel: the route tests are then skipped


def _plain(data: bytes, needles: list[bytes]) -> list[tuple[int, int]]:
    lowered = data.lower()
    hits = []
    for offset in range(len(data)):
        for index, needle in enumerate(needles):
            if lowered.startswith(needle, offset):
                hits.append((offset, index))
    return hits


_BYTES = st.binary(min_size=0, max_size=400) | st.text("abAB1.2 ").map(str.encode)
_NEEDLES = st.lists(st.text("abAB1.2 ", min_size=2, max_size=6), min_size=1, max_size=6).map(
    lambda texts: [t.lower().encode() for t in dict.fromkeys(t.lower() for t in texts)]
)


@settings(max_examples=200, deadline=None)
@given(data=_BYTES, needles=_NEEDLES)
def test_numpy_matcher_finds_every_occurrence_case_insensitively(
    data: bytes, needles: list[bytes]
) -> None:
    assert sorted(multiscan.new_matcher(needles, "numpy").find(data)) == _plain(data, needles)


@pytest.mark.parametrize("route", _C_ROUTES)
@settings(max_examples=300, deadline=None)
@given(data=_BYTES, needles=_NEEDLES, start=st.integers(0, 50))
def test_c_kernel_finds_exactly_what_numpy_finds(
    route: str, data: bytes, needles: list[bytes], start: int
) -> None:
    c_hits = multiscan.new_matcher(needles, "c", route).find(data, start)
    assert c_hits == sorted(c_hits)
    assert sorted(c_hits) == sorted(multiscan.new_matcher(needles, "numpy").find(data, start))


# Hundreds of needles with many first pairs: the kernel's table of pairs (open addressing,
# sized by the needle count) collides and probes; the answers must not change.
_MANY = st.lists(
    st.text("abcdefghij0123456789.-", min_size=2, max_size=5), min_size=1, max_size=400
).map(lambda texts: [t.encode() for t in dict.fromkeys(texts)])


@pytest.mark.parametrize("route", _C_ROUTES)
@settings(max_examples=60, deadline=None)
@given(data=st.text("abcdefghijABCDEFGHIJ0123456789.- ", max_size=3000), needles=_MANY)
def test_c_kernel_with_many_needles_finds_what_numpy_finds(
    route: str, data: str, needles: list[bytes]
) -> None:
    raw = data.encode()
    c_hits = multiscan.new_matcher(needles, "c", route).find(raw)
    assert c_hits == multiscan.new_matcher(needles, "numpy").find(raw)


# The SIMD routes' prefilter works on nibbles: bytes that share a nibble with a letter of a
# needle in either case ("@[`{" beside the letters, 0xC1/0xE1 beside "A"/"a"), digits, NUL.
_NEAR = b"abzAZ@[`{019.- \x00\xc1\xe1"
_SHORT_NEEDLES = st.lists(
    st.lists(st.sampled_from(_NEAR), min_size=2, max_size=5).map(lambda c: bytes(c).lower()),
    min_size=1,
    max_size=12,
)  # duplicates kept: the audit passes one needle once per identifier


@st.composite
def _planted(draw: st.DrawFn) -> tuple[bytes, list[bytes], int, int]:
    """Needles (2-byte ones often), and data made of noise and needles in random case, so
    matches fall on and across the 16/32-byte vector edges and at the buffer's ends."""
    needles = draw(_SHORT_NEEDLES)
    pieces = []
    for _ in range(draw(st.integers(0, 30))):
        if draw(st.booleans()):
            needle = draw(st.sampled_from(needles))
            upper = draw(st.integers(0, 2 ** len(needle) - 1))
            pieces.append(
                bytes(
                    c ^ 32 if upper >> k & 1 and 97 <= c <= 122 else c for k, c in enumerate(needle)
                )
            )
        else:
            pieces.append(bytes(draw(st.lists(st.sampled_from(_NEAR), max_size=40))))
    data = b"".join(pieces)
    start = draw(st.integers(-3, len(data) + 3))
    stop = draw(st.integers(-3, len(data) + 3) | st.just(len(data)) | st.just(len(data) - 1))
    return data, needles, start, stop


@pytest.mark.skipif(multiscan.BACKEND != "c", reason="the C kernel is not built here")
@settings(max_examples=500, deadline=None)
@given(case=_planted())
def test_every_route_finds_what_numpy_and_a_plain_search_find(
    case: tuple[bytes, list[bytes], int, int],
) -> None:
    data, needles, start, stop = case
    expected = [(o, i) for o, i in _plain(data, needles) if start <= o < stop]
    assert multiscan.new_matcher(needles, "numpy").find(data, start, stop) == expected
    for route in _C_ROUTES:
        assert multiscan.new_matcher(needles, "c", route).find(data, start, stop) == expected


@pytest.mark.skipif(multiscan.BACKEND != "c", reason="the C kernel is not built here")
def test_every_route_honours_every_start_and_stop_around_its_vectors() -> None:
    """A match at every offset (both cases, 2- and 3-byte needles): for each start and stop
    around and past the buffer of 3 vectors and a bit, each route reports exactly the
    offsets in [start, stop) where a needle fits, so no vector step nor the scalar tail that
    follows it gains or loses a position."""
    data = b"aBAbaB" * 17 + b"a"
    needles = [b"ab", b"ba", b"aba"]
    full = _plain(data, needles)
    for start in range(-2, len(data) + 3):
        for stop in range(start - 1, len(data) + 3):
            expected = [(o, i) for o, i in full if start <= o < stop]
            for route in _C_ROUTES:
                assert multiscan.new_matcher(needles, "c", route).find(data, start, stop) == (
                    expected
                ), (route, start, stop)


_AGAINST_A_GUARD_PAGE = """
import ctypes, mmap, random
from veil.audit import multiscan

page = mmap.PAGESIZE
memory = mmap.mmap(-1, 2 * page)
start = ctypes.addressof(ctypes.c_char.from_buffer(memory))
assert ctypes.CDLL(None).mprotect(ctypes.c_void_p(start + page), page, 0) == 0
view = memoryview(memory)
rng = random.Random(2)
for size in [*range(0, 100), *range(100, 600, 7)]:
    data = bytes(rng.choice(b"abAB12 .") for _ in range(size))
    view[page - size : page] = data
    buffer = view[page - size : page]  # its last byte is the last before the guard page
    needles = [b"ab", b"b1", b"a", b"12 ", b" .a"][: rng.randint(1, 5)]
    needles = [n for n in needles if len(n) >= 2] or [b"ab"]
    for route in multiscan.ROUTES:
        matcher = multiscan.new_matcher(needles, "c", route)
        assert matcher.find(buffer) == multiscan.new_matcher(needles, "numpy").find(data)
        matcher.find(buffer, rng.randint(0, size + 2), size + 3)
print("no read past the end")
"""


@pytest.mark.skipif(multiscan.BACKEND != "c", reason="the C kernel is not built here")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mprotect through ctypes")
def test_no_route_reads_past_the_end_of_the_buffer() -> None:
    """Buffers of every small size that end just before a page the process may not read: a
    vector load past the end would kill the (separate) process with SIGSEGV."""
    done = subprocess.run(
        [sys.executable, "-c", _AGAINST_A_GUARD_PAGE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "no read past the end" in done.stdout


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not next to the checkout")
@pytest.mark.skipif(multiscan.BACKEND != "c", reason="the C kernel is not built here")
def test_every_route_agrees_on_real_files_with_needles_cut_from_them() -> None:
    """Whole corpus files (headers, text, pixels), with needles cut from their own bytes and
    their text (so there are hits, in headers and in pixel data) plus 2-byte ones: every
    route gives the numpy backend's list, same order."""
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.stat().st_size > 4096)
    assert len(files) > 100
    for path in files[:: len(files) // 12]:
        data = path.read_bytes()
        step = max(len(data) // 40, 1)
        cuts = [data[k : k + 2 + k % 7].lower() for k in range(0, len(data) - 9, step)]
        needles = [*cuts, b"1.", b"20", b"mr", b"\x00\x00", b"ab"]
        expected = multiscan.new_matcher(needles, "numpy").find(data)
        assert len(expected) >= len(cuts)  # each cut is found at least where it was cut
        for route in _C_ROUTES:
            assert multiscan.new_matcher(needles, "c", route).find(data) == expected, route


@pytest.mark.skipif(multiscan.BACKEND != "c", reason="the C kernel is not built here")
def test_the_fastest_route_the_cpu_supports_is_the_default() -> None:
    assert _C_ROUTES[-1] == "scalar"  # always there: the reference route for any CPU
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if " avx2" in flags:  # so the SIMD route is what the tests above run here
        assert _C_ROUTES[0] == "avx2"
    if not os.environ.get("VEIL_SCAN_ROUTE"):
        assert _C_ROUTES[0] == multiscan.ROUTE
    matcher = multiscan.compile_needles((b"ab",))
    assert matcher.route == multiscan.ROUTE  # type: ignore[attr-defined]


_ROUTE_IN_USE = """
from veil.audit import multiscan
print(multiscan.ROUTE, multiscan.compile_needles((b"ab",)).route)
"""


@pytest.mark.skipif(multiscan.BACKEND != "c", reason="the C kernel is not built here")
@pytest.mark.parametrize(("asked", "taken"), [("scalar", "scalar"), ("no-such", "scalar")])
def test_veil_scan_route_forces_a_route(asked: str, taken: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _ROUTE_IN_USE],
        capture_output=True,
        text=True,
        env={**os.environ, "VEIL_SCAN_ROUTE": asked},
        timeout=120,
        check=True,
    )
    assert done.stdout.split() == [taken, taken]


def test_an_unsupported_route_is_refused() -> None:
    if multiscan.BACKEND != "c":
        pytest.skip("the C kernel is not built here")
    with pytest.raises(ValueError, match="unknown scan route"):
        multiscan.new_matcher([b"ab"], "c", "neon")


@pytest.mark.skipif(not os.environ.get("CI"), reason="only CI promises a C compiler")
def test_ci_builds_the_c_kernel_from_a_clean_clone() -> None:
    # setup.py builds it at `pip install -e` (scripts/setup.sh); a CI run on the numpy
    # fallback would leave the kernel untested and the audit three times slower.
    assert multiscan.BACKEND == "c"


_WITHOUT_THE_KERNEL = """
import sys
sys.modules["veil.audit._multiscan"] = None  # as where no C compiler built it: ImportError
from veil.audit import multiscan
from veil.engine.fast import FastOutput, Fallback, deidentify_bytes
from veil.mapping import Mapper
from veil.policy import compile_plan, load_policy

assert multiscan.BACKEND == "numpy", multiscan.BACKEND
plan = compile_plan(load_policy("basic"))
clean, planted = (open(path, "rb").read() for path in sys.argv[1:3])
taken = deidentify_bytes(clean, plan, Mapper(bytes(32)), audit=True)
handed = deidentify_bytes(planted, plan, Mapper(bytes(32)), audit=True)
assert isinstance(taken, FastOutput), taken
assert isinstance(handed, Fallback) and handed.reason.startswith("audit"), handed
print("numpy fallback ok")
"""


def test_without_the_c_kernel_the_fast_path_audits_with_numpy(tmp_path: Path) -> None:
    """An install without a C compiler: the kernel's import fails, the numpy backend takes
    over, and the fast path still writes a clean file and hands a planted name over."""
    ds = b.mr_dataset()
    clean = tmp_path / "clean.dcm"
    ds.save_as(clean, enforce_file_format=True)
    pixels = bytearray(ds.PixelData)
    pixels[99:109] = b"\0Doe John\0"  # a burned-in label the audit must find
    ds.PixelData = bytes(pixels)
    planted = tmp_path / "planted.dcm"
    ds.save_as(planted, enforce_file_format=True)
    env = {k: v for k, v in os.environ.items() if k != "VEIL_SCAN_BACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_THE_KERNEL, str(clean), str(planted)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "numpy fallback ok" in done.stdout


def test_short_needles_are_refused_by_both_backends() -> None:
    for backend in ("numpy", *(["c"] if multiscan.BACKEND == "c" else [])):
        with pytest.raises(ValueError):
            multiscan.new_matcher([b"a"], backend)
