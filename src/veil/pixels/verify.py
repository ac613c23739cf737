"""Verification of cleaned pixels: deterministic checks, then a second OCR engine.

Deterministic: every removed pixel holds the fill value and every other pixel is unchanged
(compared on decoded values). Then the second engine (tesseract, which found nothing of the
first engine's work) reads the cleaned pictures and looks for the input's identifying values
anywhere, and for any text inside the removed regions. OCR'd text stays in this function: the
result carries counts and kinds only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from veil.pixels.display import Image8
from veil.pixels.identifiers import Needle, match
from veil.pixels.model import Verification
from veil.pixels.ocr.base import OcrEngine

# A box counts as "inside the removed regions" when nearly all of it is there. Text kept beside
# a removed box (an allowed label) gives boxes that overlap its padding; those are not a
# failure of the fill, which the deterministic check proves pixel by pixel anyway.
INSIDE_SHARE = 0.9
MIN_ALNUM = 2


def deterministic(
    before: NDArray[np.generic],
    after: NDArray[np.generic],
    mask: NDArray[np.bool_],
    fill: NDArray[np.generic],
) -> tuple[bool, bool]:
    """(every removed pixel is filled, every other pixel is unchanged), over every frame."""
    fill_ok = bool(np.all(after[:, mask] == fill))
    outside_ok = bool(np.array_equal(before[:, ~mask], after[:, ~mask]))
    return fill_ok, outside_ok


def read_back(
    engine: OcrEngine,
    pictures: Sequence[Image8],
    mask: NDArray[np.bool_],
    needles: tuple[Needle, ...],
) -> tuple[int, int, tuple[str, ...]]:
    """(identifier hits, text boxes inside removed regions, kinds hit) over ``pictures``."""
    hits = 0
    inside = 0
    kinds: list[str] = []
    for picture in pictures:
        for found in engine.read(picture):
            if sum(ch.isalnum() for ch in found.text) < MIN_ALNUM:
                continue
            found_kinds = match(found.text, needles)
            if found_kinds:
                hits += 1
                kinds.extend(found_kinds)
            box = found.box.clip(*mask.shape)
            if box is not None and mask[box.y : box.y1, box.x : box.x1].mean() >= INSIDE_SHARE:
                inside += 1
    return hits, inside, tuple(sorted(set(kinds)))


def verify(
    engine: OcrEngine,
    before: NDArray[np.generic],
    after: NDArray[np.generic],
    pictures: Sequence[Image8],
    mask: NDArray[np.bool_],
    fill: NDArray[np.generic],
    needles: tuple[Needle, ...],
) -> Verification:
    fill_ok, outside_ok = deterministic(before, after, mask, fill)
    hits, inside, kinds = read_back(engine, pictures, mask, needles)
    return Verification(
        engine=engine.identity(),
        identifier_hits=hits,
        text_in_removed=inside,
        fill_ok=fill_ok,
        outside_identical=outside_ok,
        kinds=kinds,
    )
