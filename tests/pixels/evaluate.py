"""Scoring cleaned samples of the burned-in set against their ink masks (tests and benchmark)."""

from __future__ import annotations

import copy
import io
from dataclasses import dataclass

import numpy as np
import pydicom
from numpy.typing import NDArray

from tests.pixels.burnin import Sample
from veil.pixels import PixelResult, PixelSettings, clean, prepare
from veil.pixels.codec import decode_written
from veil.pixels.model import Removal


@dataclass(frozen=True)
class Score:
    name: str
    result: PixelResult
    ink_pixels: int
    ink_covered: int
    value_pixels: int
    value_covered: int
    planted_uncovered: int  # planted strings with any ink pixel left
    outside_identical: bool
    removed_percent: float

    @property
    def coverage(self) -> float:
        return self.ink_covered / max(self.ink_pixels, 1)

    @property
    def value_coverage(self) -> float:
        return self.value_covered / max(self.value_pixels, 1)


def removal_mask(removals: tuple[Removal, ...], rows: int, columns: int) -> NDArray[np.bool_]:
    mask = np.zeros((rows, columns), dtype=bool)
    for removal in removals:
        box = removal.box
        mask[box.y : box.y1, box.x : box.x1] = True
    return mask


def score(sample: Sample, settings: PixelSettings) -> Score:
    work = copy.deepcopy(sample.dataset)
    result = clean(work, prepare(sample.dataset, settings), settings)
    rows, columns = sample.ink.shape
    mask = removal_mask(result.removals, rows, columns)
    covered = int((sample.ink & mask).sum())
    uncovered = 0
    for planted in sample.planted:
        box = planted.box.clip(rows, columns)
        if box is None:
            continue
        ink = sample.ink[box.y : box.y1, box.x : box.x1]
        if (ink & ~mask[box.y : box.y1, box.x : box.x1]).any():
            uncovered += 1
    buffer = io.BytesIO()
    work.save_as(buffer, enforce_file_format=True)
    after = decode_written(pydicom.dcmread(io.BytesIO(buffer.getvalue())))
    if after.shape != sample.burned.shape:  # YBR decoded to RGB on write: compare as RGB
        after = decode_written(work)
    identical = bool(np.array_equal(after[:, ~mask], sample.burned[:, ~mask]))
    return Score(
        sample.name,
        result,
        int(sample.ink.sum()),
        covered,
        int(sample.value_ink.sum()),
        int((sample.value_ink & mask).sum()),
        uncovered,
        identical,
        100.0 * float(mask.mean()),
    )
