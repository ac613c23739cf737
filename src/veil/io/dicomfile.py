"""Reading one DICOM file with a clear error per problem, and encoding one for writing."""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import dcmwrite, write_dataset, write_file_meta_info
from pydicom.uid import UID
from pydicom.valuerep import VR

from veil.dicom import UNDEFINED_LENGTH, tag_text
from veil.errors import InputFileError, value_free_text
from veil.io.inputs import read_regular_file
from veil.io.limits import DEFAULT_LIMITS, gunzip_bounded

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
GZIP_MAGIC = b"\x1f\x8b"
# One file larger than this is refused rather than read into memory (a "huge value" guard).
MAX_FILE_BYTES = DEFAULT_LIMITS.max_file_bytes
STANDARD_TS_ROOT = "1.2.840.10008.1.2."
KNOWN_VRS = frozenset(VR.__members__.values()) | frozenset(str(v) for v in VR)


class SkippedFile(Exception):
    """An input that is not an image to de-identify (DICOMDIR, not DICOM); counted, not failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def looks_like_dicom(head: bytes) -> bool:
    """Part 10 files have DICM at 128; raw datasets start with a group 0008 (or 0002) tag."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    return len(head) >= 8 and head[:2] in (b"\x08\x00", b"\x02\x00", b"\x00\x08")


def _decode_problem(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, EOFError):
        return "truncated: the file ends inside a data element"
    if isinstance(exc, OSError) and "No tag to read" in str(exc):  # pydicom, inside a sequence
        return "truncated: the file ends inside a sequence or item"
    if isinstance(exc, InvalidDicomError):
        return "not a DICOM file (no DICM marker and no readable data elements)"
    if isinstance(exc, MemoryError):
        return "a data element declares a length too large to read"
    return f"cannot parse the DICOM data ({name}: {value_free_text(exc)})"


def _check_elements(ds: Dataset, name: str) -> None:
    """Refuse a garbage VR or an element cut short, naming the element (never its value).

    A garbage VR fails here, with this file's name, rather than in the middle of
    de-identification. Only the raw VRs are looked at: converting every value up front cost
    a third of the time per file (measured on a GE T1 series), and values the plan touches
    are converted anyway, with errors caught per file by the engine.
    """
    for tag in ds.keys():  # noqa: SIM118 - iterating a Dataset decodes every value
        raw = ds.get_item(tag)
        vr = getattr(raw, "VR", None)
        where = tag_text(tag)
        if vr is not None and vr not in KNOWN_VRS:
            raise InputFileError(name, f"garbage value representation at {where}")
        # pydicom reads what is there when the file ends early: compare with the length the
        # element declares (an undefined length is checked by the sequence reader).
        length = getattr(raw, "length", None)
        value = getattr(raw, "value", None)
        if (
            isinstance(value, bytes)
            and length is not None
            and length != UNDEFINED_LENGTH
            and len(value) < length
        ):
            raise InputFileError(
                name,
                f"truncated: the file ends inside element {where} ({len(value)} of {length} bytes)",
            )


def read_bytes(data: bytes, name: str) -> Dataset:
    """Parse DICOM bytes into a dataset; InputFileError/SkippedFile say why not."""
    if data[:2] == GZIP_MAGIC:
        data = gunzip_bounded(data, name)  # never more than the input limits allow
    if not data:
        raise InputFileError(name, "empty file (zero length)")
    if not looks_like_dicom(data[:132]):
        raise SkippedFile("not DICOM")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = dcmread(io.BytesIO(data), force=True)
        except Exception as exc:  # pydicom raises a wide range on damaged input
            raise InputFileError(name, _decode_problem(exc)) from None
    for warning in caught:
        message = str(warning.message)
        if "End of file reached" in message or "Unexpected end of file" in message:
            raise InputFileError(
                name, "truncated: the file ends before a sequence or item is closed"
            )
    sop_class = str(ds.get("SOPClassUID", "") or "")
    meta_class = str(getattr(ds, "file_meta", Dataset()).get("MediaStorageSOPClassUID", "") or "")
    if DICOMDIR_CLASS in (sop_class, meta_class) or "DirectoryRecordSequence" in ds:
        raise SkippedFile("DICOMDIR")
    if len(ds) == 0:
        raise InputFileError(name, "no data elements could be read (damaged or not DICOM)")
    _check_elements(ds, name)
    if not (ds.get("SOPClassUID", None) or meta_class):
        raise InputFileError(
            name, "not a storable DICOM instance (no SOP Class UID in the dataset or file meta)"
        )
    return ds


def read_dataset(path: str | Path) -> Dataset:
    """Read a DICOM file (Part 10, raw dataset, or gzip of either), never modifying it.

    Only a regular file of at most MAX_FILE_BYTES is read: a FIFO or a device is refused
    rather than waited on (`veil.io.inputs.read_regular_file`).
    """
    data = read_regular_file(str(path), str(path), MAX_FILE_BYTES)
    return read_bytes(data, str(path))


def encode_dataset(ds: Dataset) -> bytes:
    """The Part 10 bytes of a de-identified dataset, in its own transfer syntax."""
    buffer = io.BytesIO()
    syntax = UID(str(ds.file_meta.TransferSyntaxUID))
    if not syntax.is_transfer_syntax and syntax.startswith(STANDARD_TS_ROOT):
        # A standard transfer syntax newer than pydicom (e.g. Deflated Image Frame Compression,
        # 1.2.840.10008.1.2.8.1): every such syntax encodes the dataset as explicit VR little
        # endian with encapsulated pixel data, which we carry as is; only pydicom's lookup of
        # the syntax fails, so write the parts ourselves rather than refuse the file.
        buffer.write(b"\0" * 128 + b"DICM")
        meta = DicomBytesIO()
        write_file_meta_info(meta, ds.file_meta, enforce_standard=True)
        buffer.write(meta.getvalue())
        body = DicomBytesIO()
        body.is_little_endian = True
        body.is_implicit_VR = False
        write_dataset(body, ds)
        buffer.write(body.getvalue())
        return buffer.getvalue()
    try:
        dcmwrite(buffer, ds, enforce_file_format=True)
    except (TypeError, ValueError, struct.error):
        # Raw elements are written as read; one read with another encoding than the file
        # declares (e.g. implicit VR data under an explicit transfer syntax) can only be
        # written once decoded. Decode everything and write again.
        for _ in ds.iterall():
            pass
        buffer = io.BytesIO()
        dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()
