"""A pydicom dataset of a file's top-level elements, built from the fast path's parse.

The elements are pydicom's own raw elements (as ``dcmread`` makes them), decoded only when
something looks at them, so checks run on it see the values they would see on a dataset
read by pydicom. Pixel data is present but empty: checks only ask whether it is there.

For `--for`, the same raw values of only the elements the destination checks read
(`top_elements`), the output's from the input's and the rewrite's changes without parsing
the output (`elements_after`), and the private creators at any level.
"""

from __future__ import annotations

import struct

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from veil.dicom import UNDEFINED_LENGTH as UNDEFINED
from veil.dicom import tag_of
from veil.engine.fast.parse import LONG_VRS, SEQUENCE_END_BYTES, Element, ParsedFile
from veil.engine.fast.rewrite import TopChanges

_HH = struct.Struct("<HH")
_H = struct.Struct("<H")
_L = struct.Struct("<L")

PIXEL_TAGS = frozenset(
    tag_of(keyword) for keyword in ("FloatPixelData", "DoubleFloatPixelData", "PixelData")
)


def header_dataset(parsed: ParsedFile) -> Dataset:
    ds = Dataset()
    store = ds._dict
    data = parsed.data
    for elem in parsed.elements:
        tag = Tag(elem.tag)
        value = b"" if elem.tag in PIXEL_TAGS else data[elem.value_start : elem.value_end]
        store[tag] = RawDataElement(tag, elem.vr, len(value), value, elem.value_start, False, True)
    return ds


def changed_tags(before: Dataset, after: Dataset) -> frozenset[int]:
    """The top-level tags whose raw element differs between two such datasets (added,
    removed, or another VR or value)."""
    old, new = before._dict, after._dict  # raw elements, compared as bytes
    changed = set()
    for tag in old.keys() | new.keys():
        a, b = old.get(tag), new.get(tag)
        if a is None or b is None or a.VR != b.VR or a.value != b.value:
            changed.add(int(tag))
    return frozenset(changed)


# -- the raw elements the destination checks read (veil.check.rawfacts) -------------------------
def top_elements(parsed: ParsedFile, tags: frozenset[int]) -> dict[int, tuple[str, bytes]]:
    """(VR, value bytes) of the top-level elements among ``tags`` (pixel data empty: the
    checks only ask whether it is there)."""
    data = parsed.data
    found: dict[int, tuple[str, bytes]] = {}
    for elem in parsed.elements:
        tag = elem.tag
        if tag in tags:
            value = b"" if tag in PIXEL_TAGS else data[elem.value_start : elem.value_end]
            found[tag] = (elem.vr, value)
    return found


def element_value(tag: int, encoded: bytes) -> tuple[str, bytes]:
    """(VR, value bytes) of one encoded element (explicit VR little endian, header included);
    ValueError when the bytes are not exactly that element."""
    if len(encoded) < 8 or _HH.unpack_from(encoded, 0) != (tag >> 16, tag & 0xFFFF):
        raise ValueError("not the element expected")
    vr = encoded[4:6].decode("latin-1")
    if vr in LONG_VRS:
        length, start = _L.unpack_from(encoded, 8)[0], 12
    else:
        length, start = _H.unpack_from(encoded, 6)[0], 8
    if length == UNDEFINED:
        if vr != "SQ" or not encoded.endswith(SEQUENCE_END_BYTES + b"\0\0\0\0"):
            raise ValueError("an undefined length other than a sequence's")
        return vr, b"" if tag in PIXEL_TAGS else encoded[start:-8]
    if start + length != len(encoded):
        raise ValueError("an element length that does not match its bytes")
    return vr, b"" if tag in PIXEL_TAGS else encoded[start:]


def elements_after(
    before: dict[int, tuple[str, bytes]], changes: TopChanges | None, tags: frozenset[int]
) -> tuple[dict[int, tuple[str, bytes]], frozenset[int]]:
    """The elements among ``tags`` after the rewrite's ``changes`` (the top-level elements
    it may have changed, removed or added), and the tags whose element differs from
    ``before``."""
    if changes is None:
        raise ValueError("no record of the rewrite's changes")
    after = dict(before)
    changed: set[int] = set()
    for tag, encoded in changes.encoded(tags).items():
        if not encoded:
            if after.pop(tag, None) is not None:
                changed.add(tag)
            continue
        value = element_value(tag, encoded)
        if after.get(tag) != value:
            after[tag] = value
            changed.add(tag)
    return after, frozenset(changed)


def private_creator_elements(elements: list[Element], data: bytes) -> list[tuple[int, str, bytes]]:
    """(tag, VR, raw value) of every private creator element, at any nesting level, as
    `veil.check.access.private_creators` walks a dataset (into sequences only)."""
    found: list[tuple[int, str, bytes]] = []
    for elem in elements:
        tag = elem.tag
        if tag & 0x10000 and 0x10 <= tag & 0xFFFF <= 0xFF:  # veil.dicom.is_private_creator
            found.append((tag, elem.vr, data[elem.value_start : elem.value_end]))
        elif elem.items:
            for item in elem.items:
                found.extend(private_creator_elements(item.elements, data))
    return found
