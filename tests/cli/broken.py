"""Broken inputs of each kind, built from a real corpus file (never modifying it)."""

from __future__ import annotations

import struct
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.engine import builders


def _explicit_element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR", b"OF", b"OD", b"OL", b"OV"):
        return struct.pack("<HH2sHI", group, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def _part10(body: bytes) -> bytes:
    meta_elements = (
        _explicit_element(2, 0x0001, b"OB", b"\x00\x01")
        + _explicit_element(2, 0x0002, b"UI", b"1.2.840.10008.5.1.4.1.1.4\x00")
        + _explicit_element(2, 0x0003, b"UI", b"1.2.3.4.5.6\x00")
        + _explicit_element(2, 0x0010, b"UI", b"1.2.840.10008.1.2.1\x00")
    )
    group_length = _explicit_element(2, 0x0000, b"UL", struct.pack("<I", len(meta_elements)))
    return b"\x00" * 128 + b"DICM" + group_length + meta_elements + body


def write_broken_files(folder: Path, good: bytes) -> dict[str, str]:
    """Write one file per kind of damage; returns {file name: words its error must contain}."""
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, str] = {}

    (folder / "truncated.dcm").write_bytes(good[: len(good) // 2])
    expected["truncated.dcm"] = "truncated"

    (folder / "zero-length.dcm").write_bytes(b"")
    expected["zero-length.dcm"] = "empty"

    garbage_vr = _part10(
        _explicit_element(8, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.4\x00")
        + _explicit_element(8, 0x0018, b"UI", b"1.2.3.4.5.6\x00")
        + struct.pack("<HH2sH", 0x0010, 0x0010, b"\xff\xfe", 8)
        + b"DOE^JANE"
    )
    (folder / "garbage-vr.dcm").write_bytes(garbage_vr)
    expected["garbage-vr.dcm"] = "garbage-vr.dcm"

    huge = _part10(
        _explicit_element(8, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.4\x00")
        + _explicit_element(8, 0x0018, b"UI", b"1.2.3.4.5.6\x00")
        + struct.pack("<HH2sHI", 0x0029, 0x1010, b"OB", 0, 0x7FFFFFF0)
        + b"\x00" * 64
    )
    (folder / "huge-length.dcm").write_bytes(huge)
    expected["huge-length.dcm"] = "huge-length.dcm"

    odd = _part10(
        _explicit_element(8, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.4\x00")
        + _explicit_element(8, 0x0018, b"UI", b"1.2.3.4.5.6\x00")
        + struct.pack("<HH2sH", 0x0010, 0x0020, b"LO", 7)
        + b"PID-007"
        + struct.pack("<HH2sH", 0x0010, 0x0010, b"PN", 8)
        + b"DOE^JANE"
    )
    (folder / "odd-length.dcm").write_bytes(odd)
    expected["odd-length.dcm"] = ""  # readable: odd lengths are tolerated, not fatal

    (folder / "garbage-after-dicm.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\xde\xad" * 500)
    expected["garbage-after-dicm.dcm"] = "garbage-after-dicm.dcm"
    return expected


def deeply_nested(depth: int) -> Dataset:
    """The synthetic MR image with a sequence nested ``depth`` levels deep holding a name."""
    ds = builders.mr_dataset()
    item = Dataset()
    item.PersonName = builders.PATIENT_NAME
    for _ in range(depth):
        outer = Dataset()
        outer.ContentSequence = Sequence([item])
        item = outer
    ds.ContentSequence = Sequence([item])
    return ds
