"""Deterministic synthetic brain MRI corpus for the benchmark.

Per patient: one study with a sagittal 3D T1 MPRAGE series (176 slices of 256x256) and an
axial 2D T2 TSE series (30 slices of 512x512). uint16 MONOCHROME2, Explicit VR Little Endian,
pixel values from a smooth head phantom (skull, grey/white matter, ventricles) plus noise, and
full headers modelled on a Siemens scanner export: patient, study, series, equipment, frame of
reference, general/MR image modules, request attributes, referenced sequences, a private
Siemens block with its creators, dates/times, institution and physicians (~130 elements).

The same seed and patient count give byte-identical files. Usable as a module
(`generate(...)`) or a script: `python benchmarks/synth.py OUT --patients 4 --seed 7`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

# Bump when the generator's output changes, so cached corpora are rebuilt.
GENERATOR_VERSION = 6
T1_SLICES = 176
T1_SIZE = 256
T2_SLICES = 30
T2_SIZE = 512
_UID_ROOT = "1.2.826.0.1.3680043.10.1047."  # a synthetic root; never a real site
_FIRST_NAMES = ("ANNA", "JOHN", "MARIA", "PETER", "SOFIA", "LUCAS", "EMMA", "NOAH", "MIA", "LIAM")
_LAST_NAMES = ("MUELLER", "SMITH", "ROSSI", "NOVAK", "GARCIA", "JANSEN", "DUBOIS", "KOWALSKI")


@dataclass(frozen=True)
class CorpusInfo:
    """What a generated corpus holds (written as corpus.json next to the files)."""

    root: str
    patients: int
    seed: int
    files: int
    bytes: int
    generator_version: int
    # Identifying strings planted in the headers (for a rough "what survived" count).
    identifiers: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Patient:
    index: int
    name: str
    patient_id: str
    birth_date: str
    sex: str
    age: str
    weight: str
    size: str
    study_date: str
    accession: str
    referring: str
    performing: str
    operator: str
    institution: str
    station: str
    serial: str


def _uid(*parts: object) -> str:
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()
    return _UID_ROOT + str(int(digest[:24], 16))[:28]


def _person(rng: np.random.Generator) -> str:
    last = _LAST_NAMES[int(rng.integers(len(_LAST_NAMES)))]
    first = _FIRST_NAMES[int(rng.integers(len(_FIRST_NAMES)))]
    return f"{last}^{first}"


def _make_patient(index: int, seed: int) -> _Patient:
    rng = np.random.default_rng([seed, index, 1])
    birth_year = int(rng.integers(1940, 2000))
    study_year = 2023 + int(rng.integers(0, 3))
    month, day = int(rng.integers(1, 13)), int(rng.integers(1, 29))
    return _Patient(
        index=index,
        name=_person(rng),
        patient_id=f"{int(rng.integers(10**7, 10**8)):08d}",
        birth_date=f"{birth_year}{int(rng.integers(1, 13)):02d}{int(rng.integers(1, 29)):02d}",
        sex="F" if rng.random() < 0.5 else "M",
        age=f"{study_year - birth_year:03d}Y",
        weight=f"{rng.uniform(50, 100):.1f}",
        size=f"{rng.uniform(1.55, 1.95):.2f}",
        study_date=f"{study_year}{month:02d}{day:02d}",
        accession=f"A{int(rng.integers(10**9, 10**10))}",
        referring=_person(rng),
        performing=_person(rng),
        operator=_person(rng),
        institution=("UNIVERSITY HOSPITAL NORTH", "ST. MARY CLINIC", "CITY RADIOLOGY")[index % 3],
        station=f"MRC{int(rng.integers(10000, 99999))}",
        serial=str(int(rng.integers(10000, 99999))),
    )


# ---------------------------------------------------------------- pixels


def _phantom_slice(
    shape: tuple[int, int], z: float, rng: np.random.Generator, t2: bool
) -> np.ndarray:
    """One slice of a smooth head phantom in [0, 4095] with Gaussian noise.

    Coordinates are normalised to [-1, 1]; z is the slice position in the same units.
    """
    rows, cols = shape
    y, x = np.mgrid[-1 : 1 : rows * 1j, -1 : 1 : cols * 1j].astype(np.float32)
    img = np.zeros(shape, dtype=np.float32)
    z2 = z * z

    def ellipsoid(a: float, b: float, c: float, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
        r = ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 + z2 / (c * c)
        # Soft edge (a few pixels wide) so the image is smooth, not binary.
        return np.clip((1.0 - r) * 12.0, 0.0, 1.0)

    scalp = ellipsoid(0.78, 0.92, 0.95)
    skull = ellipsoid(0.74, 0.88, 0.91)
    brain = ellipsoid(0.68, 0.82, 0.85)
    white = ellipsoid(0.52, 0.66, 0.70)
    vent_l = ellipsoid(0.09, 0.25, 0.30, cx=-0.12, cy=-0.05)
    vent_r = ellipsoid(0.09, 0.25, 0.30, cx=0.12, cy=-0.05)
    vents = np.maximum(vent_l, vent_r)
    if t2:  # T2: CSF bright, white matter darker than grey
        levels = (900.0, 150.0, 1500.0, 1000.0, 3600.0)
    else:  # T1: white matter bright, CSF dark
        levels = (1400.0, 300.0, 1800.0, 2600.0, 400.0)
    img += levels[0] * scalp
    img += (levels[1] - levels[0]) * skull
    img += (levels[2] - levels[1]) * brain
    img += (levels[3] - levels[2]) * white
    img += (levels[4] - levels[3]) * vents
    # Gentle gyral texture and a receive-coil bias field.
    img *= 1.0 + 0.06 * np.sin(9.0 * x + 3.0 * z) * np.cos(11.0 * y)
    img *= 1.15 - 0.25 * (x * x + y * y)
    img += rng.normal(0.0, 25.0, size=shape).astype(np.float32)
    return np.clip(img, 0, 4095).astype(np.uint16)


# ---------------------------------------------------------------- headers


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _csa_blob(tags: dict[str, str], pad_to: int) -> bytes:
    """A CSA-header-like blob ("SV10" format) so the private payload has realistic bytes."""
    out = bytearray(b"SV10\x04\x03\x02\x01")
    out += struct.pack("<II", len(tags), 77)
    for name, value in tags.items():
        raw = value.encode("ascii") + b"\x00"
        raw += b"\x00" * (-len(raw) % 4)
        out += name.encode("ascii").ljust(64, b"\x00")
        out += struct.pack("<i4sii", 1, b"DS\x00\x00", 0, 1 if value else 0)
        out += struct.pack("<iiii", len(raw), len(raw), 77, len(raw)) + raw
    out += b"\x00" * (pad_to - len(out)) if len(out) < pad_to else b""
    return bytes(out)


@dataclass(frozen=True)
class _Series:
    number: int
    description: str
    protocol: str
    sequence_name: str
    scanning_sequence: str
    sequence_variant: str
    tr: str
    te: str
    ti: str | None
    flip: str
    slices: int
    size: int
    spacing: float
    thickness: float
    orientation: tuple[float, ...]
    three_d: bool
    t2: bool


_T1 = _Series(
    number=3,
    description="t1_mprage_sag_p2_iso",
    protocol="t1_mprage_sag_p2_iso",
    sequence_name="*tfl3d1_16ns",
    scanning_sequence="GR\\IR",
    sequence_variant="SK\\SP\\MP",
    tr="2300",
    te="2.98",
    ti="900",
    flip="9",
    slices=T1_SLICES,
    size=T1_SIZE,
    spacing=1.0,
    thickness=1.0,
    orientation=(0.0, 1.0, 0.0, 0.0, 0.0, -1.0),
    three_d=True,
    t2=False,
)
_T2 = _Series(
    number=5,
    description="t2_tse_tra_p2",
    protocol="t2_tse_tra_p2",
    sequence_name="*tse2d1_15",
    scanning_sequence="SE",
    sequence_variant="SK\\SP\\OSP",
    tr="6000",
    te="96",
    ti=None,
    flip="150",
    slices=T2_SLICES,
    size=T2_SIZE,
    spacing=5.0,
    thickness=5.0,
    orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    three_d=False,
    t2=True,
)


def _base_dataset(p: _Patient, s: _Series, seed: int, instance: int) -> Dataset:
    study_uid = _uid(seed, p.index, "study")
    series_uid = _uid(seed, p.index, "series", s.number)
    sop_uid = _uid(seed, p.index, "sop", s.number, instance)
    for_uid = _uid(seed, p.index, "for")
    t = f"{8 + p.index % 9:02d}{(s.number * 7) % 60:02d}"
    acq_time = f"{t}{instance % 60:02d}.{(instance * 2500) % 1000000:06d}"

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = "1.3.12.2.1107.5.2"
    meta.ImplementationVersionName = "MR_VE11C"
    meta.SourceApplicationEntityTitle = p.station

    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = (
        ["ORIGINAL", "PRIMARY", "M", "ND", "NORM"]
        if s.three_d
        else ["ORIGINAL", "PRIMARY", "M", "NORM", "DIS2D"]
    )
    ds.InstanceCreationDate = p.study_date
    ds.InstanceCreationTime = acq_time
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = p.study_date
    ds.StudyTime = f"{t}00.000000"
    ds.SeriesTime = f"{t}30.250000"
    ds.AcquisitionTime = acq_time
    ds.ContentTime = acq_time
    ds.AccessionNumber = p.accession
    ds.Modality = "MR"
    ds.Manufacturer = "SIEMENS"
    ds.InstitutionName = p.institution
    ds.InstitutionAddress = f"{10 + p.index} Hospital Street,Springfield,District,12345,DE"
    ds.ReferringPhysicianName = p.referring
    ds.StationName = p.station
    ds.StudyDescription = "Neuro^Brain routine"
    ds.ProcedureCodeSequence = Sequence([_code("MRBRAIN", "L", "MR Brain w/o contrast")])
    ds.SeriesDescription = s.description
    ds.InstitutionalDepartmentName = "Neuroradiology"
    ds.PhysiciansOfRecord = p.referring
    ds.PerformingPhysicianName = p.performing
    ds.NameOfPhysiciansReadingStudy = p.performing
    ds.OperatorsName = p.operator
    ds.ManufacturerModelName = "Prisma_fit"
    ref_study = Dataset()
    ref_study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    ref_study.ReferencedSOPInstanceUID = _uid(seed, p.index, "refstudy")
    ds.ReferencedStudySequence = Sequence([ref_study])
    pps = Dataset()
    pps.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
    pps.ReferencedSOPInstanceUID = _uid(seed, p.index, "pps")
    ds.ReferencedPerformedProcedureStepSequence = Sequence([pps])
    refs = []
    for k in range(3):  # the three-plane localizer
        ref = Dataset()
        ref.ReferencedSOPClassUID = MRImageStorage
        ref.ReferencedSOPInstanceUID = _uid(seed, p.index, "sop", 1, k + 1)
        refs.append(ref)
    ds.ReferencedImageSequence = Sequence(refs)

    ds.PatientName = p.name
    ds.PatientID = p.patient_id
    ds.IssuerOfPatientID = "UHN-PAS"
    ds.PatientBirthDate = p.birth_date
    ds.PatientSex = p.sex
    other = Dataset()
    other.PatientID = f"{p.patient_id[::-1]}"
    other.IssuerOfPatientID = "REGIONAL-MPI"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ds.PatientAge = p.age
    ds.PatientSize = p.size
    ds.PatientWeight = p.weight
    ds.PatientAddress = f"{3 + p.index} Elm Road^^Springfield^^12345^DE"
    ds.PatientTelephoneNumbers = f"+49 30 {5550100 + p.index}"
    ds.AdditionalPatientHistory = f"Headache since 2 weeks, seen by Dr {p.referring.split('^')[0]}"
    ds.PatientComments = "Claustrophobic, needed reassurance"

    ds.BodyPartExamined = "HEAD"
    ds.ScanningSequence = s.scanning_sequence
    ds.SequenceVariant = s.sequence_variant
    ds.ScanOptions = "IR" if s.three_d else "PFP\\FS"
    ds.MRAcquisitionType = "3D" if s.three_d else "2D"
    ds.SequenceName = s.sequence_name
    ds.AngioFlag = "N"
    ds.SliceThickness = s.thickness
    ds.RepetitionTime = s.tr
    ds.EchoTime = s.te
    if s.ti is not None:
        ds.InversionTime = s.ti
    ds.NumberOfAverages = "1"
    ds.ImagingFrequency = "123.251608"
    ds.ImagedNucleus = "1H"
    ds.EchoNumbers = "1"
    ds.MagneticFieldStrength = "3"
    ds.SpacingBetweenSlices = s.spacing
    ds.NumberOfPhaseEncodingSteps = str(s.size - 16)
    ds.EchoTrainLength = "1" if s.three_d else "15"
    ds.PercentSampling = "100"
    ds.PercentPhaseFieldOfView = "100"
    ds.PixelBandwidth = "240" if s.three_d else "220"
    ds.DeviceSerialNumber = p.serial
    ds.SoftwareVersions = "syngo MR E11"
    ds.ProtocolName = s.protocol
    ds.TransmitCoilName = "Body"
    ds.AcquisitionMatrix = [0, s.size, s.size - 16, 0]
    ds.InPlanePhaseEncodingDirection = "ROW"
    ds.FlipAngle = s.flip
    ds.VariableFlipAngleFlag = "N"
    ds.SAR = "0.0412"
    ds.dBdt = "0"
    ds.PatientPosition = "HFS"

    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = str(1000 + p.index)
    ds.SeriesNumber = s.number
    ds.AcquisitionNumber = 1
    ds.InstanceNumber = instance
    half = s.size / 2.0 * (256.0 / s.size)
    offset = (instance - 1 - s.slices / 2.0) * s.spacing
    if s.three_d:
        ds.ImagePositionPatient = [round(offset, 4), -half, half]
    else:
        ds.ImagePositionPatient = [-half, -half, round(offset, 4)]
    ds.ImageOrientationPatient = list(s.orientation)
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    ds.SliceLocation = round(offset, 4)
    ds.ImageComments = f"Scanned at {p.institution}"

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = s.size
    ds.PixelSpacing = [256.0 / s.size, 256.0 / s.size]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SmallestImagePixelValue = 0
    ds.LargestImagePixelValue = 4095
    ds.WindowCenter = "1200" if s.three_d else "700"
    ds.WindowWidth = "2400" if s.three_d else "1500"
    ds.WindowCenterWidthExplanation = "Algo1"

    ds.RequestingPhysician = p.referring
    ds.RequestedProcedureDescription = "MR Brain"
    ds.PerformedProcedureStepStartDate = p.study_date
    ds.PerformedProcedureStepStartTime = f"{t}00.000000"
    ds.PerformedProcedureStepID = f"PPS{p.accession[1:7]}"
    ds.PerformedProcedureStepDescription = "Neuro^Brain routine"
    ds.PerformedStationAETitle = p.station
    req = Dataset()
    req.RequestedProcedureID = f"RP{p.accession[1:8]}"
    req.ScheduledProcedureStepID = f"SPS{p.accession[1:8]}"
    req.ScheduledProcedureStepDescription = "MR Brain"
    req.ReasonForTheRequestedProcedure = "Headache, exclude mass"
    req.AccessionNumber = p.accession
    ds.RequestAttributesSequence = Sequence([req])
    ds.PresentationLUTShape = "IDENTITY"

    # Siemens private blocks: creators at (0019,0010), (0029,0010/11), (0051,0010).
    b19 = ds.private_block(0x0019, "SIEMENS MR HEADER", create=True)
    b19.add_new(0x08, "CS", "IMAGE NUM 4")
    b19.add_new(0x09, "LO", "1.0")
    b19.add_new(0x0B, "DS", "7000")
    b19.add_new(0x0F, "SH", "Fast")
    b19.add_new(0x11, "SH", "No")
    b19.add_new(0x12, "SL", [0, 0, -1000])
    b19.add_new(0x13, "SL", [0, 0, 0])
    b19.add_new(0x14, "IS", "0\\0\\0")
    b19.add_new(0x15, "FD", [float(x) for x in ds.ImagePositionPatient])
    b19.add_new(0x17, "DS", "1")
    b19.add_new(0x18, "IS", "4100")
    b29 = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    b29.add_new(0x08, "CS", "IMAGE NUM 4")
    b29.add_new(0x09, "LO", "20241104")
    csa = {
        "EchoLinePosition": "128",
        "ProtocolSliceNumber": str(instance - 1),
        "UsedChannelMask": "4294967295",
        "ImaAbsTablePosition": "0\\0\\-1206",
        "SlicePosition_PCS": f"{offset:.6f}",
        "RealDwellTime": "2600",
        "ImaCoilString": "HEA;HEP",
    }
    b29.add_new(0x10, "OB", _csa_blob(csa, 6600))
    b29.add_new(0x18, "CS", "MR")
    b29.add_new(0x19, "LO", "20241104")
    b29.add_new(
        0x20, "OB", _csa_blob({"UsedPatientWeight": p.weight, "CoilForGradient": "void"}, 12800)
    )
    b29b = ds.private_block(0x0029, "SIEMENS MEDCOM HEADER2", create=True)
    b29b.add_new(0x60, "LO", "com")
    b51 = ds.private_block(0x0051, "SIEMENS MR HEADER", create=True)
    b51.add_new(0x08, "CS", "IMAGE NUM 4")
    b51.add_new(0x09, "LO", "1.0")
    b51.add_new(0x0A, "LO", "TA 05:21" if s.three_d else "TA 02:08")
    b51.add_new(0x0B, "SH", f"{s.size}p*{s.size}")
    b51.add_new(0x0C, "LO", "FoV 256*256")
    b51.add_new(0x0E, "LO", "Sag>Cor" if s.three_d else "Tra")
    b51.add_new(0x0F, "LO", "HEA;HEP")
    b51.add_new(0x11, "LO", "p2")
    b51.add_new(0x12, "SH", "TP 0")
    b51.add_new(0x13, "SH", "+LPH")
    b51.add_new(0x19, "LO", "A1/PFP")
    return ds


def _write(ds: Dataset, path: Path) -> int:
    ds.save_as(path, enforce_file_format=True)
    return path.stat().st_size


def planted_identifiers(p: _Patient) -> tuple[str, ...]:
    """Values that a de-identifier must not leave anywhere in the output bytes."""
    # Whole person names (not a family name alone, which a peer's fake names can reuse).
    return (
        p.name,
        p.patient_id,
        p.birth_date,
        p.accession,
        p.institution,
        p.referring,
        p.performing,
        p.operator,
        f"{3 + p.index} Elm Road",
    )


def _generate_patient(root: Path, seed: int, index: int) -> tuple[int, int]:
    p = _make_patient(index, seed)
    files = 0
    size = 0
    for s in (_T1, _T2):
        rng = np.random.default_rng([seed, index, s.number])
        folder = (
            root
            / f"sub-{index + 1:03d}"
            / f"ses-{p.study_date}"
            / f"{s.number:03d}_{s.description}"
        )
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(1, s.slices + 1):
            z = -0.98 + 1.96 * (i - 0.5) / s.slices
            pixels = _phantom_slice((s.size, s.size), z, rng, s.t2)
            ds = _base_dataset(p, s, seed, i)
            ds.PixelData = pixels.tobytes()
            ds["PixelData"].VR = "OW"
            size += _write(ds, folder / f"IM{i:04d}.dcm")
            files += 1
    return files, size


def corpus_path(work: Path, patients: int, seed: int) -> Path:
    """Where the cached corpus for these parameters lives."""
    return work / f"corpus-v{GENERATOR_VERSION}-p{patients}-s{seed}"


def _cached(marker: Path) -> CorpusInfo | None:
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    if info.get("generator_version") != GENERATOR_VERSION:
        return None
    info["identifiers"] = tuple(info.get("identifiers", ()))
    return CorpusInfo(**info)


def generate(work: Path, patients: int, seed: int = 7) -> CorpusInfo:
    """Build (or reuse from cache) the corpus for `patients` and `seed` under `work`."""
    root = corpus_path(work, patients, seed)
    marker = root / "corpus.json"
    cached = _cached(marker)
    if cached is not None:
        return cached
    # Built aside and renamed into place, so a concurrent run never sees half a corpus.
    building = root.with_name(f"{root.name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    data = building / "dicom"
    data.mkdir(parents=True)
    files = size = 0
    for index in range(patients):
        f, b = _generate_patient(data, seed, index)
        files += f
        size += b
    planted = {v for i in range(patients) for v in planted_identifiers(_make_patient(i, seed))}
    info = CorpusInfo(
        root=str(root / "dicom"),
        patients=patients,
        seed=seed,
        files=files,
        bytes=size,
        generator_version=GENERATOR_VERSION,
        identifiers=tuple(sorted(planted)),
    )
    (building / "corpus.json").write_text(json.dumps(asdict(info), indent=2))
    if _cached(marker):  # another run finished the same (deterministic) corpus meanwhile
        shutil.rmtree(building, ignore_errors=True)
        return info
    shutil.rmtree(root, ignore_errors=True)  # an older generator's corpus, or a broken one
    try:
        building.rename(root)
    except OSError:  # another run won the race: its corpus is the same
        shutil.rmtree(building, ignore_errors=True)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="folder under which the corpus is cached")
    parser.add_argument("--patients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    info = generate(args.work, args.patients, args.seed)
    print(f"{info.files} files, {info.bytes / 1e6:.1f} MB in {info.root}")


if __name__ == "__main__":
    main()
