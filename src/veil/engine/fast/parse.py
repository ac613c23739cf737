"""Reading the element stream of a Part 10 file without decoding any value.

``parse_file`` gives the file meta's values and a tree of ``Element`` records (tag, VR, where
the header and the value lie, items of sequences), repeating every check that the reference
reader (veil.io.dicomfile.read_bytes with pydicom) would fail or warn on: anything unusual
raises ``Unsupported``, and the caller hands the file to the reference path, which then gives
the same answer it always did (an error, a skip, or an output).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from veil.io.dicomfile import DICOMDIR_CLASS, KNOWN_VRS

_HH = struct.Struct("<HH")
_H = struct.Struct("<H")
_L = struct.Struct("<L")
_HHL = struct.Struct("<HHL")
UNDEFINED = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_END = 0xFFFEE00D
SEQUENCE_END = 0xFFFEE0DD
SEQUENCE_END_BYTES = b"\xfe\xff\xdd\xe0"
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
_VALID_VRS = frozenset(str(vr) for vr in KNOWN_VRS if len(str(vr)) == 2)
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
# Syntaxes whose dataset is explicit VR little endian (native or encapsulated pixel data).
_ENCAPSULATED_ROOTS = ("1.2.840.10008.1.2.4.", "1.2.840.10008.1.2.5")
_EXPLICIT_OTHERS = frozenset({EXPLICIT_LE, "1.2.840.10008.1.2.1.98", "1.2.840.10008.1.2.8.1"})
MAX_DEPTH = 32


class Unsupported(Exception):
    """The fast path does not take this file; ``reason`` is a short, value-free label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Element:
    tag: int
    vr: str
    start: int  # first byte of the element's header
    value_start: int
    value_end: int  # end of the value (before the delimiter of an undefined length)
    end: int  # first byte after the element (delimiter included)
    undefined: bool = False
    items: list[Item] | None = None  # sequences only


@dataclass(slots=True)
class Item:
    start: int
    value_start: int
    value_end: int
    end: int
    undefined: bool
    elements: list[Element] = field(default_factory=list)


@dataclass(slots=True)
class ParsedFile:
    meta: dict[int, bytes]  # file meta values by tag
    transfer_syntax: str
    elements: list[Element]  # the dataset's top level
    data: bytes

    def value(self, elem: Element) -> bytes:
        return self.data[elem.value_start : elem.value_end]


def is_explicit_le(syntax: str) -> bool:
    return syntax in _EXPLICIT_OTHERS or syntax.startswith(_ENCAPSULATED_ROOTS)


def _text(value: bytes) -> str:
    return value.decode("latin-1").rstrip("\0 ")


def _meta(data: bytes) -> tuple[dict[int, bytes], int]:
    """The file meta group (always explicit VR little endian) and where the dataset begins."""
    meta: dict[int, bytes] = {}
    pos = 132
    size = len(data)
    while pos + 8 <= size:
        group, element = _HH.unpack_from(data, pos)
        if group != 0x0002:
            break
        vr = data[pos + 4 : pos + 6].decode("latin-1")
        if vr not in _VALID_VRS:
            raise Unsupported("file meta not explicit VR")
        if vr in LONG_VRS:
            if pos + 12 > size:
                raise Unsupported("truncated")
            length = _L.unpack_from(data, pos + 8)[0]
            start = pos + 12
        else:
            length = _H.unpack_from(data, pos + 6)[0]
            start = pos + 8
        if length == UNDEFINED or start + length > size:
            raise Unsupported("truncated")
        meta[(group << 16) | element] = data[start : start + length]
        pos = start + length
    return meta, pos


def parse_file(data: bytes) -> ParsedFile:
    """Parse a Part 10 file in explicit VR little endian (native or encapsulated pixels)."""
    if len(data) < 140 or data[128:132] != b"DICM":
        raise Unsupported("not Part 10 (no DICM marker)")
    meta, pos = _meta(data)
    syntax = _text(meta.get(0x00020010, b""))
    if not syntax:
        raise Unsupported("no transfer syntax")
    if not is_explicit_le(syntax):
        if syntax == IMPLICIT_LE:
            raise Unsupported("implicit VR")
        raise Unsupported("big endian, deflated or unknown syntax")
    if _text(meta.get(0x00020002, b"")) == DICOMDIR_CLASS:
        raise Unsupported("DICOMDIR")
    if pos + 8 > len(data):
        raise Unsupported("no data elements")
    # The reference reader switches to implicit VR when the first element has no valid VR.
    if data[pos + 4 : pos + 6].decode("latin-1") not in _VALID_VRS:
        raise Unsupported("dataset contradicts its syntax")
    elements, end = _level(data, pos, len(data), 0, top=True)
    if end != len(data):
        raise Unsupported("trailing bytes")
    if not elements:
        raise Unsupported("no data elements")
    return ParsedFile(meta, syntax, elements, data)


