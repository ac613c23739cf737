"""Decoding every frame, filling removed regions, and writing pixels back without loss.

Rules (issue 16, and PS3.15 E.3 on Clean Pixel Data):
- uncompressed stays uncompressed, in the same transfer syntax (big endian included);
- lossless compressed is re-encoded in the same transfer syntax where pydicom has an encoder
  for it (RLE, JPEG-LS lossless, JPEG 2000 lossless), otherwise JPEG-LS lossless;
- never a new lossy encoding: a source that was lossy (JPEG baseline, JPEG-LS near-lossless,
  JPEG 2000, HTJ2K) is written JPEG-LS lossless from its decoded pixels, and keeps Lossy Image
  Compression = 01;
- after encoding, the pixels are decoded again and must equal what was meant to be written,
  bit for bit; anything else is a failure (the caller quarantines the file).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.pixels.utils import pixel_array
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from veil.errors import VeilError

NATIVE = {
    str(ExplicitVRLittleEndian),
    str(ImplicitVRLittleEndian),
    str(ExplicitVRBigEndian),
    str(DeflatedExplicitVRLittleEndian),
}
# Encapsulated syntaxes that are lossless and that pydicom can encode: kept as they are.
REENCODABLE = {str(RLELossless), str(JPEGLSLossless), str(JPEG2000Lossless)}
LOSSY = {
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.51",  # JPEG Extended
    "1.2.840.10008.1.2.4.81",  # JPEG-LS near-lossless
    "1.2.840.10008.1.2.4.91",  # JPEG 2000
    "1.2.840.10008.1.2.4.203",  # HTJ2K (may be lossy)
}
# Decoded image size above which cleaning is refused (a huge value guard: 1 GiB of pixels).
MAX_DECODED_BYTES = 1 << 30


class PixelCodecError(VeilError):
    """Pixels that cannot be decoded or written back without loss (the file is quarantined)."""


@dataclass(frozen=True)
class Decoded:
    """Every frame of an image as (frames, rows, columns[, samples]), and how it is stored."""

    frames: NDArray[np.generic]
    photometric: str  # the photometric interpretation of ``frames`` (RGB after YBR decoding)
    syntax: str  # the transfer syntax it was read in


def syntax_of(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("TransferSyntaxUID"):
        return str(meta.TransferSyntaxUID)
    return str(ExplicitVRLittleEndian)


def _subsampled(photometric: str) -> bool:
    return photometric in ("YBR_FULL_422", "YBR_PARTIAL_422", "YBR_PARTIAL_420")


def decode(ds: Dataset) -> Decoded:
    """All frames, decoded; raises PixelCodecError naming the problem (never a value)."""
    if "PixelData" not in ds:
        raise PixelCodecError("no Pixel Data to clean (float or document objects are not)")
    syntax = syntax_of(ds)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
        samples = int(ds.get("SamplesPerPixel", 1) or 1)
        allocated = int(ds.BitsAllocated)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        raise PixelCodecError("the Image Pixel module is incomplete") from None
    if allocated == 1:
        raise PixelCodecError("single-bit images (segmentations) are not cleaned")
    if rows * columns * samples * max(allocated // 8, 1) * frames > MAX_DECODED_BYTES:
        raise PixelCodecError("the decoded image would exceed 1 GiB; too large to clean")
    # Subsampled colour (and any lossy source) is decoded to RGB: it cannot be written back in
    # its own form without a new loss. Otherwise decode as stored (YBR_FULL stays YBR_FULL).
    as_rgb = _subsampled(photometric) or syntax in LOSSY
    try:
        array = pixel_array(ds, raw=not as_rgb)
    except Exception as exc:  # decoders raise many kinds
        raise PixelCodecError(
            f"cannot decode the pixels in transfer syntax {syntax} ({type(exc).__name__})"
        ) from None
    if frames == 1:
        array = array[np.newaxis, ...]
    if as_rgb and photometric.startswith("YBR"):
        photometric = "RGB"
    if photometric in ("YBR_RCT", "YBR_ICT"):
        photometric = "RGB"  # JPEG 2000 decoders undo the component transform
    return Decoded(array, photometric, syntax)


def fill_value(ds: Dataset, decoded: Decoded) -> NDArray[np.generic]:
    """The stored value that renders black, per sample."""
    frames = decoded.frames
    photometric = decoded.photometric
    if photometric == "MONOCHROME1":
        return np.array(frames.max(), dtype=frames.dtype)
    if photometric.startswith("MONOCHROME"):
        return np.array(frames.min(), dtype=frames.dtype)
    if photometric == "PALETTE COLOR":
        try:
            from pydicom.pixels.processing import apply_color_lut

            levels = np.arange(int(frames.max()) + 1, dtype=frames.dtype)
            colours = apply_color_lut(levels, ds).astype(np.int64).sum(axis=-1)
            return np.array(int(np.argmin(colours)), dtype=frames.dtype)
        except Exception:
            return np.array(0, dtype=frames.dtype)
    if photometric == "YBR_FULL":
        mid = 1 << (frames.dtype.itemsize * 8 - 1)
        return np.array([0, mid, mid], dtype=frames.dtype)
    return np.zeros(frames.shape[-1] if frames.ndim == 4 else 1, dtype=frames.dtype)


def apply_mask(decoded: Decoded, mask: NDArray[np.bool_], fill: NDArray[np.generic]) -> Decoded:
    """A copy with ``fill`` in every removed pixel of every frame."""
    out = decoded.frames.copy()
    out[:, mask] = fill
    return Decoded(out, decoded.photometric, decoded.syntax)


def _target_syntax(source: str) -> str:
    if source in NATIVE or source in REENCODABLE:
        return source
    return str(JPEGLSLossless)


def _write_native(ds: Dataset, frames: NDArray[np.generic], syntax: str) -> None:
    array = frames
    if array.ndim == 4 and int(ds.get("PlanarConfiguration", 0) or 0) == 1:
        array = np.ascontiguousarray(np.moveaxis(array, -1, 1))  # (frames, samples, rows, cols)
    if array.dtype.itemsize > 1:
        big = syntax == str(ExplicitVRBigEndian)
        array = array.astype(array.dtype.newbyteorder(">" if big else "<"), copy=False)
    data = np.ascontiguousarray(array).tobytes()
    ds.PixelData = data if len(data) % 2 == 0 else data + b"\0"
    ds["PixelData"].VR = "OB" if int(ds.BitsAllocated) <= 8 else "OW"
    ds["PixelData"].is_undefined_length = False


def _compress(ds: Dataset, frames: NDArray[np.generic], syntax: str) -> None:
    array = frames[0] if frames.shape[0] == 1 else frames
    ds.compress(syntax, array, generate_instance_uid=False)


def encode(ds: Dataset, cleaned: Decoded) -> str:
    """Write ``cleaned`` into ``ds`` losslessly; returns the transfer syntax written.

    Raises PixelCodecError when no lossless encoding reproduces the pixels exactly.
    """
    source = cleaned.syntax
    target = _target_syntax(source)
    frames = cleaned.frames
    if cleaned.photometric != str(ds.get("PhotometricInterpretation", "")).strip().upper():
        ds.PhotometricInterpretation = cleaned.photometric
    if frames.ndim == 4:
        ds.PlanarConfiguration = 0 if target not in NATIVE else ds.get("PlanarConfiguration", 0)
    attempts = [target] if target in NATIVE else [target, str(ExplicitVRLittleEndian)]
    problems: list[str] = []
    for syntax in attempts:
        try:
            if syntax in NATIVE:
                if syntax != source:
                    ds.PlanarConfiguration = 0 if frames.ndim == 4 else None
                    if "PlanarConfiguration" in ds and ds.PlanarConfiguration is None:
                        del ds.PlanarConfiguration
                _write_native(ds, frames, syntax)
            else:
                _compress(ds, frames, syntax)
            ds.file_meta.TransferSyntaxUID = UID(syntax)
            _check_round_trip(ds, cleaned)
        except PixelCodecError as exc:
            problems.append(str(exc))
            continue
        except Exception as exc:  # encoders raise many kinds
            problems.append(f"{syntax}: {type(exc).__name__}")
            continue
        if source in LOSSY:
            ds.LossyImageCompression = "01"
        return syntax
    raise PixelCodecError(
        "no lossless encoding reproduced the cleaned pixels: " + "; ".join(problems)
    )


def _check_round_trip(ds: Dataset, expected: Decoded) -> None:
    again = decode_written(ds)
    if again.shape != expected.frames.shape or not np.array_equal(again, expected.frames):
        raise PixelCodecError(
            f"{syntax_of(ds)}: the written pixels do not decode to the cleaned pixels"
        )


def decode_written(ds: Dataset) -> NDArray[np.generic]:
    """The pixels of ``ds`` as just written, frames first, without colour conversion."""
    ds._pixel_array = None
    ds._pixel_id = {}
    array = pixel_array(ds, raw=True)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return array[np.newaxis, ...] if frames == 1 else array
