"""Running dcm2niix on a folder and comparing two conversions (voxels, affine, bval/bvec, sidecar).

Test support only: the core modules never run processes.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import zlib
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


_SUFFIXES = (".nii.gz", ".nii", ".json", ".bval", ".bvec")


@dataclass(frozen=True)
class Conversion:
    """What dcm2niix wrote for one folder: output stem -> suffix -> path."""

    files: dict[str, dict[str, Path]]
    returncode: int
    log: str

    @property
    def volumes(self) -> list[str]:
        return sorted(stem for stem, parts in self.files.items() if ".nii" in parts)


def convert(folder: Path, out: Path, name: str = "%s") -> Conversion:
    """dcm2niix FOLDER into OUT, uncompressed, named by series number (stable under de-id)
    unless `name` (dcm2niix's -f) says otherwise."""
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
            name,
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
        # Names may hold a series UID (dots): the suffix is the known extension at the end.
        suffix = next((s for s in _SUFFIXES if path.name.endswith(s)), path.suffix)
        files.setdefault(path.name[: -len(suffix)], {})[suffix] = path
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


# -- volume by volume: every volume of a folder, matched by its voxels --------------------------
@dataclass(frozen=True)
class Volume:
    """One NIfTI volume dcm2niix wrote, named "<series number>_<series UID>[suffix]"."""

    stem: str
    parts: dict[str, Path]

    @property
    def series_uid(self) -> str:
        return self.stem.partition("_")[2].rstrip("abcdefghijklmnopqrstuvwxyz").split("_")[0]

    def sidecar(self) -> dict[str, object]:
        path = self.parts.get(".json")
        return json.loads(path.read_text()) if path else {}


def voxel_digest(path: Path) -> str:
    """What identifies a volume across a conversion: its voxel values, shape and type."""
    data = np.asanyarray(nib.load(path).dataobj)
    return hashlib.sha256(
        data.tobytes() + str(data.shape).encode() + str(data.dtype).encode()
    ).hexdigest()


def folder_volumes(folder: Path, out: Path) -> dict[str, list[Volume]]:
    """Every volume dcm2niix writes from one folder, by voxel digest."""
    conversion = convert(folder, out, "%s_%j")
    found: dict[str, list[Volume]] = {}
    for stem in conversion.volumes:
        volume = Volume(stem, conversion.files[stem])
        found.setdefault(voxel_digest(volume.parts[".nii"]), []).append(volume)
    return found


def _made_up_series_number(volume: Volume) -> bool:
    """Without a Series Number dcm2niix writes the CRC-32 of the series UID, which
    de-identification replaces: not a difference of the data."""
    return volume.sidecar().get("SeriesNumber") == zlib.crc32(volume.series_uid.encode())


def compare_volumes(before: Volume, after: Volume) -> list[str]:
    """What a pipeline would see differ between two volumes with the same voxels: affine,
    bval/bvec and every sidecar field except identifying ones; [] when identical."""
    problems: list[str] = []
    a, b = before.parts, after.parts
    if not np.allclose(nib.load(a[".nii"]).affine, nib.load(b[".nii"]).affine, atol=1e-4):
        problems.append("affine differs")
    for suffix in (".bval", ".bvec"):
        if (suffix in a) != (suffix in b):
            problems.append(f"{suffix} only on one side")
        elif suffix in a and not np.allclose(_numbers(a[suffix]), _numbers(b[suffix])):
            problems.append(f"{suffix} differ")
    side_a, side_b = before.sidecar(), after.sidecar()
    skip = set(IDENTIFYING_SIDECAR_FIELDS)
    if _made_up_series_number(before) and _made_up_series_number(after):
        skip.add("SeriesNumber")
    for key in sorted(set(side_a) | set(side_b)):
        if key not in skip and side_a.get(key) != side_b.get(key):
            problems.append(f"sidecar {key} {'missing' if key not in side_b else 'changed'}")
    return problems


@dataclass(frozen=True)
class VolumeResult:
    """One original volume (or one written only from the de-identified copy) and how it fared."""

    folder: str
    stem: str  # the original's (or, for `only_after`, the output's) "<number>_<series UID>"
    problems: tuple[str, ...]
    only_after: bool = False

    @property
    def key(self) -> str:
        return f"{self.folder}:{self.stem}"


def compare_folder(
    original: Path, deidentified: Path, work: Path, folder: str
) -> list[VolumeResult]:
    """Every volume dcm2niix writes from `original/folder`, matched by voxel digest to the
    volume it writes from `deidentified/folder`; plus volumes written only from the latter."""
    # dcm2niix keeps one of several duplicates (same series, instance and time) by the order
    # it lists the folder in: both sides are listed from links with the same names, made in the
    # same order on the same file system, so that order is the same.
    names = [path.name for path in dicom_files(original / folder)]
    before = folder_volumes(link_files(original / folder, names, work / "in"), work / "before")
    after = (
        folder_volumes(link_files(deidentified / folder, names, work / "out"), work / "after")
        if (deidentified / folder).is_dir()
        else {}
    )
    results = []
    for digest, volumes in before.items():
        matches = after.get(digest, [])
        for index, volume in enumerate(volumes):
            problems = (
                compare_volumes(volume, matches[index])
                if index < len(matches)
                else ["voxels missing or changed"]
            )
            results.append(VolumeResult(folder, volume.stem, tuple(problems)))
    for digest, volumes in after.items():
        for volume in volumes[len(before.get(digest, [])) :]:
            results.append(VolumeResult(folder, volume.stem, (), only_after=True))
    shutil.rmtree(work, ignore_errors=True)
    return results
