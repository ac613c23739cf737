"""The real corpus files the planting tests use: several vendors, encodings and syntaxes."""

from __future__ import annotations

SAMPLES = {
    "ge-explicit": "dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22/i152.MRDC.5",
    "siemens-mosaic": "dcm_qa/axasc35/MR.1.3.12.2.1107.5.2.32.35131.2014031012493950715786673",
    "philips-classic": "dcm_qa_philips_enh/1301_ADNI_Sag3D_MPRAGE_classic/1301_0001.dcm",
    "implicit-vr": "dcm_qa_ts/transfer_syntaxes/2.dcm",
    "jpeg-lossless": "dcm_qa/AxAsc36mb2a_jpeg",  # a folder: its first file
}
# (sample, identity variant): every identity with every kind of file would be slow for
# little gain; these cover the three character sets across the vendors.
CASES = [
    ("ge-explicit", "ascii"),
    ("siemens-mosaic", "latin1"),
    ("philips-classic", "utf8"),
    ("implicit-vr", "ascii"),
    ("jpeg-lossless", "utf8"),
    ("ge-explicit", "iso2022"),
]
