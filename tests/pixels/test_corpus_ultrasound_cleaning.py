"""The corpus ultrasound frames with visible identifiers: every identifier removed, verified.

Boxes of the ten identifier strings visible by eye (research note 3b), in pixel coordinates.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.pixels.conftest import US_FILES
from tests.pixels.evaluate import removal_mask
from veil.pixels import PixelSettings, PixelStatus, RedactMode, clean, prepare
from veil.pixels.risk import declared_clean

pytestmark = pytest.mark.slow

IDENTIFIERS = {
    "jpeg2k": [("BAPTIST MED CTR", (18, 24, 150, 16))],
    "rgb": [("BAPTIST MED CTR", (9, 12, 76, 9))],
    "aloka": [
        ("*WESTWAY MEDICAL*", (80, 1, 170, 11)),
        ("24-MAY-02", (549, 1, 90, 11)),
        ("11:24:20", (566, 13, 74, 10)),
    ],
    "palette": [
        ("5/25/2011", (668, 8, 90, 16)),
        ("11-05-25-142825", (95, 34, 140, 17)),
        ("Philips Healthcare", (327, 34, 182, 17)),
        ("2:56:22 PM", (668, 34, 110, 17)),
    ],
    "ybr": [("PLA", (1, 2, 28, 9))],
}
SETTINGS = PixelSettings(clean=True)


@pytest.mark.parametrize("key", sorted(IDENTIFIERS))
def test_every_visible_identifier_is_removed_and_the_file_is_marked_clean(
    corpus: Path, key: str
) -> None:
    original = pydicom.dcmread(corpus / US_FILES[key])
    output = copy.deepcopy(original)
    result = clean(output, prepare(original, SETTINGS), SETTINGS)
    assert result.status is PixelStatus.CLEANED, result.problem
    assert result.verification is not None and result.verification.passed
    assert result.frames == int(original.get("NumberOfFrames", 1) or 1)
    mask = removal_mask(result.removals, int(original.Rows), int(original.Columns))
    for label, (x, y, w, h) in IDENTIFIERS[key]:
        assert mask[y : y + h, x : x + w].all(), f"{label} is not wholly removed"
    assert declared_clean(output)
    assert output.BurnedInAnnotation == "NO"
    # Nothing of the OCR'd text reaches the report.
    report = str(result.to_dict())
    for label, _ in IDENTIFIERS[key]:
        assert label not in report


def test_an_ultrasound_frame_with_nothing_to_remove_keeps_its_pixel_data_byte_for_byte(
    corpus: Path,
) -> None:
    original = pydicom.dcmread(corpus / US_FILES["bigend"])
    output = copy.deepcopy(original)
    before = bytes(original.PixelData)
    result = clean(output, prepare(original, SETTINGS), SETTINGS)
    assert result.status is PixelStatus.NOTHING_FOUND
    assert bytes(output.PixelData) == before
    assert declared_clean(output)  # every frame scanned and verified: safe to say so


def test_rules_only_mode_runs_no_ocr_and_still_blanks_the_known_band(corpus: Path) -> None:
    settings = PixelSettings(clean=True, redact=RedactMode.RULES_ONLY)
    original = pydicom.dcmread(corpus / US_FILES["aloka"])
    output = copy.deepcopy(original)
    result = clean(output, prepare(original, settings), settings)
    assert result.ocr_images == 0
    assert {r.source.value for r in result.removals} == {"rule", "ultrasound-regions"}
    after = pydicom.dcmread(corpus / US_FILES["aloka"]).pixel_array
    cleaned = output.pixel_array
    assert not np.array_equal(after[:24], cleaned[:24])
