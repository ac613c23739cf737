"""Text-free MR slices: the OCR engine with the anatomy guard finds nothing to remove.

Without the guard RapidOCR returned a whole-image box on 9 of 10 such slices (research 3a).
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from veil.pixels import PixelSettings
from veil.pixels.clean import _pictures, _read
from veil.pixels.codec import decode
from veil.pixels.model import RedactMode
from veil.pixels.ocr import primary
from veil.pixels.select import removal_reason

pytestmark = pytest.mark.slow

SERIES = (
    ("dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22", (30, 65, 100)),
    ("dcm_qa_philips_enh/1301_ADNI_Sag3D_MPRAGE_classic", (40, 85, 130)),
    ("dcm_qa_xa30i/5001_anat-T1w_acq-tfl", (30, 60)),
    ("dcm_qa_deident/Accelerated_SAG_IR-SPGR", (98, 150)),
)


def _slices(corpus: Path) -> list[Path]:
    chosen = []
    for folder, positions in SERIES:
        files = sorted(p for p in (corpus / folder).iterdir() if p.is_file())
        chosen += [files[min(i, len(files) - 1)] for i in positions]
    return chosen


def test_ten_text_free_mr_slices_give_zero_boxes_in_all_text_mode(corpus: Path) -> None:
    settings = PixelSettings(clean=True, ocr_every_image=True)
    engine = primary()
    slices = _slices(corpus)
    assert len(slices) == 10
    boxes = 0
    for path in slices:
        ds = pydicom.dcmread(path)
        for picture in _pictures(ds, decode(ds), settings):
            kept, _ = _read(engine, picture)
            boxes += sum(
                removal_reason(t.text, RedactMode.ALL_TEXT, (), ()) is not None for t in kept
            )
    assert boxes == 0
