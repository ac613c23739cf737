"""The guard against OCR boxes that cover anatomy.

Without it RapidOCR returned one whole-image box (text "1") on 9 of 10 text-free MR slices
(research note, 3a), and read the tiles of a Siemens mosaic as rows of "0000" boxes 70 px
high: in all-text mode those boxes would have blanked the anatomy. Burned-in text is
a line of small glyphs: a box taller than a tenth of the image (and than 32 px), larger than a
fifth of it, or
without a single Latin letter or digit is not text we remove; it is dropped and counted.
"""

from __future__ import annotations

from veil.pixels.ocr.base import TextBox

MAX_HEIGHT_SHARE = 0.10
MAX_HEIGHT_FLOOR = 32  # px: on small images a line of text may take more than a tenth
MAX_AREA_SHARE = 0.20
MIN_SCORE = 0.5


def too_large(box: TextBox, rows: int, columns: int) -> bool:
    """Taller or larger than a line of burned-in text can be (the detector lumped things)."""
    return (
        box.box.h > max(MAX_HEIGHT_SHARE * rows, MAX_HEIGHT_FLOOR)
        or box.box.area > MAX_AREA_SHARE * rows * columns
    )


def plausible_text(box: TextBox, rows: int, columns: int) -> bool:
    if too_large(box, rows, columns):
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
