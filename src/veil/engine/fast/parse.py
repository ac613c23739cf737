"""Reading the element stream of a Part 10 file without decoding any value.

``parse_file`` gives the file meta's values and a tree of ``Element`` records (tag, VR, where
the header and the value lie, items of sequences), repeating every check that the reference
reader (veil.io.dicomfile.read_bytes with pydicom) would fail or warn on: anything unusual
raises ``Unsupported``, and the caller hands the file to the reference path, which then gives
the same answer it always did (an error, a skip, or an output).

Explicit VR levels are parsed by a small C extension (``_parse.c``, built at install time)
where it is built: the same ``Element``/``Item`` objects, the same refusals in the same order.
This module's ``_explicit_level`` is its reference and fallback (``BACKEND`` says which one
runs; ``VEIL_PARSE_BACKEND=python`` forces this one; tests compare the two).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from pydicom.datadict import _dictionary_vr_fast, dictionary_VR, private_dictionary_VR

from veil.dicom import FILE_META_GROUP, UNDEFINED_LENGTH, tag_of
from veil.io.dicomfile import DICOMDIR_CLASS, KNOWN_VRS

_HH = struct.Struct("<HH")
_H = struct.Struct("<H")
_L = struct.Struct("<L")
_HHL = struct.Struct("<HHL")
_HH2SH = struct.Struct("<HH2sH")  # an explicit VR header: group, element, VR, short length
UNDEFINED = UNDEFINED_LENGTH
ITEM = tag_of("Item")
ITEM_END = tag_of("ItemDelimitationItem")
SEQUENCE_END = tag_of("SequenceDelimitationItem")
TRANSFER_SYNTAX = tag_of("TransferSyntaxUID")
META_SOP_CLASS = tag_of("MediaStorageSOPClassUID")
SEQUENCE_END_BYTES = b"\xfe\xff\xdd\xe0"
LONG_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
_VALID_VRS = frozenset(str(vr) for vr in KNOWN_VRS if len(str(vr)) == 2)
# An explicit VR header's two VR bytes -> (VR, whether its length is 4 bytes after 2 reserved).
_RAW_VRS = {vr.encode("latin-1"): (vr, vr in LONG_VRS) for vr in _VALID_VRS | LONG_VRS}
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
# Syntaxes whose dataset is explicit VR little endian (native or encapsulated pixel data).
_ENCAPSULATED_ROOTS = ("1.2.840.10008.1.2.4.", "1.2.840.10008.1.2.5")
_EXPLICIT_OTHERS = frozenset({EXPLICIT_LE, "1.2.840.10008.1.2.1.98", "1.2.840.10008.1.2.8.1"})
MAX_DEPTH = 32
_ALL = 1 << 32  # above every tag: `_explicit_level` reads to the end


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
    implicit: bool = False  # implicit VR little endian (VRs from the dictionaries)

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
        if group != FILE_META_GROUP:
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
    """Parse a Part 10 file in explicit VR little endian (native or encapsulated pixels) or
    implicit VR little endian."""
    if len(data) < 140 or data[128:132] != b"DICM":
        raise Unsupported("not Part 10 (no DICM marker)")
    meta, pos = _meta(data)
    syntax = _text(meta.get(TRANSFER_SYNTAX, b""))
    if not syntax:
        raise Unsupported("no transfer syntax")
    implicit = syntax == IMPLICIT_LE
    if not implicit and not is_explicit_le(syntax):
        raise Unsupported("big endian, deflated or unknown syntax")
    if _text(meta.get(META_SOP_CLASS, b"")) == DICOMDIR_CLASS:
        raise Unsupported("DICOMDIR")
    if pos + 8 > len(data):
        raise Unsupported("no data elements")
    # The reference reader switches to implicit VR when the first element has no valid VR,
    # and to explicit VR when an implicit dataset's first element seems to have one.
    if implicit:
        if all(0x40 < byte < 0x5B for byte in data[pos + 4 : pos + 6]):
            raise Unsupported("dataset contradicts its syntax")
        elements, end = _level(data, pos, len(data), 0, top=True, implicit=True)
    elif data[pos + 4 : pos + 6].decode("latin-1") not in _VALID_VRS:
        raise Unsupported("dataset contradicts its syntax")
    else:
        elements, end = _level(data, pos, len(data), 0, top=True)
    if end != len(data):
        raise Unsupported("trailing bytes")
    if not elements:
        raise Unsupported("no data elements")
    return ParsedFile(meta, syntax, elements, data, implicit)


def _level(
    data: bytes, pos: int, end: int, depth: int, top: bool = False, implicit: bool = False
) -> tuple[list[Element], int]:
    """The elements of one dataset in [pos, end); stops at an item delimiter (not consumed)."""
    if depth > MAX_DEPTH:
        raise Unsupported("nesting too deep")
    if implicit:
        return _implicit_level(data, pos, end, depth, top)
    return _explicit(data, pos, end, depth, top, _ALL)


def _explicit_level(
    data: bytes, pos: int, end: int, depth: int, top: bool, last: int = _ALL
) -> tuple[list[Element], int]:
    """``_level`` in explicit VR: `_header` and `_element` inlined for the common element (a
    defined length, not a sequence), with one unpack of the header and the VR looked up by
    its raw bytes; the same checks in the same order (tests/engine/test_fast_routes.py). The
    parse of a 150-element file went from ~155 to ~95 us (measured, benchmark corpus).
    Stops before the first element past tag ``last`` (not read further: `parse_head`).
    ``_parse.c`` repeats this loop (with `_element`, `_items` and `_level` for explicit VR)
    check for check: a change here is made there too (test_fast_parse_backends.py)."""
    elements: list[Element] = []
    append = elements.append
    unpack = _HH2SH.unpack_from
    unpack_long = _L.unpack_from
    vrs = _RAW_VRS
    previous = -1
    while pos < end:
        if pos + 8 > end:
            raise Unsupported("truncated")
        group, number, raw_vr, length = unpack(data, pos)
        tag = (group << 16) | number
        if group == 0xFFFE:
            _delimiter(tag, top, last)
            return elements, pos
        known = vrs.get(raw_vr)
        if known is None:
            raise Unsupported("unknown VR")
        vr, long = known
        if long:
            if pos + 12 > end:
                raise Unsupported("truncated")
            length = unpack_long(data, pos + 8)[0]
            start = pos + 12
        else:
            start = pos + 8
        if tag <= previous:
            raise Unsupported("elements out of order")
        if tag > last:
            return elements, pos
        previous = tag
        after = start + length
        if length == UNDEFINED or vr == "SQ" or after > end:
            elem = _element(data, tag, vr, pos, start, length, end, depth, False)
            append(elem)
            pos = elem.end
        else:
            append(Element(tag, vr, pos, start, after, after))
            pos = after
    if pos != end:
        raise Unsupported("truncated")
    return elements, pos


def _delimiter(tag: int, top: bool, last: int) -> None:
    """A delimiter where an element header was expected: only an item's end, in an item."""
    if last != _ALL:
        raise Unsupported("elements out of order")  # `parse_head`'s word for it
    if tag != ITEM_END:
        raise Unsupported("delimiter out of place")
    if top:
        raise Unsupported("delimiter outside a sequence")


