"""Clean Pixel Data for one file: detect, remove in every frame, re-encode, verify, record.

Two calls around the header de-identification (which works in place and removes the values
detection needs)::

    inputs = prepare(original, settings)        # before: risk, rules, identifying values
    ... de-identify the header ...
    result = clean(output, inputs, settings)    # after: pixels cleaned in ``output``

Detection runs in layers, each recorded: known-region rules, blanking outside the ultrasound
regions, OCR (the primary engine, with the anatomy guard) on the pixels the first two layers
left. A file is marked clean (Burned In Annotation NO, CID 7050 113101) only when every frame
went through every layer, the pixels were written back without loss and the verification
passed; otherwise the result says why and the caller quarantines the file. A file in which
nothing was found keeps its Pixel Data byte for byte.
"""

from __future__ import annotations

import resource
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from veil.errors import VeilError
from veil.pixels import codec, usregions
from veil.pixels.display import Image8, has_window, static_composite, to_rgb8
from veil.pixels.identifiers import Needle, collect
from veil.pixels.model import (
    Box,
    BoxSource,
    BurnedInRisk,
    PixelResult,
    PixelStatus,
    RedactMode,
    Removal,
)
from veil.pixels.ocr.base import OcrEngine, TextBox
from veil.pixels.ocr.guard import guard, too_large
from veil.pixels.risk import burned_in_risk
from veil.pixels.rules import builtin_rules, matching_rules
from veil.pixels.select import removal_reason
from veil.pixels.settings import PixelSettings
from veil.pixels.verify import verify

CLEAN_PIXEL_CODE = ("113101", "DCM", "Clean Pixel Data Option")


@dataclass(frozen=True)
class PixelInputs:
    """What the pixel step needs from the input, taken before the header is de-identified."""

    risk: BurnedInRisk
    rules: tuple[tuple[str, tuple[Box, ...]], ...]  # (rule name, boxes) of the matching rules
    needles: tuple[Needle, ...]
    in_scope: bool


def _rules_for(settings: PixelSettings) -> tuple:  # type: ignore[type-arg]
    return settings.rules + (builtin_rules() if settings.builtin_rules else ())


def step_needed(ds: Dataset, settings: PixelSettings) -> bool:
    """Cheap, header only: must this file go through the pixel step (and so the full path)?"""
    if not settings.clean:
        return False
    if settings.ocr_every_image and "PixelData" in ds:
        return True
    return burned_in_risk(ds).at_risk or bool(matching_rules(ds, _rules_for(settings)))


def prepare(original: Dataset, settings: PixelSettings) -> PixelInputs:
    risk = burned_in_risk(original)
    matched = matching_rules(original, _rules_for(settings))
    in_scope = settings.clean and (
        risk.at_risk or bool(matched) or (settings.ocr_every_image and "PixelData" in original)
    )
    return PixelInputs(
        risk=risk,
        rules=tuple((rule.name, rule.boxes) for rule in matched),
        needles=collect(original) if in_scope else (),
        in_scope=in_scope,
    )


def _pad(box: Box) -> Box:
    # OCR boxes hug the glyphs; descenders, anti-aliasing and a misjudged baseline leave ink a
    # pixel or two outside. Pad by 2 px plus an eighth of the line height (RapidOCR's
    # boxes already hold a margin: 19-21 px for 12-14 px text).
    # Sideways by a line height (about two characters): the detector sometimes drops the first
    # or last word of a line where it crosses bright anatomy or other text.
    by = 2 + box.h // 8
    return box.pad(2 + box.h, by)


