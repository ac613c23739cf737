"""Running dcm2niix on a folder and comparing two conversions (voxels, affine, bval/bvec, sidecar).

Test support only: the core modules never run processes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

DCM2NIIX = shutil.which("dcm2niix") or "/usr/bin/dcm2niix"

# Sidecar fields that carry identifying values (or values de-identification changes on purpose:
# dates move, UIDs are replaced, institution and device identity go): not compared.
IDENTIFYING_SIDECAR_FIELDS = frozenset(
    {
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "StationName",
        "DeviceSerialNumber",
        "ReferringPhysicianName",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientWeight",
        "PatientSize",
        "AccessionNumber",
        "StudyID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "AcquisitionDateTime",
        "AcquisitionDate",
        "SeriesDate",
        "StudyDate",
        "ContentDate",
        "ImageComments",
        "StudyDescription",
        "ProcedureStepDescription",
        "RequestedProcedureDescription",
        "PerformedProcedureStepDescription",
        "ConversionSoftware",
        "ConversionSoftwareVersion",
    }
)


@dataclass(frozen=True)
class Conversion:
    """What dcm2niix wrote for one folder: output stem -> suffix -> path."""

    files: dict[str, dict[str, Path]]
    returncode: int
    log: str

    @property
    def volumes(self) -> list[str]:
        return sorted(stem for stem, parts in self.files.items() if ".nii" in parts)


def convert(folder: Path, out: Path) -> Conversion:
    """dcm2niix FOLDER into OUT, uncompressed, named by series number (stable under de-id)."""
    out.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(
        [
            DCM2NIIX,
            "-d",
            "0",
            "-z",
            "n",
            "-b",
            "y",
            "-ba",
            "y",
            "-f",
            "%s",
            "-o",
            str(out),
            str(folder),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    files: dict[str, dict[str, Path]] = {}
    for path in sorted(out.iterdir()):
        stem, _, suffix = path.name.partition(".")
        files.setdefault(stem, {})["." + suffix] = path
    return Conversion(files, run.returncode, run.stdout + run.stderr)


def _numbers(path: Path) -> np.ndarray:
    return np.array([float(v) for v in path.read_text().split()])


def _compare_volume(
    stem: str, a: dict[str, Path], b: dict[str, Path], skip: frozenset[str]
) -> list[str]:
    """Voxels, affine, bval/bvec and sidecar of one volume converted twice."""
    problems: list[str] = []
    img_a, img_b = nib.load(a[".nii"]), nib.load(b[".nii"])
    if img_a.shape != img_b.shape:
        problems.append(f"{stem}: shape {img_a.shape} vs {img_b.shape}")
    elif not np.array_equal(np.asanyarray(img_a.dataobj), np.asanyarray(img_b.dataobj)):
        problems.append(f"{stem}: voxel data differ")
    if not np.allclose(img_a.affine, img_b.affine, atol=1e-4):
        problems.append(f"{stem}: affine differs")
    for suffix in (".bval", ".bvec"):
        if (suffix in a) != (suffix in b):
            problems.append(f"{stem}: {suffix} only on one side")
        elif suffix in a and not np.allclose(_numbers(a[suffix]), _numbers(b[suffix])):
            problems.append(f"{stem}: {suffix} differ")
    if ".json" in a and ".json" in b:
        side_a = json.loads(a[".json"].read_text())
        side_b = json.loads(b[".json"].read_text())
        for key in sorted((set(side_a) | set(side_b)) - skip):
            if side_a.get(key) != side_b.get(key):
                shown = "missing" if key not in side_b else "changed"
                problems.append(f"{stem}: sidecar {key} {shown}")
    return problems


def compare(
    before: Conversion, after: Conversion, ignore: frozenset[str] = frozenset()
) -> list[str]:
    """Every difference between two conversions that a pipeline would see; [] when equal.

    Sidecar fields in IDENTIFYING_SIDECAR_FIELDS and `ignore` are not compared."""
    problems: list[str] = []
    skip = IDENTIFYING_SIDECAR_FIELDS | ignore
    pairs = [(stem, stem) for stem in before.volumes if stem in after.files]
    if before.volumes != after.volumes:
        if len(before.volumes) == len(after.volumes) == 1:
            # Without a series number dcm2niix names the file by a hash of the series UID,
            # which de-identification replaces: one volume on each side is the same volume.
            pairs = [(before.volumes[0], after.volumes[0])]
            skip = skip | {"SeriesNumber"}  # the hash dcm2niix makes up without one
        else:
            problems.append(f"volumes differ: {before.volumes} vs {after.volumes}")
    for stem, other in pairs:
        problems += _compare_volume(stem, before.files[stem], after.files[other], skip)
    return problems


def dicom_files(folder: Path) -> list[Path]:
    """The DICOM files directly in a folder (Part 10 or raw), by name; not references."""
    found = []
    for path in sorted(folder.iterdir()):
        if not path.is_file():
            continue
        with path.open("rb") as handle:
            head = handle.read(132)
        if head[128:132] == b"DICM" or head[:2] in (b"\x08\x00", b"\x02\x00", b"\x00\x08"):
            found.append(path)
    return found


def series_groups(folder: Path) -> dict[str, list[str]]:
    """File names in a folder grouped by series (Series Instance UID, or the name alone)."""
    from pydicom import dcmread

    groups: dict[str, list[str]] = {}
    for path in dicom_files(folder):
        try:
            ds = dcmread(path, stop_before_pixels=True, force=True)
            key = str(ds.get("SeriesInstanceUID", "") or "") or path.name
        except Exception:
            key = path.name
        groups.setdefault(key, []).append(path.name)
    return groups


def link_files(folder: Path, names: list[str], dest: Path) -> Path:
    """A folder of symbolic links to some files of `folder` (so one series converts alone)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        source = folder / name
        if source.exists():
            (dest / name).symlink_to(source.resolve())
    return dest
