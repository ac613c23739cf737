"""The types of the pixel step: boxes, where they came from, settings and results.

No value read from an image ever lands in these types: OCR'd text stays inside the detection
and verification functions, and what leaves them is boxes, sources, classes and counts
(invariant 8: no identifier in a log, report or page).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple


class Box(NamedTuple):
    """A rectangle in pixel coordinates: ``x``, ``y`` of the top-left corner, width, height."""

    x: int
    y: int
    w: int
    h: int

    @property
    def x1(self) -> int:
        return self.x + self.w

    @property
    def y1(self) -> int:
        return self.y + self.h

    @property
    def area(self) -> int:
        return max(self.w, 0) * max(self.h, 0)

    def clip(self, rows: int, columns: int) -> Box | None:
        """The part of the box inside a ``rows`` x ``columns`` image, or None when empty."""
        x0, y0 = max(self.x, 0), max(self.y, 0)
        x1, y1 = min(self.x1, columns), min(self.y1, rows)
        if x1 <= x0 or y1 <= y0:
            return None
        return Box(x0, y0, x1 - x0, y1 - y0)

    def pad(self, by_x: int, by_y: int) -> Box:
        return Box(self.x - by_x, self.y - by_y, self.w + 2 * by_x, self.h + 2 * by_y)

    def overlap(self, other: Box) -> int:
        """Area shared with ``other``."""
        w = min(self.x1, other.x1) - max(self.x, other.x)
        h = min(self.y1, other.y1) - max(self.y, other.y)
        return max(w, 0) * max(h, 0)

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


class BoxSource(str, Enum):
    """Which detection layer asked for a region to be removed."""

    RULE = "rule"  # a known-region rule (manufacturer, model, image size)
    ULTRASOUND_REGIONS = "ultrasound-regions"  # outside the Sequence of Ultrasound Regions
    OCR = "ocr"  # text found by the primary OCR engine


@dataclass(frozen=True)
class Removal:
    """One removed region (applied to every frame) and why; never the text it held."""

    box: Box
    source: BoxSource
    reason: str  # a rule name, "outside the ultrasound regions", or a text class ("date")

    def to_dict(self) -> dict[str, Any]:
        return {"box": self.box.as_list(), "source": self.source.value, "reason": self.reason}


class RedactMode(str, Enum):
    """What OCR'd text is removed (the policy's ``pixels: redact:``)."""

    # Every text box except those matching the allow-list of technical labels. The default:
    # burned-in dates like "24-MAY-02" and institution names absent from the header defeat
    # matching against header values.
    ALL_TEXT = "all-text"
    # Only text matching the file's own identifying values (fuzzy, many date forms) or generic
    # identifier shapes (dates, times, long digit runs); measurements stay readable.
    SENSITIVE = "sensitive"
    # Known-region rules and ultrasound regions only; no OCR.
    RULES_ONLY = "rules-only"


class AtRisk(str, Enum):
    """What happens to an output that may carry burned-in text when pixels are not cleaned."""

    FLAG = "flag"  # written, and flagged in the summary, the report and the audit
    QUARANTINE = "quarantine"  # not written


class RiskReason(str, Enum):
    """Why an image may carry burned-in text (a header-only judgement, never the flag alone)."""

    BURNED_IN_ANNOTATION = "burned-in-annotation-yes"
    ULTRASOUND = "ultrasound"
    SECONDARY_CAPTURE = "secondary-capture"
    SCREEN_SAVE = "screen-save"
    DOCUMENT = "document"
    DERIVED_SECONDARY = "derived-secondary"
    CINE = "multi-frame-cine"
    VIDEO = "video"


@dataclass(frozen=True)
class BurnedInRisk:
    """The always-on burned-in text flag of one file: empty ``reasons`` means no known risk."""

    reasons: tuple[RiskReason, ...] = ()

    @property
    def at_risk(self) -> bool:
        return bool(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {"at_risk": self.at_risk, "reasons": [r.value for r in self.reasons]}


class PixelStatus(str, Enum):
    """The outcome of the pixel step for one file."""

    NOT_SCANNED = "not-scanned"  # out of scope (e.g. an original MR slice): pixels untouched
    NOTHING_FOUND = "nothing-found"  # scanned and verified; nothing to remove; pixels untouched
    CLEANED = "cleaned"  # regions removed in every frame, re-encoded losslessly, verified
    FAILED = "failed"  # could not be cleaned (undecodable, no encoder, document): quarantine
    UNVERIFIED = "unverified"  # the verification found text that should be gone: quarantine

    @property
    def safe(self) -> bool:
        return self in (PixelStatus.NOT_SCANNED, PixelStatus.NOTHING_FOUND, PixelStatus.CLEANED)


@dataclass(frozen=True)
class Verification:
    """What the second engine and the deterministic checks found (counts, never text)."""

    engine: str
    identifier_hits: int = 0  # identifying values of the input read in the cleaned pixels
    text_in_removed: int = 0  # text boxes read inside removed regions
    fill_ok: bool = True  # every removed pixel holds the fill value
    outside_identical: bool = True  # every pixel outside the removed regions is unchanged
    kinds: tuple[str, ...] = ()  # kinds of identifier hit ("patient-id", "date"), no values

    @property
    def passed(self) -> bool:
        return (
            self.identifier_hits == 0
            and self.text_in_removed == 0
            and self.fill_ok
            and self.outside_identical
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "passed": self.passed,
            "identifier_hits": self.identifier_hits,
            "identifier_kinds": list(self.kinds),
            "text_in_removed_regions": self.text_in_removed,
            "fill_ok": self.fill_ok,
            "outside_identical": self.outside_identical,
        }


@dataclass(frozen=True)
class PixelResult:
    """What the pixel step did to one file, fit for the report (no text, no values)."""

    status: PixelStatus
    risk: BurnedInRisk = field(default_factory=BurnedInRisk)
    frames: int = 0
    removals: tuple[Removal, ...] = ()
    removed_fraction: float = 0.0  # share of the frame's pixels removed
    ocr_images: int = 0  # images OCR'd (frames, or a cine's static composite)
    ocr_dropped: int = 0  # OCR boxes dropped by the anatomy guard
    engine: str = ""  # primary OCR engine and model digest
    transfer_syntax_in: str = ""
    transfer_syntax_out: str = ""
    verification: Verification | None = None
    problem: str | None = None  # why FAILED / UNVERIFIED, naming no value
    notes: tuple[str, ...] = ()
    seconds: float = 0.0  # CPU seconds of the whole step (tesseract's child processes included)
    detection_seconds: float = 0.0  # of which: rules, ultrasound regions and OCR
    verification_seconds: float = 0.0  # of which: the second engine and the pixel checks

    def counts(self) -> dict[str, int]:
        table = {source.value: 0 for source in BoxSource}
        for removal in self.removals:
            table[removal.source.value] += 1
        return table

    def summary_text(self) -> str:
        """One line for (0012,0063) and the terminal: what was removed, as counts."""
        counts = self.counts()
        parts = ", ".join(f"{n} {source}" for source, n in counts.items() if n)
        return (
            f"Clean Pixel Data by veil: {len(self.removals)} region(s) removed in "
            f"{self.frames} frame(s)" + (f" ({parts})" if parts else "")
        )

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "status": self.status.value,
            "risk": self.risk.to_dict(),
            "frames": self.frames,
            "regions_removed": len(self.removals),
            "regions_by_source": self.counts(),
            "removed_percent": round(100 * self.removed_fraction, 2),
            "ocr_images": self.ocr_images,
            "ocr_boxes_dropped_by_guard": self.ocr_dropped,
            "seconds": round(self.seconds, 3),
            "seconds_detection": round(self.detection_seconds, 3),
            "seconds_verification": round(self.verification_seconds, 3),
        }
        if self.removals:
            data["regions"] = [r.to_dict() for r in self.removals]
        for key in ("engine", "transfer_syntax_in", "transfer_syntax_out", "problem"):
            value = getattr(self, key)
            if value:
                data[key] = value
        if self.verification is not None:
            data["verification"] = self.verification.to_dict()
        if self.notes:
            data["notes"] = list(self.notes)
        return data
