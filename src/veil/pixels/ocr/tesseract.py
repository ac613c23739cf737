"""tesseract (Debian's tesseract-ocr, English model) as the second, verifying engine.

Read on the image upscaled x3 and cut into overlapping strips: on the whole frame tesseract's
page layout drops whole header bands (it missed the Philips CX50 band holding the patient ID and
the date); in strips it read 9 of the 10 corpus ultrasound identifiers (research note).
"""

from __future__ import annotations

import os
import shutil
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from veil.pixels.model import Box
from veil.pixels.ocr.base import OcrUnavailableError, TextBox

SCALE = 3
STRIP = 64  # rows of the original image per strip
OVERLAP = 16
MIN_CONFIDENCE = 30.0


class TesseractEngine:
    name = "tesseract"
    _shared: ClassVar[TesseractEngine | None] = None

    def __init__(self) -> None:
        try:
            import pytesseract  # type: ignore[import-untyped]
        except ImportError:
            raise OcrUnavailableError(
                "pytesseract is not installed; install veil with its pixels extra: "
                "pip install 'veil[pixels]'"
            ) from None
        if shutil.which("tesseract") is None:
            raise OcrUnavailableError(
                "the tesseract program is not installed (Debian: apt-get install "
                "tesseract-ocr tesseract-ocr-eng); it verifies cleaned pixels"
            )
        os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one core per worker
        self._tess: Any = pytesseract
        self._identity = f"tesseract {pytesseract.get_tesseract_version()} eng"

    @classmethod
    def shared(cls) -> TesseractEngine:
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def identity(self) -> str:
        return self._identity

    def _strip(self, gray: NDArray[np.uint8], top: int) -> list[TextBox]:
        from PIL import Image

        picture = Image.fromarray(gray).resize(
            (gray.shape[1] * SCALE, gray.shape[0] * SCALE), Image.Resampling.LANCZOS
        )
        data = self._tess.image_to_data(
            picture, config="--psm 11", output_type=self._tess.Output.DICT
        )
        lines: dict[tuple[int, int, int], list[int]] = {}
        for index, word in enumerate(data["text"]):
            if not str(word).strip() or float(data["conf"][index]) < MIN_CONFIDENCE:
                continue
            key = (data["block_num"][index], data["par_num"][index], data["line_num"][index])
            lines.setdefault(key, []).append(index)
        found = []
        for indexes in lines.values():
            x0 = min(data["left"][i] for i in indexes)
            y0 = min(data["top"][i] for i in indexes)
            x1 = max(data["left"][i] + data["width"][i] for i in indexes)
            y1 = max(data["top"][i] + data["height"][i] for i in indexes)
            text = " ".join(str(data["text"][i]) for i in indexes)
            score = min(float(data["conf"][i]) for i in indexes) / 100.0
            box = Box(
                x0 // SCALE,
                top + y0 // SCALE,
                max((x1 - x0 + SCALE - 1) // SCALE, 1),
                max((y1 - y0 + SCALE - 1) // SCALE, 1),
            )
            found.append(TextBox(box, text, score))
        return found

    def read(self, image: NDArray[np.uint8]) -> list[TextBox]:
        gray = image.max(axis=2) if image.ndim == 3 else image  # coloured text stays bright
        rows = gray.shape[0]
        found: list[TextBox] = []
        top = 0
        while True:
            found.extend(self._strip(np.ascontiguousarray(gray[top : top + STRIP]), top))
            if top + STRIP >= rows:
                break
            top += STRIP - OVERLAP
        return found
