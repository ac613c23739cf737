"""Small synthetic datasets with identifiers in known places (for engine unit tests)."""

from __future__ import annotations

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

PATIENT_NAME = "DOE^JOHN"
PATIENT_ID = "PID-0042"
BIRTH_DATE = "19700131"
STUDY_DATE = "20240131"
INSTITUTION = "ST ELSEWHERE HOSPITAL"
STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
SERIES_UID = "1.2.826.0.1.3680043.8.498.2"
SOP_UID = "1.2.826.0.1.3680043.8.498.3"
FRAME_UID = "1.2.826.0.1.3680043.8.498.4"
PIXELS = bytes(range(256)) * 32  # 8 KiB, 64x64 16-bit


def mr_dataset() -> Dataset:
    """An MR image with identifiers at the top, in nested sequences, in private blocks,
    in an overlay and after the pixel data."""
    ds = Dataset()
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = SOP_UID
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = SERIES_UID
    ds.FrameOfReferenceUID = FRAME_UID
    ds.Modality = "MR"
    ds.Manufacturer = "SIEMENS"
    ds.ManufacturerModelName = "Prisma"
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = BIRTH_DATE
    ds.PatientSex = "M"
    ds.StudyDate = STUDY_DATE
    ds.SeriesDate = STUDY_DATE
    ds.AcquisitionDate = STUDY_DATE
    ds.ContentDate = STUDY_DATE
    ds.StudyTime = "101500"
    ds.AccessionNumber = "ACC778899"
    ds.InstitutionName = INSTITUTION
    ds.ReferringPhysicianName = "HOUSE^GREGORY"
    ds.StudyDescription = f"Brain for {PATIENT_NAME}"
    ds.SeriesDescription = "T1 MPRAGE"
    ds.ImageComments = "Patient DOE JOHN seen 31/01/2024"
    ds.DeviceSerialNumber = "SN12345"
    ds.StationName = "MRC01"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    ds.Rows = 64
    ds.Columns = 64
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    ds.SliceThickness = 1

    # a referenced image, and a sequence three levels deep carrying a name
    ref = Dataset()
    ref.ReferencedSOPClassUID = MRImageStorage
    ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.99"
    ds.ReferencedImageSequence = Sequence([ref])
    # a reference inside a sequence the profile keeps (Referenced Instance Sequence is not
    # listed in Table E.1-1, but the Referenced SOP Instance UID inside it is: U)
    source = Dataset()
    source.ReferencedSOPClassUID = MRImageStorage
    source.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.99"
    ds.ReferencedInstanceSequence = Sequence([source])
    inner = Dataset()
    inner.PersonName = PATIENT_NAME
    inner.CodeValue = "121025"
    middle = Dataset()
    middle.ContentSequence = Sequence([inner])
    middle.ValueType = "CONTAINER"
    outer = Dataset()
    outer.ContentSequence = Sequence([middle])
    ds.ContentSequence = Sequence([outer])
    request = Dataset()
    request.RequestedProcedureID = "RP-1"
    request.StudyInstanceUID = STUDY_UID
    ds.RequestAttributesSequence = Sequence([request])

    # private blocks of two creators
    siemens = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    siemens.add_new(0x10, "OB", b"CSA-IMAGE-HEADER")
    other = ds.private_block(0x0011, "ACME HOSPITAL PACS", create=True)
    other.add_new(0x01, "LO", PATIENT_NAME)

    # an overlay plane with its data
    ds.add_new(0x60000010, "US", 64)
    ds.add_new(0x60000011, "US", 64)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", b"\x00" * 512)

    ds.PixelData = PIXELS
    ds["PixelData"].VR = "OW"
    # an element after the pixel data
    ds.add_new(0x7FE10010, "LO", "TRAILING CREATOR")
    ds.add_new(0x7FE11001, "LO", PATIENT_ID)

    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = SOP_UID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.SourceApplicationEntityTitle = "SCANNER_AE"
    return ds
