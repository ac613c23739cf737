"""The layout of a Siemens CSA header (the "SV10" form, CSA2), with where each value lies.

    "SV10" + 4 unused bytes + number of tags (uint32 LE) + 77 (uint32)
    per tag:  name (64 bytes, NUL-terminated), VM (int32), VR (4 bytes), SyngoDT (int32),
              number of items (int32), 77 or 205 (int32)
    per item: 4 x int32 (the second is the value's length), then the value, padded to 4 bytes

This is the layout nibabel's ``nicom.csareader`` and dcm2niix read; only the positions of the
item values are needed here, because masking replaces bytes inside values at the same length
and so leaves every length, count and offset as it was. The older CSA1 form is not read
(dcm2niix does not read it either): a CSA header in it is refused.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from veil.errors import VeilError

SIGNATURE = b"SV10"
_HEAD = struct.Struct("<4s4sII")  # signature, unused, number of tags, 77
_TAG = struct.Struct("<64si4siii")  # name, VM, VR, SyngoDT, number of items, 77/205
_ITEM = struct.Struct("<4i")
# The bounds nibabel's reader uses: a header outside them is not a CSA header.
MAX_TAGS = 1000
MAX_ITEMS = 1000


class CsaLayoutError(VeilError):
    """Bytes that do not have the CSA2 layout (truncated, or another format)."""


@dataclass(frozen=True)
class CsaItem:
    """One item value of one CSA tag: data[start:end]."""

    tag: str
    index: int
    start: int
    end: int


@dataclass(frozen=True)
class CsaLayout:
    """Where the values of a CSA header are; `end` is where the last tag ends. `residue`:
    the bytes of each 64-byte tag name after its terminating NUL, which readers never look
    at and which the scanner fills with whatever its memory held (a station name, say)."""

    items: tuple[CsaItem, ...]
    end: int
    residue: tuple[tuple[int, int], ...] = ()

    def shape(self) -> tuple[tuple[str, int, int, int], ...]:
        return tuple((i.tag, i.index, i.start, i.end) for i in self.items)


def read_layout(data: bytes | bytearray) -> CsaLayout:
    """The layout of a CSA2 header; CsaLayoutError when the bytes do not have it."""
    if len(data) < _HEAD.size or bytes(data[:4]) != SIGNATURE:
        raise CsaLayoutError("not a CSA2 header (no SV10 signature)")
    _, _, count, _ = _HEAD.unpack_from(data, 0)
    if not 0 < count <= MAX_TAGS:
        raise CsaLayoutError(f"CSA header with {count} tags (expected 1 to {MAX_TAGS})")
    position = _HEAD.size
    items: list[CsaItem] = []
    residue: list[tuple[int, int]] = []
    for _ in range(count):
        if position + _TAG.size > len(data):
            raise CsaLayoutError("CSA header ends inside a tag")
        raw_name, _, _, _, n_items, _ = _TAG.unpack_from(data, position)
        terminator = raw_name.find(b"\0")
        if 0 <= terminator < len(raw_name) - 1:
            residue.append((position + terminator + 1, position + len(raw_name)))
        position += _TAG.size
        if not 0 <= n_items <= MAX_ITEMS:
            raise CsaLayoutError(f"CSA tag with {n_items} items (expected 0 to {MAX_ITEMS})")
        name = raw_name.split(b"\0", 1)[0].decode("latin-1")
        for index in range(n_items):
            if position + _ITEM.size > len(data):
                raise CsaLayoutError("CSA header ends inside an item")
            length = _ITEM.unpack_from(data, position)[1]
            position += _ITEM.size
            if length < 0 or position + length > len(data):
                raise CsaLayoutError("CSA item longer than the header")
            items.append(CsaItem(name, index, position, position + length))
            position += (length + 3) // 4 * 4
        position = min(position, len(data))
    return CsaLayout(tuple(items), position, tuple(residue))
