"""Keeping what a destination needs must not leak: with the audit on, `--for PROFILE` may
quarantine only the files named here (and why), beyond what the basic profile alone does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# The Siemens CSA image header (0029,xx10) is what dcm2niix needs to unpack a mosaic and read
# slice timing and diffusion; in these older (VB) files it also contains the scanner's station
# name. The engine masks it (plan action "C") and the profile cleans xx10: they must be written.
CSA_WITH_STATION_NAME = {
    "dcm_qa/AxInt36mb_jpeg2000/jp2k1.dcm",
    "dcm_qa/AxInt36mb_jpeg2000/jp2k2.dcm",
    "dcm_qa_12bit/12bit/12bitSigned_0x0F0F.dcm",
    "dcm_qa_12bit/12bit/12bitUnsigned.dcm",
    "dcm_qa_12bit/12bit/12bitUnsigned_0x0F0F.dcm",
    "nibabel/nicom_test_data/0.dcm",
    "nibabel/nicom_test_data/siemens_dwi_0.dcm.gz",
    "nibabel/nicom_test_data/siemens_dwi_1000.dcm.gz",
    "heudiconv/Phoenix/99+PhoenixDocument/99+PhoenixDocument+00001.dcm",
}
# The Canon phantom's given name is "dcm2niix": it then appears in the DeidentificationMethod
# text veil writes ("requirements dcm2niix"); an earlier audit flagged it (fixed since).
CANON_NAMED_DCM2NIIX = "dcm_qa_canon_61/"


def _quarantined(report: dict, corpus: Path) -> set[str]:
    return {
        Path(f["input"]).resolve().relative_to(corpus.resolve()).as_posix()
        for f in report["files"]
        if f["outcome"] == "quarantined"
    }


@pytest.mark.parametrize("profile", ["neuroquant", "dcm2niix"])
def test_profile_quarantines_nothing_beyond_the_basic_profile_except_named_files(
    corpus: Path, deid_corpus: Callable[..., tuple[Path, dict]], profile: str
) -> None:
    _, basic = deid_corpus()
    _, with_profile = deid_corpus("--for", profile)
    extra = _quarantined(with_profile, corpus) - _quarantined(basic, corpus)
    # The engine masks the station name inside kept CSA headers (plan action "C"): the Siemens
    # VB files that used to be quarantined under --for dcm2niix must now be written.
    assert not (_quarantined(with_profile, corpus) & CSA_WITH_STATION_NAME)
    assert not extra, f"--for {profile} makes the audit quarantine more files: {sorted(extra)}"
