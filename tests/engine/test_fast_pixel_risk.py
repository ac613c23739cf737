"""The fast path's burned-in decisions (veil.engine.fast.risk) come from the few header values
they read, memoised per series: they must equal ``step_needed`` and ``burned_in_risk`` on the
input read by pydicom, file meta included, for every setting of the pixel step."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.encaps import encapsulate

from tests.engine import builders as b
from tests.engine.test_fast_path_equivalence import MAPPER, _encode, _plan
from veil.engine.fast.parse import Unsupported, parse_file
from veil.engine.fast.risk import pixel_decisions
from veil.pipeline import FAST, Engine, Settings, deidentify_file
from veil.pixels import RiskReason, burned_in_risk, step_needed
from veil.pixels.model import AtRisk
from veil.pixels.settings import PixelSettings

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
SETTINGS = (
    PixelSettings(),
    PixelSettings(at_risk=AtRisk.QUARANTINE),
    PixelSettings(clean=True),
    PixelSettings(clean=True, ocr_every_image=True),
)


def _reference_decisions(data: bytes, pixels: PixelSettings) -> tuple[bool, object]:
    # Whole, as the reference pipeline reads it: "is it an image" asks for Pixel Data.
    header = dcmread(io.BytesIO(data))
    return step_needed(header, pixels), burned_in_risk(header)


def test_a_video_transfer_syntax_is_flagged_on_the_fast_path_as_on_the_reference_path() -> None:
    ds = b.mr_dataset()
    ds.PixelData = encapsulate([b"\0\0\1\xb3" + b"\0" * 60])
    ds["PixelData"].VR = "OB"
    data = _encode(ds, "1.2.840.10008.1.2.4.102")  # MPEG-4 AVC/H.264
    settings = Settings(_plan(), MAPPER)
    fast = deidentify_file(data, "v.dcm", settings)
    reference = deidentify_file(data, "v.dcm", Settings(_plan(), MAPPER, engine=Engine.REFERENCE))
    assert fast.engine == FAST
    assert RiskReason.VIDEO in fast.burned_in.reasons
    assert fast.burned_in == reference.burned_in


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not next to the checkout")
def test_on_the_corpus_the_decisions_equal_those_on_the_header_read_by_pydicom() -> None:
    compared = at_risk = 0
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file()):
        data = path.read_bytes()
        try:
            parsed = parse_file(data)
        except Unsupported:
            continue
        for pixels in SETTINGS:
            for _ in range(2):  # the second answer comes from the memo
                assert pixel_decisions(parsed, pixels) == _reference_decisions(data, pixels), (
                    path.name
                )
        compared += 1
        at_risk += pixel_decisions(parsed, SETTINGS[0])[1].at_risk
    assert compared > 500 and at_risk > 0
