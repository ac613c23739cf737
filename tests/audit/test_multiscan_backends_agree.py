"""The compiled scan kernel and the numpy fallback find exactly what a plain search finds."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.audit import multiscan


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


@pytest.mark.skipif(multiscan.BACKEND != "c", reason="the C kernel is not built here")
@settings(max_examples=300, deadline=None)
@given(data=_BYTES, needles=_NEEDLES, start=st.integers(0, 50))
def test_c_kernel_finds_exactly_what_numpy_finds(
    data: bytes, needles: list[bytes], start: int
) -> None:
    c_hits = multiscan.new_matcher(needles, "c").find(data, start)
    assert c_hits == sorted(c_hits)
    assert sorted(c_hits) == sorted(multiscan.new_matcher(needles, "numpy").find(data, start))


def test_the_kernel_is_built_in_a_development_install() -> None:
    # setup.py builds it; without a C compiler the install still works (numpy backend).
    assert multiscan.BACKEND in ("c", "numpy")


def test_short_needles_are_refused_by_both_backends() -> None:
    for backend in ("numpy", *(["c"] if multiscan.BACKEND == "c" else [])):
        with pytest.raises(ValueError):
            multiscan.new_matcher([b"a"], backend)