def _implicit_level(
    data: bytes, pos: int, end: int, depth: int, top: bool
) -> tuple[list[Element], int]:
    """``_level`` in implicit VR (VRs from the dictionaries, by the level's private creators)."""
    elements: list[Element] = []
    creators: dict[int, str] = {}  # the level's private creators, by block
    previous = -1
    while pos < end:
        tag, vr, length, start = _implicit_header(data, pos, end, creators)
        if tag == ITEM_END:
            if top:
                raise Unsupported("delimiter outside a sequence")
            return elements, pos
        if tag >> 16 == 0xFFFE:
            raise Unsupported("delimiter out of place")
        if tag <= previous:
            raise Unsupported("elements out of order")
        previous = tag
        elem = _element(data, tag, vr, pos, start, length, end, depth, True)
        elements.append(elem)
        pos = elem.end
    if pos != end:
        raise Unsupported("truncated")
    return elements, pos


def _header(data: bytes, pos: int, end: int) -> tuple[int, str, int, int]:
    """(tag, VR, value length, where the value starts) of the element header at ``pos``;
    delimiters (group FFFE) come back with no VR, for the caller to judge."""
    if pos + 8 > end:
        raise Unsupported("truncated")
    group, number = _HH.unpack_from(data, pos)
    tag = (group << 16) | number
    if group == 0xFFFE:
        return tag, "", 0, pos + 8
    vr = data[pos + 4 : pos + 6].decode("latin-1")
    if vr in LONG_VRS:
        if pos + 12 > end:
            raise Unsupported("truncated")
        return tag, vr, _L.unpack_from(data, pos + 8)[0], pos + 12
    if vr in _VALID_VRS:
        return tag, vr, _H.unpack_from(data, pos + 6)[0], pos + 8
    raise Unsupported("unknown VR")


