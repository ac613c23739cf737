"""Every transfer syntax of the corpus: decode, blank a box, write back, decode again.

Uncompressed stays uncompressed, lossless stays in its own syntax where pydicom can encode it,
anything else becomes JPEG-LS lossless; never a new lossy encoding; pixels outside the box are
identical after decoding.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest

from veil.pixels import codec

CASES = [
    ("dcm_qa_ts/transfer_syntaxes/1.dcm", "1.2.840.10008.1.2.1"),
    ("dcm_qa_ts/transfer_syntaxes/2.dcm", "1.2.840.10008.1.2"),
    ("dcm_qa_ts/transfer_syntaxes/3.dcm", "1.2.840.10008.1.2.2"),
    ("pydicom/test_files/image_dfl.dcm", "1.2.840.10008.1.2.1.99"),
    ("dcm_qa_ts/transfer_syntaxes/4.dcm", "1.2.840.10008.1.2.5"),
    ("pydicom/test_files/SC_rgb_rle.dcm", "1.2.840.10008.1.2.5"),
    ("dcm_qa_ts/transfer_syntaxes/7.dcm", "1.2.840.10008.1.2.4.80"),
    ("dcm_qa_ts/transfer_syntaxes/9.dcm", "1.2.840.10008.1.2.4.90"),
    ("pydicom/test_files/examples_jpeg2k.dcm", "1.2.840.10008.1.2.4.90"),
    ("dcm_qa_ts/transfer_syntaxes/5.dcm", "1.2.840.10008.1.2.4.80"),  # JPEG lossless SV1
    ("pydicom/test_files/SC_rgb_dcmtk_+eb+cr.dcm", "1.2.840.10008.1.2.4.80"),  # baseline
    ("pydicom/test_files/examples_ybr_color.dcm", "1.2.840.10008.1.2.4.80"),  # cine, 422
    ("pydicom/test_files/JPGExtended.dcm", "1.2.840.10008.1.2.4.80"),
    ("pydicom/test_files/JPEGLSNearLossless_16.dcm", "1.2.840.10008.1.2.4.80"),
    ("pydicom/test_files/693_J2KI.dcm", "1.2.840.10008.1.2.4.80"),
    ("pydicom_data/github_b0d40d1/HTJ2KLossless_08_RGB.dcm", "1.2.840.10008.1.2.4.80"),
    ("pydicom_data/github_b0d40d1/HTJ2K_08_RGB.dcm", "1.2.840.10008.1.2.4.80"),
    ("pydicom/test_files/examples_palette.dcm", "1.2.840.10008.1.2.1"),
    ("pydicom_data/pypi_wheel_1.0.0/gdcm-US-ALOKA-16_big.dcm", "1.2.840.10008.1.2.2"),
]
LOSSLESS_OUT = {
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.90",
}


@pytest.mark.parametrize(("path", "expected"), CASES, ids=[Path(c[0]).name for c in CASES])
def test_blanking_a_box_round_trips_without_loss(corpus: Path, path: str, expected: str) -> None:
    ds = pydicom.dcmread(corpus / path)
    source = codec.syntax_of(ds)
    decoded = codec.decode(ds)
    rows, columns = decoded.frames.shape[1:3]
    mask = np.zeros((rows, columns), dtype=bool)
    mask[: rows // 5, : columns // 3] = True
    fill = codec.fill_value(ds, decoded)
    cleaned = codec.apply_mask(decoded, mask, fill)
    written = codec.encode(ds, cleaned)
    assert written == expected
    assert written in LOSSLESS_OUT
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    again = pydicom.dcmread(io.BytesIO(buffer.getvalue()))
    assert str(again.file_meta.TransferSyntaxUID) == expected
    after = codec.decode_written(again)
    assert np.array_equal(after[:, ~mask], decoded.frames[:, ~mask])
    assert np.all(after[:, mask] == fill)
    assert after.shape[0] == decoded.frames.shape[0]  # every frame
    if source in codec.LOSSY:
        assert again.LossyImageCompression == "01"


def test_single_bit_segmentations_are_refused_with_a_reason(corpus: Path) -> None:
    ds = pydicom.dcmread(corpus / "pydicom_data/github_b0d40d1/liver_rle.dcm")
    with pytest.raises(codec.PixelCodecError, match="single-bit"):
        codec.decode(ds)
