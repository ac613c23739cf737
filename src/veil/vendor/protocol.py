"""Siemens protocol text: the XProtocol document and its ASCCONV section, line by line.

The text is the acquisition protocol as the scanner saved it (CSA series header item
``MrPhoenixProtocol``, XA ``SIEMENS MR SDS 01`` (0021,xx19))::

    <XProtocol>
    {
      <ParamString."ProtocolName">  { "t1_mprage_sag"  }
      ...
    ### ASCCONV BEGIN object=MrProtDataImpl@MrProtocolData version=51130001 ###
    tSequenceFileName  = "%SiemensSeq%\\tfl"
    tReferenceImage0   = "1.3.12.2.1107.5.2.43.67093.2022071112050453080702576"
    sKSpace.lBaseResolution = 256
    ### ASCCONV END ###

Keys (``sKSpace.lBaseResolution``), tag names (``<ParamString."ProtocolName">``) and the
ASCCONV markers are vocabulary: dcm2niix finds its fields by them, so they are never masked.
Everything else on a line is a value.
"""

from __future__ import annotations

import re

_ASCCONV_KEY = re.compile(rb"^[ \t]*[A-Za-z_][\w.\[\]]*[ \t]*=", re.MULTILINE)
_TAG_NAME = re.compile(rb"<[^<>\r\n]*>")
_MARKER = re.compile(rb"^[ \t]*###[^\r\n]*", re.MULTILINE)
_XPROTOCOL = re.compile(rb"^\s*<XProtocol>")


def is_protocol_text(data: bytes | bytearray, start: int = 0, end: int | None = None) -> bool:
    """Is data[start:end] Siemens protocol text (an XProtocol document or ASCCONV lines)?"""
    piece = bytes(data[start:end])
    return bool(_XPROTOCOL.match(piece)) or b"### ASCCONV BEGIN" in piece


def structure_spans(
    data: bytes | bytearray, start: int = 0, end: int | None = None
) -> list[tuple[int, int]]:
    """The spans of data[start:end] that are keys, tag names or markers (offsets into
    `data`), sorted and disjoint."""
    piece = bytes(data[start:end])
    found = [
        m.span() for pattern in (_ASCCONV_KEY, _TAG_NAME, _MARKER) for m in pattern.finditer(piece)
    ]
    found.sort()
    merged: list[tuple[int, int]] = []
    for left, right in found:
        if merged and left <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], right))
        else:
            merged.append((left, right))
    return [(start + left, start + right) for left, right in merged]
