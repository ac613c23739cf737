"""Invariant 4 on real data: dcm2niix converts the de-identified output (`--for dcm2niix`) to the
same voxels, affine, bval/bvec and sidecar (minus identifying fields) as the original, series
by series; and the basic profile alone (no `--for`) demonstrably breaks conversion."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.check.conftest import corpus_folders
from tests.check.niix import DCM2NIIX, compare, convert, link_files, series_groups
from tests.check.samples import engine_cleans_private_blobs

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(DCM2NIIX).exists(), reason="dcm2niix is not installed"),
]

# Sidecar fields dcm2niix reads from the vendor's protocol text (Siemens CSA series header
# (0029,xx20); Siemens XA "SIEMENS MR SDS 01" xx19). That text also carries referenced SOP
# Instance UIDs, dates and the scanner's identity, so veil removes it (the audit would
# quarantine the file otherwise): these fields are lost, voxels, affine and bval/bvec are not.
PROTOCOL_FIELDS = frozenset(
    {
        "BaseResolution",
        "CoilCombinationMethod",
        "CoilString",
        "ConsistencyInfo",
        "DelayTime",
        "DiffusionScheme",
        "MatrixCoilMode",
        "PartialFourier",
        "PhaseResolution",
        "PulseSequenceDetails",
        "ReceiveCoilActiveElements",
        "ReceiveCoilName",
        "RefLinesPE",
        "ShimSetting",
        "TxRefAmp",
    }
)
_OVERLAY = (
    "overlay planes (60xx) are removed by the basic profile (they can carry burned-in "
    "annotations), so dcm2niix's ROI volume made from the overlay is not written"
)
# Series (folder:first file) where the output cannot convert identically, and why.
KNOWN = {
    "heudiconv/01-fmap_acq-3mm:1.3.12.2.1107.5.2.43.66112.2016101409263663466202201.dcm": (
        "a Siemens phase-difference fieldmap: dcm2niix reads EchoTime1 and EchoTime2 from the "
        "protocol text (CSA series header), which veil removes because it carries UIDs and "
        "dates; fieldmap correction needs both echo times to be added back from the protocol"
    ),
    "dcm_qa_12bit/12bit:12bitSigned_0x0F0F.dcm": (
        "Siemens VB12 (2007) mosaics: dcm2niix takes the slice order from the protocol text "
        "(CSA series header), which veil removes because it carries UIDs and dates, so the "
        "sidecar has no SliceTiming (later Siemens versions carry it in the image header)"
    ),
    "dcm_qa_philips_enh/1901_3DpCASL_enhanced:1901_WIP_3DpCASL_real.dcm": (
        "the Philips private sequence (2005,xx0E) of 'Philips MR Imaging DD 005' is removed "
        "(in raw-data objects it repeats a UID the audit treats as identifying), and with it "
        "the sidecar's PhaseEncodingSteps"
    ),
    "nibabel/nicom_test_data:decimal_rescale.dcm": (
        "its Siemens CSA header sits under the private creator 'Anon' (renamed by the data's "
        "publishers); veil keeps private blocks by creator, so it cannot know this one is CSA "
        "and removes it: the sidecar loses ImageOrientationText "
        "(veil check --for dcm2niix reports the missing CSA header before de-identification)"
    ),
    "nibabel/nicom_test_data:slicethickness_empty_string.dcm": (
        "dcm2niix rejects the original and converts the de-identified copy: better, not worse"
    ),
    "pydicom/test_files:SC_rgb_dcmtk_+eb+cr.dcm": (  # key-dependent
        "20 unrelated test objects share one Series Instance UID; dcm2niix orders objects at "
        "equal positions by their (replaced) UIDs, so its numbering of the volumes changes"
    ),
    "pydicom/test_files:SC_rgb_jpeg.dcm": (
        "2 unrelated test objects share one Series Instance UID; dcm2niix orders them by their "
        "(replaced) UIDs, so the volumes may swap places (depends on the key)"
    ),
    "pydicom/test_files:badVR.dcm": (
        "files of this series are refused by veil (no SOP Class UID: not storable), so the "
        "output series has fewer volumes"
    ),
    "pydicom/test_files:examples_overlay.dcm": _OVERLAY,
    "pydicom_data/pypi_wheel_1.0.0:MR-SIEMENS-DICOM-WithOverlays.dcm": _OVERLAY,
}

# An engine that masks identifying values inside kept private blobs (plan action "C") keeps
# the protocol text: these differences then disappear, and one appears (a sequence detail that
# contains an identifying value, masked).
CLEANS = True  # the engine masks inside "C" private elements; asserted in the test
KNOWN_WITHOUT_CLEANING = {
    "dcm_qa_12bit/12bit:12bitSigned_0x0F0F.dcm",
    "heudiconv/01-fmap_acq-3mm:1.3.12.2.1107.5.2.43.66112.2016101409263663466202201.dcm",
}
KNOWN_WITH_CLEANING = {
    "heudiconv/MRI_102TD_PHA_S:MRI_102TD_PHA_S.MR.Chen_Matthews_1.3.1.2022.11.16.15.50.20"
    ".357.31204541.dcm": (
        "the protocol's PulseSequenceDetails contains a value that also identifies (masked)"
    ),
}

# Known differences that depend on the key (the order of replaced UIDs): may also not happen.
KEY_DEPENDENT = {"pydicom/test_files:SC_rgb_dcmtk_+eb+cr.dcm", "pydicom/test_files:SC_rgb_jpeg.dcm"}


def _compare_folder(
    corpus: Path, out: Path, work: Path, folder: str, ignore: frozenset[str] = frozenset()
) -> dict[str, list[str]]:
    """series label -> differences ([] when identical), for the series dcm2niix converts."""
    results: dict[str, list[str]] = {}
    groups = sorted(series_groups(corpus / folder).values(), key=lambda names: names[0])
    for index, names in enumerate(groups):
        where = work / folder.replace("/", "_") / str(index)
        before = convert(link_files(corpus / folder, names, where / "in"), where / "a")
        after = convert(link_files(out / folder, names, where / "out"), where / "b")
        if before.volumes or after.volumes:
            results[f"{folder}:{names[0]}"] = compare(before, after, ignore)
        shutil.rmtree(where, ignore_errors=True)
    return results


def _all_series(
    corpus: Path, out: Path, work: Path, ignore: frozenset[str]
) -> dict[str, list[str]]:
    results: dict[str, list[str]] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:  # dcm2niix processes: 2 cores at most
        for found in pool.map(
            lambda folder: _compare_folder(corpus, out, work, folder, ignore), corpus_folders()
        ):
            results.update(found)
    return results


def test_dcm2niix_converts_every_corpus_series_identically_after_deid_for_dcm2niix(
    corpus: Path, deid_corpus: Callable[..., tuple[Path, dict]], tmp_path: Path
) -> None:
    # The audit is tested on its own (test_corpus_audit_interplay.py); here every file that
    # veil can de-identify is written, so every series can be compared.
    out, report = deid_corpus("--for", "dcm2niix", "--no-audit")
    assert report["check_regressions"] == []
    assert engine_cleans_private_blobs()
    results = _all_series(corpus, out, tmp_path, PROTOCOL_FIELDS if not CLEANS else frozenset())
    differing = {series: problems for series, problems in results.items() if problems}
    known = {s: r for s, r in KNOWN.items() if not (CLEANS and s in KNOWN_WITHOUT_CLEANING)}
    if CLEANS:
        known.update(KNOWN_WITH_CLEANING)
    unexpected = {s: p for s, p in differing.items() if s not in known}
    assert not unexpected, f"dcm2niix output differs after de-identification: {unexpected}"
    now_identical = sorted(
        s for s in known if s in results and not results[s] and s not in KEY_DEPENDENT
    )
    assert not now_identical, f"known differences no longer happen (update KNOWN): {now_identical}"
    # 73 series convert from the original corpus (dcm2niix 1.0.20220720), 60 identically.
    assert len(results) - len(differing) >= 55


def test_basic_profile_alone_breaks_dcm2niix_on_siemens_mosaic_and_uih_diffusion(
    corpus: Path, tmp_path: Path
) -> None:
    from tests.check.conftest import run_deid

    folders = ["dcm_qa/axasc35", "dcm_qa_uih/dti_tra_dir16_PA_rot_SaveBySlc__134057"]
    out = tmp_path / "basic"
    code, _, stderr = run_deid([corpus / f for f in folders], out)
    assert code == 0, stderr[-2000:]
    # Two inputs: the mirror layout puts each under its own folder name.
    mosaic = _compare_folder(corpus / "dcm_qa", out, tmp_path / "w", "axasc35")
    uih = _compare_folder(corpus / "dcm_qa_uih", out, tmp_path / "w", folders[1].split("/")[1])
    (mosaic_problems,) = mosaic.values()
    (uih_problems,) = uih.values()
    # Without the CSA header dcm2niix cannot tell the number of slices in the mosaic.
    assert "6: shape (64, 64, 35, 2) vs (64, 64, 36, 2)" in mosaic_problems
    assert "6: sidecar SliceTiming missing" in mosaic_problems
    # Without the UIH private header there is no diffusion information at all.
    assert "12: .bval only on one side" in uih_problems
    assert any(p.startswith("12: shape (64, 64, 20, 17)") for p in uih_problems)
