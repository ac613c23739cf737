"""Blanking outside the Sequence of Ultrasound Regions (0018,6011).

The regions say where the scanner put image data (B-mode, Doppler, M-mode); patient banners,
dates and institution names sit outside them. In the 3 corpus files that have regions, every
identifier box but one lies entirely outside; the exception (the ALOKA time) lies 15 % inside,
so OCR still runs after this layer. Regions that do not fit inside the stored image describe
another geometry (a resized or cropped export): they are not used, and the file says so.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from veil.pixels.model import Box


def regions(ds: Dataset) -> list[Box] | None:
    """The regions as boxes, or None when absent or unusable."""
    sequence = ds.get("SequenceOfUltrasoundRegions", None)
    if not sequence:
        return None
    boxes = []
    for item in sequence:
        try:
            x0 = int(item.RegionLocationMinX0)
            y0 = int(item.RegionLocationMinY0)
            x1 = int(item.RegionLocationMaxX1)
            y1 = int(item.RegionLocationMaxY1)
        except (AttributeError, TypeError, ValueError):
            return None
        if x1 < x0 or y1 < y0:
            return None
        boxes.append(Box(x0, y0, x1 - x0 + 1, y1 - y0 + 1))  # Max X1/Y1 are inclusive
    return boxes or None


def fits(boxes: list[Box], rows: int, columns: int) -> bool:
    return all(box.x1 <= columns and box.y1 <= rows for box in boxes)


def outside_mask(boxes: list[Box], rows: int, columns: int) -> NDArray[np.bool_]:
    """True where no region is: what this layer removes."""
    inside = np.zeros((rows, columns), dtype=bool)
    for box in boxes:
        inside[box.y : box.y1, box.x : box.x1] = True
    return ~inside


def mask_rectangles(mask: NDArray[np.bool_]) -> list[Box]:
    """A removed area as a few rectangles (runs of identical rows merged), for reports."""
    rectangles: list[Box] = []
    open_runs: dict[tuple[int, int], int] = {}  # (x0, x1) -> first row
    previous: set[tuple[int, int]] = set()
    rows = mask.shape[0]
    for y in range(rows + 1):
        runs: set[tuple[int, int]] = set()
        if y < rows:
            row = np.concatenate(([False], mask[y], [False]))
            edges = np.flatnonzero(row[1:] != row[:-1])
            runs = {(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)}
        for run in previous - runs:
            start = open_runs.pop(run)
            rectangles.append(Box(run[0], start, run[1] - run[0], y - start))
        for run in runs - previous:
            open_runs[run] = y
        previous = runs
    return sorted(rectangles, key=lambda b: (b.y, b.x))
