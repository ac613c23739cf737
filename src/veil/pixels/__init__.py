"""Burned-in text: the always-on risk flag and the Clean Pixel Data option.

The core of veil calls three functions (none imports an OCR engine until it is used):

- ``burned_in_risk(ds)``: header only, for every file: may this image carry burned-in text?
- ``step_needed(ds, settings)``: header only: must this file go through the pixel step? A file
  that must cannot take a path that copies Pixel Data byte for byte (Clean Pixel Data applies,
  or the policy quarantines files at risk).
- ``prepare(original, settings)`` before the header de-identification, then
  ``clean(output, inputs, settings)`` after it: detection (rules, ultrasound regions, OCR),
  removal in every frame, lossless re-encoding, verification by a second engine.

``PixelStep`` bundles the three as `veil.pipeline.deidentify_file` runs them, with the reason a
file is quarantined for its pixels.
"""

from veil.pixels.clean import PixelInputs, clean, prepare, step_needed
from veil.pixels.model import (
    AtRisk,
    Box,
    BoxSource,
    BurnedInRisk,
    PixelResult,
    PixelStatus,
    RedactMode,
    Removal,
    RiskReason,
    Verification,
)
from veil.pixels.risk import burned_in_risk
from veil.pixels.settings import PixelSettings
from veil.pixels.step import PixelStep

__all__ = [
    "AtRisk",
    "Box",
    "BoxSource",
    "BurnedInRisk",
    "PixelInputs",
    "PixelResult",
    "PixelSettings",
    "PixelStatus",
    "PixelStep",
    "RedactMode",
    "Removal",
    "RiskReason",
    "Verification",
    "burned_in_risk",
    "clean",
    "prepare",
    "step_needed",
]