def _implicit_header(
    data: bytes, pos: int, end: int, creators: dict[int, str]
) -> tuple[int, str, int, int]:
    """``_header`` in implicit VR: the VR is the one pydicom's reader gives the element."""
    if pos + 8 > end:
        raise Unsupported("truncated")
    group, number, length = _HHL.unpack_from(data, pos)
    tag = (group << 16) | number
    if group == 0xFFFE:
        return tag, "", length, pos + 8
    if length == UNDEFINED:
        vr = undefined_length_vr(tag, data[pos + 8 : pos + 12])
    else:
        vr = implicit_vr(tag, creators)
    if group & 1 and 0x10 <= number <= 0xFF and length != UNDEFINED:
        creators[tag & 0xFF] = _creator(data[pos + 8 : pos + 8 + length])
    return tag, vr, length, pos + 8


def _creator(value: bytes) -> str:
    """A private creator's value as pydicom reads it (LO, stripped); ASCII only here, since
    its decoding would need the character set."""
    if not value.isascii() or b"\\" in value:
        raise Unsupported("private creator not one ASCII value")
    return value.decode("ascii").rstrip(" \0")


def implicit_vr(tag: int, creators: dict[int, str]) -> str:
    """The VR pydicom's converter gives an element read in implicit VR
    (pydicom.hooks.raw_element_vr): the dictionary's, a known private element's (by its
    block's creator), LO for creators, UL for group lengths, else UN."""
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        pass
    group, number = tag >> 16, tag & 0xFFFF
    if not group & 1:
        return "UL" if number == 0 else "UN"
    if 0x10 <= number <= 0xFF:
        return "LO"
    creator = creators.get(number >> 8) if number & 0xFF00 else None
    if creator:
        try:
            return str(private_dictionary_VR(tag, creator))
        except KeyError:
            pass
    return "UN"


def undefined_length_vr(tag: int, following: bytes) -> str:
    """The VR of an element of undefined length as pydicom's reader decides it: SQ by the
    dictionary, or for an unknown tag when an item follows; else read to its delimiter."""
    try:
        vr = str(_dictionary_vr_fast(tag))
    except KeyError:
        if following == b"\xfe\xff\x00\xe0":
            return "SQ"
        vr = "?"
    if vr != "SQ":
        # Read to the delimiter; pydicom decides the VR only when the value is used, which
        # the fast path does not follow (a value of undefined length is handed over).
        raise Unsupported("implicit VR value of undefined length")
    return vr


