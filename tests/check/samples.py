"""Real corpus files used as the starting point of rule tests (read once, copied per test)."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

from pydicom.dataset import Dataset

from tests.conftest import CORPUS
from veil.io.dicomfile import read_dataset
from veil.io.quiet import configure_process

# One representative file per vendor and object kind.
SAMPLES = {
    "ge-t1": "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22/i152.MRDC.5",
    "siemens-mosaic": "dcm_qa/axasc35/MR.1.3.12.2.1107.5.2.32.35131.2014031012493950715786673",
    "siemens-xa-classic": (
        "dcm_qa_xa30i/5001_anat-T1w_acq-tfl/"
        "5001001_1.3.12.2.1107.5.2.43.67093.30000023011319484937100000298.dcm"
    ),
    "siemens-xa-enhanced": (
        "dcm_qa_xa30/5_anat-T1w_acq-tfl/"
        "0001_1.3.12.2.1107.5.2.43.67093.2022071112080825794102791.dcm"
    ),
    "philips-classic": "dcm_qa_philips_enh/1301_ADNI_Sag3D_MPRAGE_classic/1301_0001.dcm",
    "philips-enhanced": "dcm_qa_enh/Philips_fMAP/IM_0027_fMAP.dcm",
    "uih": "dcm_qa_uih/dti_tra_dir16_PA_rot_SaveBySlc__134057/00000001.dcm",
    "canon": "dcm_qa_canon_61/3000_DTI_PA-ortho_classic_partial/3000_001.dcm",
}
T1_FOLDERS = {
    "ge": "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22",
    "philips": "dcm_qa_philips_enh/1301_ADNI_Sag3D_MPRAGE_classic",
    "siemens-enhanced": "dcm_qa_xa30/5_anat-T1w_acq-tfl",
}


@cache
def _read(relative: str) -> Dataset:
    configure_process()
    return read_dataset(CORPUS / relative)


def sample(name: str) -> Dataset:
    """A fresh copy of a sample file (tests may change it freely)."""
    return copy.deepcopy(_read(SAMPLES[name]))


@cache
def _series(folder: str) -> tuple[Dataset, ...]:
    configure_process()
    from tests.check.niix import dicom_files

    files = []
    for path in dicom_files(CORPUS / folder):
        ds = read_dataset(path)
        # The checks read headers only; a stub keeps "this is an image" and copies stay cheap.
        ds.PixelData = b"\x00\x00"
        files.append(ds)
    return tuple(files)


def series(name: str) -> list[Dataset]:
    """Fresh copies of every file of a real 3D T1 series."""
    return [copy.deepcopy(ds) for ds in _series(T1_FOLDERS[name])]


def corpus_path(relative: str) -> Path:
    return CORPUS / relative