def _level(
    data: bytes, pos: int, end: int, depth: int, top: bool = False
) -> tuple[list[Element], int]:
    """The elements of one dataset in [pos, end); stops at an item delimiter (not consumed)."""
    if depth > MAX_DEPTH:
        raise Unsupported("nesting too deep")
    elements: list[Element] = []
    previous = -1
    unpack_hh = _HH.unpack_from
    while pos < end:
        if pos + 8 > end:
            raise Unsupported("truncated")
        group, number = unpack_hh(data, pos)
        tag = (group << 16) | number
        if tag == ITEM_END:
            if top:
                raise Unsupported("delimiter outside a sequence")
            return elements, pos
        if group == 0xFFFE:
            raise Unsupported("delimiter out of place")
        if tag <= previous:
            raise Unsupported("elements out of order")
        previous = tag
        vr = data[pos + 4 : pos + 6].decode("latin-1")
        if vr in LONG_VRS:
            if pos + 12 > end:
                raise Unsupported("truncated")
            length = _L.unpack_from(data, pos + 8)[0]
            start = pos + 12
        elif vr in _VALID_VRS:
            length = _H.unpack_from(data, pos + 6)[0]
            start = pos + 8
        else:
            raise Unsupported("unknown VR")
        if length == UNDEFINED:
            if vr == "SQ":
                items, after = _items(data, start, end, depth, undefined=True)
                elements.append(Element(tag, vr, pos, start, after - 8, after, True, items))
                pos = after
                continue
            if vr == "UN":
                raise Unsupported("UN of undefined length")
            # Encapsulated pixel data (or another undefined-length value): up to the first
            # sequence delimiter, as the reference reader finds it.
            stop = data.find(SEQUENCE_END_BYTES, start, end)
            if stop < 0 or stop + 8 > end:
                raise Unsupported("truncated")
            elements.append(Element(tag, vr, pos, start, stop, stop + 8, True))
            pos = stop + 8
            continue
        after = start + length
        if after > end:
            raise Unsupported("truncated")
        if vr == "SQ":
            items, last = _items(data, start, after, depth, undefined=False)
            if last != after:
                raise Unsupported("sequence length mismatch")
            elements.append(Element(tag, vr, pos, start, after, after, False, items))
        else:
            elements.append(Element(tag, vr, pos, start, after, after))
        pos = after
    if pos != end:
        raise Unsupported("truncated")
    return elements, pos


def _items(
    data: bytes, pos: int, end: int, depth: int, *, undefined: bool
) -> tuple[list[Item], int]:
    """The items of a sequence from ``pos``; returns them and the position after the sequence
    (after its delimiter when of undefined length)."""
    items: list[Item] = []
    while True:
        if not undefined and pos == end:
            return items, pos
        if pos + 8 > end:
            raise Unsupported("truncated")
        group, number, length = _HHL.unpack_from(data, pos)
        tag = (group << 16) | number
        if tag == SEQUENCE_END:
            if not undefined or length != 0:
                raise Unsupported("unexpected sequence delimiter")
            return items, pos + 8
        if tag != ITEM:
            raise Unsupported("not an item in a sequence")
        start = pos + 8
        if length == UNDEFINED:
            elements, stop = _level(data, start, end, depth + 1)
            if stop + 8 > end or _HHL.unpack_from(data, stop) != (0xFFFE, 0xE00D, 0):
                raise Unsupported("item not closed")
            items.append(Item(pos, start, stop, stop + 8, True, elements))
            pos = stop + 8
        else:
            after = start + length
            if after > end:
                raise Unsupported("truncated")
            elements, stop = _level(data, start, after, depth + 1)
            if stop != after:
                raise Unsupported("item length mismatch")
            items.append(Item(pos, start, after, after, False, elements))
            pos = after