def _element(
    data: bytes,
    tag: int,
    vr: str,
    pos: int,
    start: int,
    length: int,
    end: int,
    depth: int,
    implicit: bool,
) -> Element:
    """The element whose header is at ``pos`` and value at ``start`` (sequences parsed)."""
    if length == UNDEFINED:
        if vr == "SQ":
            items, after = _items(data, start, end, depth, undefined=True, implicit=implicit)
            return Element(tag, vr, pos, start, after - 8, after, True, items)
        if vr == "UN" and not implicit:
            raise Unsupported("UN of undefined length")
        # Encapsulated pixel data (or another undefined-length value): up to the first
        # sequence delimiter, as the reference reader finds it.
        stop = data.find(SEQUENCE_END_BYTES, start, end)
        if stop < 0 or stop + 8 > end:
            raise Unsupported("truncated")
        return Element(tag, vr, pos, start, stop, stop + 8, True)
    after = start + length
    if after > end:
        raise Unsupported("truncated")
    if vr == "SQ":
        items, last = _items(data, start, after, depth, undefined=False, implicit=implicit)
        if last != after:
            raise Unsupported("sequence length mismatch")
        return Element(tag, vr, pos, start, after, after, False, items)
    return Element(tag, vr, pos, start, after, after)


def _items(
    data: bytes, pos: int, end: int, depth: int, *, undefined: bool, implicit: bool
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
            elements, stop = _level(data, start, end, depth + 1, implicit=implicit)
            if stop + 8 > end or _HHL.unpack_from(data, stop) != (0xFFFE, 0xE00D, 0):
                raise Unsupported("item not closed")
            items.append(Item(pos, start, stop, stop + 8, True, elements))
            pos = stop + 8
        else:
            after = start + length
            if after > end:
                raise Unsupported("truncated")
            elements, stop = _level(data, start, after, depth + 1, implicit=implicit)
            if stop != after:
                raise Unsupported("item length mismatch")
            items.append(Item(pos, start, after, after, False, elements))
            pos = after


def parse_head(data: bytes, last: int) -> list[Element]:
    """The top-level elements of a file `parse_file` takes, up to tag ``last``; the rest is
    not read (a few values of a file without parsing all of it, e.g. to name an output).
    ``Unsupported`` for what `parse_file` would refuse in that part."""
    if len(data) < 140 or data[128:132] != b"DICM":
        raise Unsupported("not Part 10 (no DICM marker)")
    meta, pos = _meta(data)
    if not is_explicit_le(_text(meta.get(TRANSFER_SYNTAX, b""))):
        raise Unsupported("not explicit VR little endian")
    if pos + 8 > len(data) or data[pos + 4 : pos + 6].decode("latin-1") not in _VALID_VRS:
        raise Unsupported("dataset contradicts its syntax")
    return _explicit(data, pos, len(data), 0, True, last)[0]


ExplicitLevel = Callable[[bytes, int, int, int, bool, int], tuple[list[Element], int]]


def _compiled() -> ExplicitLevel | None:
    """The C parse of explicit VR levels, bound to this module's classes and tables; None
    where it is not built, is refused by ``VEIL_PARSE_BACKEND=python``, or does not know
    the classes' layout. On the benchmark corpus (148 top-level elements a file) the parse
    of an input went from ~107 to ~25 us and of its output from ~53 to ~14 us, ~0.15 ms of
    CPU a file in `veil deid` (benchmarks/RESULTS.md, "Explicit VR levels parsed in C")."""
    if os.environ.get("VEIL_PARSE_BACKEND", "") == "python":
        return None
    try:
        from veil.engine.fast import _parse
    except ImportError:
        return None
    try:
        _parse.bind(Element, Item, Unsupported, _RAW_VRS, MAX_DEPTH)
    except TypeError:
        return None
    return _parse.explicit_level


_COMPILED = _compiled()
BACKEND = "c" if _COMPILED is not None else "python"
# The explicit VR level parse in use (`_level`, `parse_head`); the C one calls itself for
# nested levels, `_explicit_level` calls `_element` -> `_items` -> `_level` -> this.
_explicit: ExplicitLevel = _COMPILED or _explicit_level
