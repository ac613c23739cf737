"""Searching the decoded text of every element of an output, in its character set.

All text elements (public and private, at every nesting level, and the file meta) are decoded
by pydicom with the dataset's Specific Character Set, lowered, and joined into one haystack;
each needle is then found with ``str.find`` (fast, no per-file regex compile) and a hit is
mapped back to its element.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydicom.charset import decode_bytes
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as PydicomSequence

from veil.audit.forms import Edge, Needle
from veil.audit.identifiers import codecs_of
from veil.dicom import STRING_VRS, dictionary_vr, tag_text

# VRs whose values are text worth searching; numbers (IS, DS) and times are left out: an
# identifier is never a number-only string short enough to fit them and still be searched.
# Every string VR but numbers in text form, ages and times (see docs/audit.md).
SEARCHED_VRS = STRING_VRS - {"AS", "DS", "IS", "TM"}
_SEPARATOR = "\x00"


@dataclass(frozen=True)
class TextElement:
    path: str
    tag: int
    vr: str
    text: str = field(repr=False)  # decoded; never shown
    private: bool = False


@dataclass(frozen=True)
class TextHit:
    element: TextElement
    needle: Needle
    # the original-case text matched, only used to name the case of the form; never shown
    matched: str = field(repr=False)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(_text(v) for v in value)
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return str(value)


def _printable(value: object) -> str | None:
    if not isinstance(value, bytes | bytearray) or not 3 <= len(value) <= 4096:
        return None
    text = bytes(value).rstrip(b"\x00 ")
    if text and all(32 <= b < 127 or b in (9, 10, 13) for b in text):
        return text.decode("ascii")
    return None


def _decoded(raw: object, codecs: list[str]) -> str | None:
    """The text of an element not yet converted by pydicom, decoded in its character set the
    way pydicom would (escape sequences included), without building a DataElement."""
    if not isinstance(raw, RawDataElement) or not isinstance(raw.value, bytes | bytearray):
        return None
    data = bytes(raw.value)
    if len(codecs) == 1:
        return data.decode(codecs[0], "replace")
    return decode_bytes(data, codecs, set())


def text_elements(
    ds: Dataset, where: str = "", codecs: list[str] | None = None
) -> Iterator[TextElement]:
    """Every text element of ``ds`` (recursively), with its element path."""
    codecs = codecs if codecs is not None else codecs_of(ds)
    for tag in list(ds.keys()):
        path = f"{where}{tag_text(tag)}"
        raw = ds.get_item(tag)
        vr = getattr(raw, "VR", None) or dictionary_vr(tag)
        private = bool((tag >> 16) & 1)
        if vr in SEARCHED_VRS:
            text = _decoded(raw, codecs)
            if text is None:
                try:
                    value = ds[tag].value
                except Exception:  # undecodable: search its bytes as Latin-1
                    value = getattr(raw, "value", b"")
                text = _text(value)
            if text.strip(" \x00"):
                yield TextElement(path, tag, vr, text, private)
            continue
        if vr not in ("SQ", "UN", "OB") or (vr != "SQ" and not private):
            continue
        try:
            value = ds[tag].value
        except Exception:  # an output we cannot parse is caught by the raw scan
            continue
        if isinstance(value, PydicomSequence | list):
            for index, item in enumerate(value):
                if isinstance(item, Dataset):
                    yield from text_elements(item, f"{path}[{index}].", codecs)
            continue
        text = _printable(value)
        if text:
            yield TextElement(path, tag, "UN", text, private)


def edge_ok(text: str, index: int, edge: Edge) -> bool:
    """True when the character at ``index`` (a neighbour of a hit) does not join the hit."""
    if edge is Edge.ZEROS:  # only ever a left edge: step back over zeros first
        while index >= 0 and text[index] == "0":
            index -= 1
        edge = Edge.DIGIT
    if index < 0 or index >= len(text) or edge is Edge.NONE:
        return True
    char = text[index]
    if edge is Edge.DIGIT:
        return not char.isdigit()
    if edge is Edge.UID:
        return not (char.isdigit() or char == ".")
    return not char.isalnum()


class Haystack:
    """The lowered text of all elements of one output, searchable needle by needle."""

    def __init__(self, elements: list[TextElement]) -> None:
        self.elements = elements
        self.starts: list[int] = []
        parts: list[str] = []
        position = 0
        for element in elements:
            self.starts.append(position)
            parts.append(element.text)
            position += len(element.text) + 1
        self.original = _SEPARATOR.join(parts)
        lowered = self.original.lower()
        # lower() can change the length of a few characters (e.g. dotted I); then map through
        # per-character lowering so offsets still line up.
        if len(lowered) != len(self.original):
            lowered = "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in self.original)
        self.lowered = lowered

    def find(self, needle: Needle, *, uid_elements: bool) -> Iterator[TextHit]:
        text = self.lowered
        start = text.find(needle.text)
        while start >= 0:
            end = start + len(needle.text)
            if edge_ok(text, start - 1, needle.left) and edge_ok(text, end, needle.right):
                element = self.elements[bisect_right(self.starts, start) - 1]
                if uid_elements or element.vr != "UI":
                    yield TextHit(element, needle, self.original[start:end])
            start = text.find(needle.text, start + 1)


def case_label(matched: str, needle: Needle) -> str:
    """Name the case a match was written in, when it differs from the input's own writing."""
    if matched in " ".join(needle.ident.value.split()):
        return ""
    letters = [ch for ch in matched if ch.isalpha()]
    if not letters or not any(ch.isascii() for ch in letters):
        return ""
    if all(ch.isupper() for ch in letters):
        return ", uppercase"
    if all(ch.islower() for ch in letters):
        return ", lowercase"
    return ""
