"""Element bytes as the reference writer (pydicom's) produces them, without building datasets.

Values that change are encoded here: the common cases (empty values, UIDs, ASCII text) by a
few lines that give pydicom's bytes (tests compare them over generated values), the rest
through pydicom's own converter and writer on a one-element dataset. Elements the reference
path only converts and writes back unchanged (listed attributes it keeps, private creators)
go through that converter and writer too, memoised: their values repeat across a study.
"""

from __future__ import annotations

import struct
from functools import lru_cache

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.tag import Tag

from veil.engine.fast.parse import LONG_VRS

_H = struct.Struct("<H")
_L = struct.Struct("<L")
_HH = struct.Struct("<HH")
_HHL = struct.Struct("<HHL")
# VRs whose values pydicom writes with write_string/write_text/write_PN: for ASCII text the
# bytes are the text, joined by backslashes and padded to even length with a space.
_SPACE_PADDED = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UR", "UT"}
)


def header(tag: int, vr: str, length: int, implicit: bool = False) -> bytes:
    """An element header in explicit (or implicit) VR little endian."""
    if implicit:
        return _HHL.pack(tag >> 16, tag & 0xFFFF, length)
    if vr in LONG_VRS:
        return _HH.pack(tag >> 16, tag & 0xFFFF) + vr.encode("ascii") + b"\0\0" + _L.pack(length)
    return _HH.pack(tag >> 16, tag & 0xFFFF) + vr.encode("ascii") + _H.pack(length)


def undefined_header(tag: int, vr: str, implicit: bool = False) -> bytes:
    if implicit:
        return _HH.pack(tag >> 16, tag & 0xFFFF) + b"\xff\xff\xff\xff"
    return _HH.pack(tag >> 16, tag & 0xFFFF) + vr.encode("ascii") + b"\0\0\xff\xff\xff\xff"


SEQUENCE_DELIMITER = b"\xfe\xff\xdd\xe0\0\0\0\0"
ITEM_DELIMITER = b"\xfe\xff\x0d\xe0\0\0\0\0"


def item_header(length: int) -> bytes:
    return b"\xfe\xff\x00\xe0" + _L.pack(length)


def mini_dataset(tag: int, vr: str, value: bytes, encodings: tuple[str, ...]) -> Dataset:
    """A dataset holding one raw element, decoded in ``encodings`` when accessed: the same
    conversion the reference path's dataset applies to that element."""
    ds = Dataset()
    ds._parent_encoding = list(encodings)
    ds._dict[Tag(tag)] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)
    return ds


def convert(tag: int, vr: str, value: bytes, encodings: tuple[str, ...]) -> DataElement:
    """The element as the reference path sees it after ``ds[tag]``."""
    return mini_dataset(tag, vr, value, encodings)[tag]


@lru_cache(maxsize=16384)
def converted_value(tag: int, vr: str, value: bytes, encodings: tuple[str, ...]) -> object:
    """``convert(...).value``, memoised (callers never modify it): values repeat across a
    study (creators, class UIDs, the patient's values)."""
    return convert(tag, vr, value, encodings).value


def write(elem: DataElement, encodings: tuple[str, ...], implicit: bool = False) -> bytes:
    """The element's bytes (header included) as pydicom writes it in explicit (or implicit)
    VR little endian."""
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = implicit
    write_data_element(buffer, elem, list(encodings))
    return buffer.getvalue()


@lru_cache(maxsize=8192)
def roundtrip(
    tag: int, vr: str, value: bytes, encodings: tuple[str, ...], implicit: bool = False
) -> bytes:
    """Bytes of an element the reference path converts and writes back unchanged."""
    return write(convert(tag, vr, value, encodings), encodings, implicit)


def encode_text(tag: int, vr: str, values: list[str], implicit: bool = False) -> bytes | None:
    """pydicom's bytes for ASCII string values of a string VR; None when not that simple."""
    if vr == "PN":
        # pydicom's PersonName drops empty trailing component groups ("a=" is written "a").
        values = [value.rstrip("=") for value in values]
    text = "\\".join(values)
    if not text.isascii():
        return None
    if vr == "UI":
        data = text.encode("ascii")
        if len(data) % 2:
            data += b"\0"
    elif vr in _SPACE_PADDED:
        data = text.encode("ascii")
        if len(data) % 2:
            data += b" "
    else:
        return None
    if vr not in LONG_VRS and len(data) > 0xFFFF:
        return None  # pydicom would switch the VR to UN
    return header(tag, vr, len(data), implicit) + data


@lru_cache(maxsize=4096)
def encode_empty(tag: int, vr: str, implicit: bool = False) -> bytes:
    """An emptied element (memoised: the same few tags are emptied in every file)."""
    return header(tag, vr, 0, implicit)


def encode_value(
    tag: int, vr: str, value: object, encodings: tuple[str, ...], implicit: bool = False
) -> bytes:
    """Bytes of an element set to ``value`` (as a handler of the reference path sets it)."""
    if value is None or value == "" or value == b"":
        return encode_empty(tag, vr, implicit)
    if isinstance(value, str):
        fast = encode_text(tag, vr, [value], implicit)
        if fast is not None:
            return fast
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        fast = encode_text(tag, vr, [str(v) for v in value], implicit)
        if fast is not None:
            return fast
    elem = DataElement(tag, vr, value)
    return write(elem, encodings, implicit)
