"""What every OCR engine gives: text boxes in image coordinates, and who it is."""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np
from numpy.typing import NDArray

from veil.errors import VeilError
from veil.pixels.model import Box


class OcrUnavailableError(VeilError):
    """An OCR engine is not installed; pixels cannot be cleaned or verified without it."""


class TextBox(NamedTuple):
    """One line (or word) of text found in an image. ``text`` never leaves the pixel step."""

    box: Box
    text: str
    score: float


class OcrEngine(Protocol):
    name: str

    def identity(self) -> str:
        """Engine, version and model digest, for the report (reproducibility)."""
        ...

    def read(self, image: NDArray[np.uint8]) -> list[TextBox]:
        """Text boxes of an (rows, columns, 3) uint8 RGB image."""
        ...


def box_of_points(points: NDArray[np.floating] | list[list[float]]) -> Box:
    """The upright rectangle around a polygon (RapidOCR gives four corners)."""
    array = np.asarray(points, dtype=np.float64)
    x0, y0 = np.floor(array.min(axis=0)).astype(int)
    x1, y1 = np.ceil(array.max(axis=0)).astype(int)
    return Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0))
