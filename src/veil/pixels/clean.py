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
from veil.pixels.display import Image8, has_window, static_composite, strokes, to_rgb8
from veil.pixels.identifiers import Needle, collect
from veil.pixels.model import (
    AtRisk,
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


def _is_image(ds: Dataset) -> bool:
    """Has pixels, or is the header of an image (read with ``stop_before_pixels``)."""
    return "PixelData" in ds or "Rows" in ds


def step_needed(ds: Dataset, settings: PixelSettings) -> bool:
    """Header only: must this file go through the pixel step (and so the full path)?

    True where Clean Pixel Data applies to the file (at risk, named by a known-region rule, or
    every image is OCR'd), and, without Clean Pixel Data, where the policy quarantines files
    that may carry burned-in text. A path that copies Pixel Data byte for byte (the streaming
    fast path) must hand such a file to ``veil.pipeline.deidentify_file``. The header may be
    read with ``stop_before_pixels``: no pixel is decoded (~90 us per file).
    """
    if not settings.clean:
        return settings.at_risk is AtRisk.QUARANTINE and burned_in_risk(ds).at_risk
    if settings.ocr_every_image and _is_image(ds):
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
    # Sideways by one and a half line heights (about three characters): the detector drops the
    # first or last characters of a line where they cross bright anatomy or other text (a
    # label printed over the scanner's own "Page 1/3").
    by = 2 + box.h // 8
    return box.pad(2 + (3 * box.h) // 2, by)


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
    """What OCR reads: each chosen frame (and a cine's static composite), removed areas black.

    Grayscale is read in up to three views, each of which found text the others missed on the
    burned-in set: through its VOI window (what a person sees first); over the full stored
    range (scanners burn text at the top of the range, where a soft-tissue window turns bone
    and text alike to white; dark text over a CT's skull); and as thin strokes alone (text at a
    mid-grey level over tissue or air; a label over bone beside its value over air).
    """
    frames = decoded.frames
    pictures = []
    if frames.shape[0] > 1 and not settings.ocr_every_frame:
        composite, _ = static_composite(frames, decoded.photometric, ds)
        pictures.append(composite)
    gray = frames.ndim == 3
    for index in _ocr_frames(frames.shape[0], settings.ocr_every_frame):
        frame = frames[index]
        pictures.append(to_rgb8(frame, decoded.photometric, ds))
        if gray and has_window(ds):
            pictures.append(to_rgb8(frame, decoded.photometric, ds, full_range=True))
        if gray:
            pictures.append(strokes(frame, decoded.photometric))
    if blank is not None and blank.any():
        for picture in pictures:
            picture[blank] = 0
    return pictures


# Overlap of the tiles a picture is re-read in: more than a line of burned-in text is tall.
TILE_OVERLAP = 32


def _starts(length: int, size: int) -> list[int]:
    """Start offsets of windows of ``size`` that cover ``length``, overlapping by TILE_OVERLAP."""
    if length <= size:
        return [0]
    return [*range(0, length - size, size - TILE_OVERLAP), length - size]


def _read(engine: OcrEngine, picture: Image8) -> tuple[list[TextBox], int]:
    """Text boxes of one picture that pass the guard, and how many were dropped.

    When the detector lumps text with anatomy into boxes the guard drops as too large (the
    tiles of a Siemens mosaic read as rows of "0000"), the text inside them is lost with them;
    the picture is then read again in overlapping tiles of half its size, where text stands out
    among fewer blobs and is seen about four times larger. A box read in a tile passes the
    guard measured against the tile. (Horizontal bands worked too, but the detector scales a
    band's short side up to 736 px: 2.5 times the pixels of the tiles, and looser boxes.)
    """
    rows, columns = picture.shape[:2]
    found = engine.read(picture)
    kept, dropped = guard(found, rows, columns)
    if not any(too_large(box, rows, columns) for box in found):
        return kept, dropped
    size = max(min(rows, columns) // 2, 64)
    for top in _starts(rows, size):
        for left in _starts(columns, size):
            tile = np.ascontiguousarray(picture[top : top + size, left : left + size])
            for text in engine.read(tile):
                box = text.box._replace(x=text.box.x + left, y=text.box.y + top)
                good, lost = guard([text._replace(box=box)], *tile.shape[:2])
                kept.extend(good)
                dropped += lost
    return kept, dropped


@dataclass(frozen=True)
class Detection:
    """Where text was found in one image: the removed pixels (the same on every frame) and why."""

    mask: NDArray[np.bool_]
    removals: tuple[Removal, ...]
    ocr_images: int = 0
    dropped: int = 0
    engine: str = ""
    notes: tuple[str, ...] = ()


def _rule_layer(inputs: PixelInputs, mask: NDArray[np.bool_], removals: list[Removal]) -> None:
    """Known-region rules: the boxes of every rule that matched the input's header."""
    rows, columns = mask.shape
    for name, rule_boxes in inputs.rules:
        for rule_box in rule_boxes:
            clipped = rule_box.clip(rows, columns)
            if clipped is not None:
                mask[clipped.y : clipped.y1, clipped.x : clipped.x1] = True
                removals.append(Removal(clipped, BoxSource.RULE, name))


def _ultrasound_layer(
    ds: Dataset, mask: NDArray[np.bool_], removals: list[Removal], notes: list[str]
) -> None:
    """Everything outside the Sequence of Ultrasound Regions (where they fit the image)."""
    rows, columns = mask.shape
    boxes = usregions.regions(ds)
    if boxes is None:
        return
    if not usregions.fits(boxes, rows, columns):
        notes.append("the ultrasound regions do not fit the stored image; not used")
        return
    outside = usregions.outside_mask(boxes, rows, columns) & ~mask
    mask |= outside
    removals.extend(
        Removal(box, BoxSource.ULTRASOUND_REGIONS, "outside the ultrasound regions")
        for box in usregions.mask_rectangles(outside)
    )


def _ocr_layer(
    engine: OcrEngine,
    pictures: list[Image8],
    inputs: PixelInputs,
    settings: PixelSettings,
    mask: NDArray[np.bool_],
    removals: list[Removal],
) -> int:
    """OCR boxes whose text the redact mode removes; returns the boxes the guard dropped."""
    rows, columns = mask.shape
    dropped = 0
    for picture in pictures:
        kept, lost = _read(engine, picture)
        dropped += lost
        for found in kept:
            reason = removal_reason(found.text, settings.redact, inputs.needles, settings.allow)
            padded = None if reason is None else _pad(found.box).clip(rows, columns)
            if reason is None or padded is None:
                continue
            if any(r.box == padded and r.source is BoxSource.OCR for r in removals):
                continue
            mask[padded.y : padded.y1, padded.x : padded.x1] = True
            removals.append(Removal(padded, BoxSource.OCR, reason))
    return dropped


def detect(
    ds: Dataset,
    decoded: codec.Decoded,
    inputs: PixelInputs,
    settings: PixelSettings,
    find: Callable[[], OcrEngine] | None,
) -> Detection:
    """The detection layers in order: known-region rules, outside the ultrasound regions, then
    OCR (``find``; None for rules only) on the pixels the first two layers left."""
    rows, columns = decoded.frames.shape[1:3]
    mask = np.zeros((rows, columns), dtype=bool)
    removals: list[Removal] = []
    notes: list[str] = []
    _rule_layer(inputs, mask, removals)
    if settings.redact is not RedactMode.SENSITIVE:
        _ultrasound_layer(ds, mask, removals, notes)
    if find is None:
        return Detection(mask, tuple(removals), notes=tuple(notes))
    engine = find()
    pictures = _pictures(ds, decoded, settings, mask)
    dropped = _ocr_layer(engine, pictures, inputs, settings, mask, removals)
    return Detection(mask, tuple(removals), len(pictures), dropped, engine.identity(), tuple(notes))


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
    text = [] if method is None else ([method] if isinstance(method, str) else list(method))
    text.append(f"veil Clean Pixel Data: {len(result.removals)} regions"[:64])
    ds.DeidentificationMethod = text


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
    count = decoded.frames.shape[0]
    started = _cpu_seconds()
    found = detect(
        ds,
        decoded,
        inputs,
        settings,
        find if settings.redact is not RedactMode.RULES_ONLY else None,
    )
    mask, removals = found.mask, found.removals
    syntax_in = decoded.syntax
    fill = codec.fill_value(ds, decoded)
    cleaned = codec.apply_mask(decoded, mask, fill) if mask.any() else decoded
    detected = _cpu_seconds()
    verifying = check()
    after = _pictures(ds, cleaned, settings)
    verification = verify(
        verifying, decoded.frames, cleaned.frames, after, mask, fill, inputs.needles
    )
    verified = _cpu_seconds()
    result = PixelResult(
        PixelStatus.NOTHING_FOUND,
        risk=inputs.risk,
        frames=count,
        removals=removals,
        removed_fraction=float(mask.mean()),
        ocr_images=found.ocr_images,
        ocr_dropped=found.dropped,
        engine=found.engine,
        transfer_syntax_in=syntax_in,
        transfer_syntax_out=syntax_in,
        verification=verification,
        notes=found.notes,
        detection_seconds=detected - started,
        verification_seconds=verified - detected,
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
