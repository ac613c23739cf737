"""The guard against OCR boxes that cover anatomy.

Without it RapidOCR returned one whole-image box (text "1") on 9 of 10 text-free MR slices
(research note, 3a): in all-text mode that box would have blanked the anatomy. Burned-in text is
a line of small glyphs: a box taller than a quarter of the image, larger than a fifth of it, or
without a single Latin letter or digit is not text we remove; it is dropped and counted.
"""

from __future__ import annotations

from veil.pixels.ocr.base import TextBox

MAX_HEIGHT_SHARE = 0.25
MAX_AREA_SHARE = 0.20
MIN_SCORE = 0.5


def plausible_text(box: TextBox, rows: int, columns: int) -> bool:
    if box.box.h > MAX_HEIGHT_SHARE * rows:
        return False
    if box.box.area > MAX_AREA_SHARE * rows * columns:
        return False
    if box.score < MIN_SCORE:
        return False
    # The recognition model also knows Chinese: a lone CJK glyph read in a Doppler blob is
    # noise, and every identifier veil matches is written in Latin letters and digits.
    return any(ch.isascii() and ch.isalnum() for ch in box.text)


def guard(boxes: list[TextBox], rows: int, columns: int) -> tuple[list[TextBox], int]:
    """The boxes that look like text, and how many were dropped."""
    kept = [box for box in boxes if plausible_text(box, rows, columns)]
    return kept, len(boxes) - len(kept)
