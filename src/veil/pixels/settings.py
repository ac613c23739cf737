"""The policy's pixel settings, compiled once and pickled to every worker with the plan."""

from __future__ import annotations

from dataclasses import dataclass

from veil.pixels.model import AtRisk, RedactMode
from veil.pixels.rules import RegionRule


@dataclass(frozen=True)
class PixelSettings:
    """What the policy asks of pixels.

    ``clean`` is the Clean Pixel Data option. Without it pixels are never altered and
    ``at_risk`` decides whether an output that may carry burned-in text is written (flagged) or
    quarantined. With it, every file at risk (and every file a known-region rule names) goes
    through detection, removal, lossless re-encoding and verification.
    """

    clean: bool = False
    redact: RedactMode = RedactMode.ALL_TEXT
    allow: tuple[str, ...] = ()  # extra allow-list patterns (regular expressions, full match)
    at_risk: AtRisk = AtRisk.FLAG
    # OCR every image with pixels, original CT/MR slices included (off: brain MR/CT are not
    # OCR'd unless asked, they cost ~1 s per slice and carry no burned-in text by design).
    ocr_every_image: bool = False
    # OCR every frame of a multi-frame image rather than its static composite plus the first,
    # middle and last frames.
    ocr_every_frame: bool = False
    rules: tuple[RegionRule, ...] = ()  # the policy's own rules, before the built-in ones
    builtin_rules: bool = True

    def describe(self) -> str:
        if not self.clean:
            return f"pixels untouched; files that may carry burned-in text: {self.at_risk.value}"
        extra = f", {len(self.rules)} own rule(s)" if self.rules else ""
        return f"clean-pixel-data: redact {self.redact.value}{extra}"
