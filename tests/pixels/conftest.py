from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
CORPUS = CORPUS.resolve()

US_FILES = {
    "jpeg2k": "pydicom/test_files/examples_jpeg2k.dcm",
    "palette": "pydicom/test_files/examples_palette.dcm",
    "rgb": "pydicom/test_files/examples_rgb_color.dcm",
    "ybr": "pydicom/test_files/examples_ybr_color.dcm",
    "aloka": "pydicom_data/pypi_wheel_1.0.0/gdcm-US-ALOKA-16_big.dcm",
    "bigend": "pydicom/test_files/ExplVR_BigEnd.dcm",
}


@pytest.fixture(scope="session")
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing at {CORPUS}")
    return CORPUS