def _ocr_frames(count: int, every: bool) -> list[int]:
    if count == 1 or every:
        return list(range(count))
    return sorted({0, count // 2, count - 1})


def _pictures(
    ds: Dataset,
    decoded: codec.Decoded,
    settings: PixelSettings,
    blank: NDArray[np.bool_] | None = None,
) -> list[Image8]:
    """What OCR reads: each chosen frame (and a cine's static composite), removed areas black."""
    frames = decoded.frames
    pictures = []
    if frames.shape[0] > 1 and not settings.ocr_every_frame:
        composite, _ = static_composite(frames, decoded.photometric, ds)
        pictures.append(composite)
    # Grayscale with a VOI window is read twice: through the window and over the full range.
    ranges = [False, True] if frames.ndim == 3 and has_window(ds) else [False]
    for index in _ocr_frames(frames.shape[0], settings.ocr_every_frame):
        for full_range in ranges:
            pictures.append(to_rgb8(frames[index], decoded.photometric, ds, full_range))
    if blank is not None and blank.any():
        for picture in pictures:
            picture[blank] = 0
    return pictures


def _read(engine: OcrEngine, picture: Image8) -> tuple[list[TextBox], int]:
    """Text boxes of one picture that pass the guard, and how many were dropped.

    When the detector lumps text with anatomy into boxes the guard drops as too large (the
    tiles of a Siemens mosaic read as rows of "0000"), the text inside them is lost with them;
    the picture is then read again in overlapping horizontal bands, where it stands alone.
    """
    rows, columns = picture.shape[:2]
    found = engine.read(picture)
    kept, dropped = guard(found, rows, columns)
    if not any(too_large(box, rows, columns) for box in found):
        return kept, dropped
    band = max(rows // 4, 64)
    top = 0
    while top < rows:
        for box in engine.read(np.ascontiguousarray(picture[top : top + band])):
            moved = box._replace(box=box.box._replace(y=box.box.y + top))
            (good, lost) = guard([moved], rows, columns)
            kept.extend(good)
            dropped += lost
        if top + band >= rows:
            break
        top += band * 3 // 4
    return kept, dropped


def _mark(ds: Dataset, result: PixelResult) -> None:
    """Burned In Annotation NO, the CID 7050 code and a line of method text."""
    ds.BurnedInAnnotation = "NO"
    codes = ds.get("DeidentificationMethodCodeSequence", None) or Sequence([])
    if not any(str(item.get("CodeValue", "")) == CLEAN_PIXEL_CODE[0] for item in codes):
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = CLEAN_PIXEL_CODE
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = codes
    method = ds.get("DeidentificationMethod", None)
    lines = [] if method is None else ([method] if isinstance(method, str) else list(method))
    lines.append(f"veil Clean Pixel Data: {len(result.removals)} regions"[:64])
    ds.DeidentificationMethod = lines


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (tesseract runs as a child)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def clean(
    ds: Dataset,
    inputs: PixelInputs,
    settings: PixelSettings,
    *,
    find: Callable[[], OcrEngine] | None = None,
    check: Callable[[], OcrEngine] | None = None,
) -> PixelResult:
    """Clean the pixels of ``ds`` (the de-identified dataset) in place; never raises for a file.

    ``find`` and ``check`` give the primary and verifying OCR engines (default: RapidOCR and
    tesseract). The result's status says whether the file may be written.
    """
    started = _cpu_seconds()
    base = PixelResult(PixelStatus.NOT_SCANNED, risk=inputs.risk)
    if not inputs.in_scope:
        return base
    try:
        result = _clean(ds, inputs, settings, find, check)
    except VeilError as exc:
        result = replace(base, status=PixelStatus.FAILED, problem=str(exc))
    except Exception as exc:  # a decoder or engine failure stays this file's failure
        result = replace(
            base,
            status=PixelStatus.FAILED,
            problem=f"the pixel step failed ({type(exc).__name__}); the file was not written",
        )
    return replace(result, seconds=_cpu_seconds() - started)


def _clean(
    ds: Dataset,
    inputs: PixelInputs,
    settings: PixelSettings,
    find: Callable[[], OcrEngine] | None,
    check: Callable[[], OcrEngine] | None,
) -> PixelResult:
    from veil.pixels import ocr

    find = find or ocr.primary
    check = check or ocr.secondary
    decoded = codec.decode(ds)
    count, rows, columns = decoded.frames.shape[:3]
    mask = np.zeros((rows, columns), dtype=bool)
    removals: list[Removal] = []
    notes: list[str] = []

    for name, rule_boxes in inputs.rules:
        for rule_box in rule_boxes:
            clipped = rule_box.clip(rows, columns)
            if clipped is not None:
                mask[clipped.y : clipped.y1, clipped.x : clipped.x1] = True
                removals.append(Removal(clipped, BoxSource.RULE, name))

    if settings.redact is not RedactMode.SENSITIVE:
        boxes = usregions.regions(ds)
        if boxes is not None and usregions.fits(boxes, rows, columns):
            outside = usregions.outside_mask(boxes, rows, columns) & ~mask
            mask |= outside
            removals.extend(
                Removal(box, BoxSource.ULTRASOUND_REGIONS, "outside the ultrasound regions")
                for box in usregions.mask_rectangles(outside)
            )
        elif boxes is not None:
            notes.append("the ultrasound regions do not fit the stored image; not used")

    engine_name = ""
    dropped = 0
    pictures: list[Image8] = []
    if settings.redact is not RedactMode.RULES_ONLY:
        engine = find()
        engine_name = engine.identity()
        pictures = _pictures(ds, decoded, settings, mask)
        allow = settings.allow
        for picture in pictures:
            kept, lost = _read(engine, picture)
            dropped += lost
            for found in kept:
                reason = removal_reason(found.text, settings.redact, inputs.needles, allow)
                if reason is None:
                    continue
                padded = _pad(found.box).clip(rows, columns)
                if padded is None:
                    continue
                if any(r.box == padded and r.source is BoxSource.OCR for r in removals):
                    continue
                mask[padded.y : padded.y1, padded.x : padded.x1] = True
                removals.append(Removal(padded, BoxSource.OCR, reason))

    syntax_in = decoded.syntax
    fill = codec.fill_value(ds, decoded)
    cleaned = codec.apply_mask(decoded, mask, fill) if mask.any() else decoded
    verifying = check()
    after = _pictures(ds, cleaned, settings)
    verification = verify(
        verifying, decoded.frames, cleaned.frames, after, mask, fill, inputs.needles
    )
    result = PixelResult(
        PixelStatus.NOTHING_FOUND,
        risk=inputs.risk,
        frames=count,
        removals=tuple(removals),
        removed_fraction=float(mask.mean()),
        ocr_images=len(pictures),
        ocr_dropped=dropped,
        engine=engine_name,
        transfer_syntax_in=syntax_in,
        transfer_syntax_out=syntax_in,
        verification=verification,
        notes=tuple(notes),
    )
    if not verification.passed:
        what = []
        if verification.identifier_hits:
            what.append(
                f"{verification.identifier_hits} identifying value(s) still readable "
                f"({', '.join(verification.kinds)})"
            )
        if verification.text_in_removed:
            what.append(f"{verification.text_in_removed} text box(es) inside removed regions")
        if not verification.fill_ok or not verification.outside_identical:
            what.append("the removal changed pixels it should not have")
        return replace(
            result,
            status=PixelStatus.UNVERIFIED,
            problem="the verification of the cleaned pixels failed: " + "; ".join(what),
        )
    if mask.any():
        syntax_out = codec.encode(ds, cleaned)
        result = replace(result, status=PixelStatus.CLEANED, transfer_syntax_out=syntax_out)
    _mark(ds, result)
    return result


def pictures_of(ds: Dataset, frame: int = 0) -> tuple[Image8, codec.Decoded]:
    """One frame as a picture (for `veil explain --render`), with the decoded pixels."""
    decoded = codec.decode(ds)
    index = min(max(frame, 0), decoded.frames.shape[0] - 1)
    return to_rgb8(decoded.frames[index], decoded.photometric, ds), decoded
