"""Vendor private text kept for a destination, with only the identifying values masked.

A destination such as dcm2niix reads vendor private elements that are whole structures: the
Siemens CSA image and series headers (a binary list of named values, one of which holds the
acquisition protocol as text) and the XA protocol text. They also carry identifying values
(referenced SOP Instance UIDs, dates, the scanner's serial number inside UIDs). The engine
calls :func:`mask_private_value` for each such element the plan cleans ("C"): the structure is
parsed, identifying values are replaced inside its *values* at the same length, and every
other byte (lengths, counts, names, keys, numbers) stays as it was, so the structure stays
valid and readers find every field they read before.

A structure that does not parse is refused (:class:`PrivateTextRefused`): the engine then
removes the element, the safe fallback. Elements whose structure veil does not know are
masked everywhere the values occur.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from veil.errors import VeilError
from veil.vendor.csa import CsaLayoutError, read_layout
from veil.vendor.needles import mask_everywhere, masker_for
from veil.vendor.protocol import is_protocol_text, structure_spans

__all__ = ["PrivateTextRefused", "Structure", "mask_private_value", "structure_of"]


class PrivateTextRefused(VeilError):
    """A vendor structure veil should parse and cannot: the element cannot be cleaned."""


class Structure(str, Enum):
    """The structures veil parses inside private elements."""

    CSA = "Siemens CSA header"
    PROTOCOL_TEXT = "Siemens protocol text"


# (private creator, element within the block) -> what the element holds.
STRUCTURES: dict[tuple[str, int], Structure] = {
    ("SIEMENS CSA HEADER", 0x10): Structure.CSA,  # CSA image header
    ("SIEMENS CSA HEADER", 0x20): Structure.CSA,  # CSA series header (with MrPhoenixProtocol)
    ("SIEMENS CSA NON-IMAGE", 0x10): Structure.CSA,
    ("SIEMENS CSA NON-IMAGE", 0x20): Structure.CSA,
    ("SIEMENS MR SDS 01", 0x19): Structure.PROTOCOL_TEXT,  # XA: the protocol (XProtocol)
}


def structure_of(creator: str | None, element: int) -> Structure | None:
    """The structure a private element holds, by its creator and element (0x00-0xFF)."""
    if creator is None:
        return None
    return STRUCTURES.get((creator.strip(), element & 0xFF))


def mask_private_value(
    data: bytes, creator: str | None, element: int, needles: Sequence[bytes]
) -> bytes:
    """The value of a private element with the input's identifying values masked.

    `needles` are the input's identifying values (instance UIDs, dates as YYYYMMDD, removed
    text values); `element` is the element number within the private block (0x00-0xFF).
    The result has the same length and, for a known structure, the same layout; raises
    PrivateTextRefused when a known structure does not parse.
    """
    structure = structure_of(creator, element)
    if structure is None:
        return mask_everywhere(data, needles)
    masker = masker_for(tuple(needles))
    buffer = bytearray(data)
    if structure is Structure.PROTOCOL_TEXT:
        if not is_protocol_text(buffer):
            raise PrivateTextRefused(f"{structure.value}: not an XProtocol document")
        masker.mask(buffer, 0, len(buffer), structure_spans(buffer))
        return bytes(buffer)
    try:
        layout = read_layout(buffer)
    except CsaLayoutError as exc:
        raise PrivateTextRefused(f"{structure.value}: {exc}") from None
    for item in layout.items:
        keep = (
            structure_spans(buffer, item.start, item.end)
            if is_protocol_text(buffer, item.start, item.end)
            else ()
        )
        masker.mask(buffer, item.start, item.end, keep)
    # Bytes no reader looks at (what follows a tag name's NUL, what follows the last tag) are
    # memory the scanner did not clear: values are masked there even inside longer words.
    for start, end in (*layout.residue, (layout.end, len(buffer))):
        masker.mask(buffer, start, end, edges=False)
    # Masking replaces bytes inside values only; a layout that reads differently afterwards
    # would mean a bug here, and a header dcm2niix may misread: refuse rather than write it.
    try:
        unchanged = read_layout(buffer).shape() == layout.shape()
    except CsaLayoutError:
        unchanged = False
    if not unchanged:
        raise PrivateTextRefused(f"{structure.value}: its layout changed while masking")
    return bytes(buffer)
