"""The always-on flag: which files may carry burned-in text, from the header only."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset

from tests.pixels.conftest import US_FILES
from veil.pixels import AtRisk, PixelSettings, RiskReason, burned_in_risk, step_needed
from veil.pixels.risk import declared_clean, unclean_risk


@pytest.mark.parametrize("key", sorted(US_FILES))
def test_every_corpus_ultrasound_file_is_flagged_though_none_says_burned_in(
    corpus: Path, key: str
) -> None:
    ds = pydicom.dcmread(corpus / US_FILES[key], stop_before_pixels=True)
    assert "BurnedInAnnotation" not in ds  # the flag cannot be trusted: it is absent
    risk = burned_in_risk(ds)
    assert RiskReason.ULTRASOUND in risk.reasons


def test_the_30_frame_ultrasound_clip_is_a_cine(corpus: Path) -> None:
    ds = pydicom.dcmread(corpus / US_FILES["ybr"], stop_before_pixels=True)
    assert RiskReason.CINE in burned_in_risk(ds).reasons


def test_an_original_brain_mr_slice_carries_no_known_risk_and_skips_the_pixel_step(
    corpus: Path,
) -> None:
    folder = corpus / "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22"
    ds = pydicom.dcmread(next(folder.iterdir()), stop_before_pixels=True)
    assert not burned_in_risk(ds).at_risk
    assert not step_needed(ds, PixelSettings(clean=True))
    assert not step_needed(ds, PixelSettings(at_risk=AtRisk.QUARANTINE))
    # Asked to OCR every image: the header alone (no pixels read) says this is one.
    assert step_needed(ds, PixelSettings(clean=True, ocr_every_image=True))
    full = pydicom.dcmread(next(folder.iterdir()))
    assert step_needed(full, PixelSettings(clean=True, ocr_every_image=True))
    assert not step_needed(Dataset(), PixelSettings(clean=True, ocr_every_image=True))


@pytest.mark.parametrize("key", sorted(US_FILES))
def test_a_fast_path_defers_every_ultrasound_header_when_pixels_are_cleaned_or_quarantined(
    corpus: Path, key: str
) -> None:
    """What issue 12's streaming fast path asks before copying Pixel Data byte for byte."""
    ds = pydicom.dcmread(corpus / US_FILES[key], stop_before_pixels=True)
    assert step_needed(ds, PixelSettings(clean=True))
    assert step_needed(ds, PixelSettings(at_risk=AtRisk.QUARANTINE))
    assert not step_needed(ds, PixelSettings())  # flagged only: written as today


def test_secondary_capture_screen_save_document_and_yes_flag_are_each_named() -> None:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.ImageType = ["DERIVED", "SECONDARY", "SCREEN SAVE"]
    ds.BurnedInAnnotation = "YES"
    reasons = burned_in_risk(ds).reasons
    assert {
        RiskReason.SECONDARY_CAPTURE,
        RiskReason.SCREEN_SAVE,
        RiskReason.DERIVED_SECONDARY,
        RiskReason.BURNED_IN_ANNOTATION,
    } <= set(reasons)
    pdf = Dataset()
    pdf.SOPClassUID = "1.2.840.10008.5.1.4.1.1.104.1"
    assert burned_in_risk(pdf).reasons == (RiskReason.DOCUMENT,)


def test_burned_in_annotation_no_does_not_clear_an_ultrasound_image() -> None:
    ds = Dataset()
    ds.Modality = "US"
    ds.BurnedInAnnotation = "NO"
    assert burned_in_risk(ds).at_risk
    assert unclean_risk(ds).at_risk  # NO without veil's 113101 is not a declaration


def test_a_video_transfer_syntax_is_flagged() -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.102"
    assert RiskReason.VIDEO in burned_in_risk(ds).reasons


def test_declared_clean_needs_both_the_flag_and_the_code() -> None:
    ds = Dataset()
    ds.Modality = "US"
    ds.BurnedInAnnotation = "NO"
    item = Dataset()
    item.CodeValue = "113101"
    ds.DeidentificationMethodCodeSequence = [item]
    assert declared_clean(ds)
    assert not unclean_risk(ds).at_risk
