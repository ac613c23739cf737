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
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from veil.dicom import UNDEFINED_LENGTH as UNDEFINED
from veil.dicom import tag_of
from veil.engine.fast import parse
from veil.engine.fast.parse import LONG_VRS, SEQUENCE_END_BYTES, Element, ParsedFile
from veil.engine.fast.rewrite import CHARSET, Chunk, TopChanges

_Creators = list[tuple[int, str, bytes]]
_Scan = Callable[
    [list[Element], bytes, frozenset[int], int, frozenset[int], int, bool],
    tuple[bytes, tuple[str, bytes] | None, tuple[str, bytes] | None, _Creators],
]
_ChangesKey = Callable[
    [bytes, list[Chunk], dict[int, tuple[int, int]], tuple[int, ...], list[tuple[int, bytes]]],
    bytes,
]
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


@dataclass(frozen=True)
class RawScan:
    """What the checks' facts memo reads of one file, in one pass (`raw_scan`)."""

    key: bytes  # the encoded elements among the tags but ``apart``, one after the other
    apart: tuple[str, bytes] | None  # (VR, value) of the element held apart (the position)
    charset: tuple[str, bytes] | None  # (VR, value) of SpecificCharacterSet
    creators: list[tuple[int, str, bytes]]  # as ``private_creator_elements`` finds them


def raw_scan(parsed: ParsedFile, tags: frozenset[int], apart: int | None) -> RawScan:
    """`_raw_scan_python`, by the C parse's ``raw_scan`` where it is built (the same answer,
    tests/engine/test_raw_scan_backends.py): on the benchmark corpus 20 -> 9 us per file in
    a hot loop, 25 -> 11 us in a batch (benchmarks/RESULTS.md, "the facts memo's scan in
    C"). A record the C route does not know (TypeError, ValueError) goes by the Python loop."""
    if _COMPILED_SCAN is not None:
        try:
            key, moved, charset, creators = _COMPILED_SCAN(
                parsed.elements,
                parsed.data,
                tags,
                -1 if apart is None else apart,
                PIXEL_TAGS,
                CHARSET,
                parsed.implicit,
            )
        except (TypeError, ValueError):
            pass
        else:
            return RawScan(key, moved, charset, creators)
    return _raw_scan_python(parsed, tags, apart)


def _raw_scan_python(parsed: ParsedFile, tags: frozenset[int], apart: int | None) -> RawScan:
    """The encoded bytes of the top-level elements among ``tags`` but ``apart``, one after
    the other (pixel data by its header alone: the checks ask only whether it is there),
    with (VR, value) of ``apart`` and the private creators at any level, in one pass over
    the top level. Equal bytes are equal elements (their headers delimit them): they key
    the checks' facts (`veil.check.rawfacts.RawFile`) with no look-up per tag, and
    adjacent elements are one slice. (One pass instead of `top_elements`, a key of 40
    look-ups and `private_creator_elements`: 61 -> 33 us per file in a hot loop.)"""
    data = parsed.data
    parts: list[bytes] = [b"\1" if parsed.implicit else b"\0"]  # the header layout
    creators: list[tuple[int, str, bytes]] = []
    moved = charset = None
    start = end = -1
    for elem in parsed.elements:
        tag = elem.tag
        if tag in tags:
            if tag == apart:
                moved = (elem.vr, data[elem.value_start : elem.value_end])
            else:
                if elem.start != end:
                    if end >= 0:
                        parts.append(data[start:end])
                    start = elem.start
                end = elem.value_start if tag in PIXEL_TAGS else elem.end
                if tag == CHARSET:
                    charset = (elem.vr, data[elem.value_start : elem.value_end])
        if tag & 0x10000 and 0x10 <= tag & 0xFFFF <= 0xFF:  # veil.dicom.is_private_creator
            creators.append((tag, elem.vr, data[elem.value_start : elem.value_end]))
        elif elem.items:
            for item in elem.items:
                creators.extend(private_creator_elements(item.elements, data))
    if end >= 0:
        parts.append(data[start:end])
    return RawScan(b"".join(parts), moved, charset, creators)


def _compiled() -> tuple[_Scan | None, _ChangesKey | None]:
    """The C ``raw_scan`` and ``changes_key`` where the C parse is built and in use
    (``parse.BACKEND``: they read the Element records at the offsets its ``bind`` found);
    None for either from a build older than it."""
    if parse.BACKEND != "c":
        return None, None
    from veil.engine.fast import _parse

    scan: _Scan | None = getattr(_parse, "raw_scan", None)
    changes: _ChangesKey | None = getattr(_parse, "changes_key", None)
    return scan, changes


_COMPILED_SCAN, _COMPILED_CHANGES = _compiled()


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
    return apply_encoded(before, changes.encoded(tags))


def changes_in(
    changes: TopChanges, ordered: tuple[int, ...], tags: frozenset[int]
) -> tuple[tuple[int, bytes], ...]:
    """``changes.encoded(tags)`` as (tag, encoded element or b"" when removed) in tag order
    (``ordered``: ``tags`` sorted), which keys the checks' "after" facts: one look-up per tag
    and no join for the usual single chunk (24 -> 8 us per file in a batch)."""
    data, chunks, spans = changes.data, changes.chunks, changes.spans
    found: dict[int, bytes] = {}
    for tag in ordered:
        span = spans.get(tag)
        if span is None:
            continue
        first, end = span
        if end - first == 1:
            chunk = chunks[first]
            found[tag] = data[chunk[0] : chunk[1]] if isinstance(chunk, tuple) else chunk
        else:
            found[tag] = b"".join(
                data[c[0] : c[1]] if isinstance(c, tuple) else c for c in chunks[first:end]
            )
    added = [(tag, encoded) for tag, encoded in changes.added if tag in tags]
    if added:
        found.update(added)
        return tuple(sorted(found.items()))
    return tuple(found.items())


_TAG_LENGTH = struct.Struct("<LL")


def changes_key(changes: TopChanges, ordered: tuple[int, ...], tags: frozenset[int]) -> bytes:
    """`changes_in` as one bytes: (tag, length) in 4 bytes each then the element's output
    bytes, for each (tag order; none for a removed element). It keys the checks' "after"
    facts with one hash and one compare (a tuple of ~13 pairs took ~2 us more per file in a
    batch). By the C parse's ``changes_key`` where it is built (5 -> ~2 us per file in a hot
    loop; tests/engine/test_raw_scan_backends.py holds the two routes equal), else
    `_changes_key_python`."""
    if _COMPILED_CHANGES is not None:
        try:
            return _COMPILED_CHANGES(
                changes.data, changes.chunks, changes.spans, ordered, changes.added
            )
        except (TypeError, ValueError):
            pass
    return _changes_key_python(changes, ordered, tags)


def _changes_key_python(
    changes: TopChanges, ordered: tuple[int, ...], tags: frozenset[int]
) -> bytes:
    pack = _TAG_LENGTH.pack
    return b"".join(
        pack(tag, len(encoded)) + encoded for tag, encoded in changes_in(changes, ordered, tags)
    )


def apply_encoded(
    before: Mapping[int, tuple[str, bytes]], changes: dict[int, bytes]
) -> tuple[dict[int, tuple[str, bytes]], frozenset[int]]:
    """``elements_after`` from ``TopChanges.encoded`` (taken once by the caller)."""
    after = dict(before)
    changed: set[int] = set()
    for tag, encoded in changes.items():
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
