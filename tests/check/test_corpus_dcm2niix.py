"""Invariant 4 on real data: dcm2niix converts the de-identified output (`--for dcm2niix`) to the
same voxels, affine, bval/bvec and sidecar (minus identifying fields) as the original, volume
by volume; and the basic profile alone (no `--for`) demonstrably breaks conversion."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.check.conftest import corpus_folders
from tests.check.niix import (
    DCM2NIIX,
    VolumeResult,
    compare,
    compare_folder,
    convert,
    link_files,
    series_groups,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(DCM2NIIX).exists(), reason="dcm2niix is not installed"),
]

_OVERLAY = (
    "an overlay ROI: Table E.1-1 removes Overlay Data (60xx,3000) in the basic profile (overlays "
    "can carry burned-in annotations) and veil removes the whole overlay group with it, so "
    "dcm2niix has no overlay to write as a ROI volume"
)
_META_UID = (
    "RT Dose test copies whose file meta (0002,0003) names another SOP instance than their "
    "dataset (0008,0018); PS3.10 7.1 requires both to be the same, and veil writes them the "
    "same. dcm2niix de-duplicates objects by the file meta UID, so after de-identification the "
    "copies count as duplicates and fewer volumes are stacked"
)
_UID_ORDER = (
    "Secondary Capture test objects sharing a series, instance number 1 and no position: "
    "dcm2niix stacks them in the order of a CRC of their SOP Instance UID, which the basic "
    "profile replaces (U), so the volumes come in another order (depends on the key)"
)
# Original volumes (folder:"<series number>_<series UID>") that cannot convert identically
# after `veil deid --for dcm2niix`, each for a reason the standard imposes on de-identification.
KNOWN = {
    "pydicom/test_files:18_1.3.12.2.1107.5.2.30.25641.30010005113009191059300000190_ROI1": _OVERLAY,
    "pydicom_data/pypi_wheel_1.0.0:18_1.3.12.2.1107.5.2.30.25641.30010005113009191059300000190"
    "_ROI1": _OVERLAY,
    "pydicom/test_files:1_1.2.777.777.77.7.7777.7777": _META_UID,
    "pydicom/test_files:1_1.2.777.777.77.7.7777.7777a": _META_UID,
    "pydicom/test_files:1_1.2.826.0.1.3680043.8.498.16157229083793556332623330502397121062": (
        _UID_ORDER
    ),
    "pydicom/test_files:1_1.2.826.0.1.3680043.8.498.16157229083793556332623330502397121062a": (
        _UID_ORDER
    ),
    "nibabel/nicom_test_data:7_real": (
        "CoilString and ImageOrientationText hold 'Anon', the placeholder an earlier anonymizer "
        "wrote into every private element of this file under the private creator 'Anon'. "
        "Retain Safe Private (PS3.15 E.3.10) keeps private blocks only by known creator, so veil "
        "removes the block and dcm2niix has no placeholder to copy; no scanner value is lost"
    ),
}
# Known differences whose occurrence depends on the key (the order of replaced UIDs).
KEY_DEPENDENT = {key for key, reason in KNOWN.items() if reason is _UID_ORDER}
# Volumes written only from the de-identified copy (better, not worse): the input dcm2niix
# rejects for an empty SliceThickness (de-identified, dcm2niix accepts it), and the counterparts
# of the RT Dose and Secondary Capture stacks above. (gzip-compressed inputs, which veil reads
# and dcm2niix does not, are not compared.)
ONLY_AFTER = {"nibabel/nicom_test_data": 1, "pydicom/test_files": 4}


def _every_volume(corpus: Path, out: Path, work: Path) -> list[VolumeResult]:
    folders = corpus_folders()
    with ThreadPoolExecutor(max_workers=2) as pool:  # dcm2niix processes: 2 cores at most
        found = pool.map(
            lambda index: compare_folder(corpus, out, work / str(index), folders[index]),
            range(len(folders)),
        )
        return [result for results in found for result in results]


def test_dcm2niix_writes_every_corpus_volume_identically_after_deid_for_dcm2niix(
    corpus: Path, deid_corpus: Callable[..., tuple[Path, dict]], tmp_path: Path
) -> None:
    """Every volume dcm2niix writes from the corpus, matched by its voxels to the volume it
    writes from `veil deid --for dcm2niix` (audit on): same voxels, affine, bval/bvec and every
    non-identifying sidecar field, except the volumes in KNOWN."""
    from tests.check.conftest import by_input_names

    out, report = deid_corpus("--for", "dcm2niix")
    assert report["check_regressions"] == []
    assert report["counts"]["quarantined"] == 0
    # Outputs paired with their inputs through the report (mirror paths may be renamed).
    results = _every_volume(corpus, by_input_names([corpus], out, report), tmp_path)
    originals = [r for r in results if not r.only_after]
    differing = {r.key: r.problems for r in originals if r.problems}
    unexpected = {key: problems for key, problems in differing.items() if key not in KNOWN}
    assert not unexpected, f"dcm2niix output differs after de-identification: {unexpected}"
    gone = sorted(k for k in KNOWN if k not in differing and k not in KEY_DEPENDENT)
    assert not gone, f"known differences no longer happen (update KNOWN and the README): {gone}"
    only_after: dict[str, int] = {}
    for result in results:
        if result.only_after:
            only_after[result.folder] = only_after.get(result.folder, 0) + 1
    assert only_after == ONLY_AFTER
    identical = len(originals) - len(differing)
    # Measured (dcm2niix 1.0.20220720): 91 of 98 volumes identical (92 or 93 when the key puts
    # the Secondary Capture stacks in their original order); the README says so.
    assert len(originals) == 98
    assert identical >= 91
    print(f"dcm2niix: {identical} of {len(originals)} volumes identical after --for dcm2niix")


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


def test_basic_profile_alone_breaks_dcm2niix_on_siemens_mosaic_and_uih_diffusion(
    corpus: Path, tmp_path: Path
) -> None:
    from tests.check.conftest import by_input_names, run_deid

    folders = ["dcm_qa/axasc35", "dcm_qa_uih/dti_tra_dir16_PA_rot_SaveBySlc__134057"]
    code, report, stderr = run_deid([corpus / f for f in folders], tmp_path / "basic")
    assert code == 0, stderr[-2000:]
    # Outputs paired with their inputs through the report (mirror paths may be renamed).
    out = by_input_names([corpus / f for f in folders], tmp_path / "basic", report)
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


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy is not installed")
def test_dciodvfy_reports_no_new_error_after_deid_for_dcm2niix(
    corpus: Path, deid_corpus: Callable[..., tuple[Path, dict]]
) -> None:
    """The vendor blocks kept for dcm2niix (CSA headers with masked protocol text, Philips
    sequences) leave every output as valid as its input (invariant 5)."""
    from tests.corpus.test_corpus_deid import (
        _UNREADABLE,
        DCIODVFY_EXCEPTIONS,
        _dciodvfy_errors,
    )

    out, report = deid_corpus("--for", "dcm2niix")
    pairs = [
        (Path(f["input"]), out / f["output"]) for f in report["files"] if f["outcome"] == "written"
    ]

    def new_errors(pair: tuple[Path, Path]) -> tuple[str, set[str] | None]:
        source, output = pair
        name = source.resolve().relative_to(corpus.resolve()).as_posix()
        before = _dciodvfy_errors(source)
        if any(_UNREADABLE in error for error in before):
            return name, None  # dciodvfy cannot read the input (deflate): nothing to compare
        return name, _dciodvfy_errors(output) - before

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(pool.map(new_errors, pairs))
    found = {n: e for n, e in results.items() if e and n not in DCIODVFY_EXCEPTIONS}
    assert not found, {n: sorted(e)[:3] for n, e in found.items()}
    assert len(pairs) >= 900 and sum(e is None for e in results.values()) < 10
