"""The synthetic burned-in set: corpus images with their own header values burned in.

Never call an image clean that is not: a file the pixel step passes (cleaned, verified) has every
pixel of its burned-in identifying values removed and every other pixel unchanged; a file it
cannot clean completely is not passed (the worker quarantines it).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pixels.burnin import BASES, burned_in_set
from tests.pixels.evaluate import score
from veil.pixels import PixelSettings, PixelStatus

pytestmark = pytest.mark.slow

SETTINGS = PixelSettings(clean=True, ocr_every_image=True)


def test_every_passed_sample_has_its_identifiers_wholly_removed(corpus: Path) -> None:
    scores = [score(sample, SETTINGS) for sample in burned_in_set(corpus, len(BASES))]
    passed = [s for s in scores if s.result.status is PixelStatus.CLEANED]
    for s in scores:
        assert s.outside_identical, s.name
        if s.result.status is PixelStatus.CLEANED:
            assert s.value_covered == s.value_pixels, f"{s.name}: identifier ink left"
        else:
            assert s.result.status in (PixelStatus.UNVERIFIED, PixelStatus.FAILED), s.name
    # Most of the set is cleaned outright (the rest quarantined, never passed).
    assert len(passed) >= len(scores) - 3
