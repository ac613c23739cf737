"""Text-free MR slices: OCR with the anatomy guard removes nothing, in every view it reads.

Without the guard RapidOCR returned a whole-image box on 9 of 10 such slices (research 3a);
the contrast views added for faint text (local equalisation, thin strokes) must not turn
anatomy into text either.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from veil.pixels import PixelSettings, prepare
from veil.pixels.clean import detect
from veil.pixels.codec import decode
from veil.pixels.ocr import primary

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
    settings = PixelSettings(clean=True, ocr_every_image=True)  # all-text is the default
    slices = _slices(corpus)
    assert len(slices) == 10
    boxes = {}
    for path in slices:
        ds = pydicom.dcmread(path)
        found = detect(ds, decode(ds), prepare(ds, settings), settings, primary)
        assert found.ocr_images >= 2  # the slice was read (window or full range, strokes)
        if found.removals:
            boxes[path.name] = [removal.box for removal in found.removals]
        assert not found.mask.any() or found.removals
    assert boxes == {}
