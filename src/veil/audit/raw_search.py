"""Searching the raw bytes of a whole output file: pixel data, overlays, private blobs,
trailing elements, the preamble and the file meta, in every encoding the text could take.

Only needles strong enough for binary data (``Needle.raw``) of error-level identifiers are
searched: a four-letter name turns up in megabytes of 8-bit pixels by chance. The file is
lowered (ASCII letters only, like the needles) chunk by chunk, and needles are found with
``bytes.find`` one group of shared first bytes at a time, about ten times faster than one
combined regular expression. Hits are mapped to the element whose value holds them only when
there are hits, by parsing the output once more.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as _np  # a dependency of veil: the raw scan is about ten times faster with it
from pydicom import dcmread
from pydicom.charset import convert_encodings
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as PydicomSequence

from veil.audit.findings import Severity
from veil.audit.forms import Edge, Needle
from veil.dicom import UNDEFINED_LENGTH, dictionary_vr, tag_text

PREAMBLE = 128


@dataclass(frozen=True)
class RawHit:
    offset: int
    needle: Needle
    encoding: str


def python_encodings(*datasets: Dataset) -> list[str]:
    """The codecs text of these datasets can be in: ASCII-compatible ones always, plus each
    dataset's declared Specific Character Set."""
    names = ["latin-1", "utf-8"]
    for ds in datasets:
        declared = ds.get("SpecificCharacterSet", None) if ds is not None else None
        if not declared:
            continue
        values = [str(v) for v in declared] if not isinstance(declared, str) else [declared]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                names.extend(convert_encodings(values))
        except Exception:
            continue
    return list(dict.fromkeys(names))


def _variants(text: str) -> set[str]:
    if text.isascii():
        return {text}
    # bytes.lower() only lowers ASCII: search the common cases of non-ASCII letters too.
    return {text, text.upper(), text.title(), text.capitalize()}


def byte_needles(
    needles: Iterable[Needle], encodings: list[str]
) -> list[tuple[bytes, Needle, str]]:
    out: dict[bytes, tuple[bytes, Needle, str]] = {}
    for needle in needles:
        # Warning-level values (private text, descriptors) are searched in decoded text only:
        # vendors repeat them in their binary headers, and each needle costs a pass over the
        # file's bytes.
        if not needle.raw or needle.ident.severity is not Severity.ERROR:
            continue
        for variant in _variants(needle.text):
            for encoding in encodings:
                try:
                    data = variant.encode(encoding).lower()
                except (UnicodeEncodeError, LookupError):
                    continue
                if data and data not in out:
                    out[data] = (data, needle, encoding)
    return list(out.values())


def in_uid(data: bytes, offset: int) -> bool:
    """True when ``offset`` lies in a run of digits and dots shaped like a UID (3+ dots)."""
    start = offset
    while start > 0 and data[start - 1] in _UID_BYTES and offset - start < 64:
        start -= 1
    end = offset
    while end < len(data) and data[end] in _UID_BYTES and end - offset < 64:
        end += 1
    token = data[start:end]
    return token.count(b".") >= 3 and len(token) >= 12


def _byte_edge_ok(data: bytes, index: int, edge: Edge) -> bool:
    if edge is Edge.ZEROS:  # only ever a left edge: step back over zeros first
        while index >= 0 and data[index] == 0x30:
            index -= 1
        edge = Edge.DIGIT
    if index < 0 or index >= len(data) or edge is Edge.NONE:
        return True
    byte = data[index]
    is_digit = 0x30 <= byte <= 0x39
    if edge is Edge.DIGIT:
        return not is_digit
    if edge is Edge.UID:
        return not (is_digit or byte == 0x2E)
    return not (is_digit or 0x61 <= byte <= 0x7A)  # data is lowered: letters are a-z


# Needles are grouped by their first bytes: the UIDs of one file share a few roots, the forms
# of a name or a date share their first letters or year,
# so one find per group replaces one find per needle.
PREFIX = 4
# UIDs all start "1.2." or "1.3.", like the class UIDs every output keeps: their group prefix
# must reach past the root of the organisation, or every class UID becomes a candidate.
UID_PREFIX = 16
_UID_BYTES = frozenset(b"0123456789.")


def _prefix_length(data: bytes) -> int:
    return UID_PREFIX if all(byte in _UID_BYTES for byte in data[:UID_PREFIX]) else PREFIX


# Files are lowered and searched in chunks so a multi-gigabyte file never needs a second
# full-size copy in memory; chunks overlap by the longest needle.
CHUNK = 16 * 1024 * 1024


def scan(encoded: bytes, needles: list[tuple[bytes, Needle, str]]) -> list[RawHit]:
    if not needles:
        return []
    groups: dict[bytes, list[tuple[bytes, Needle, str]]] = {}
    for entry in needles:
        groups.setdefault(entry[0][: _prefix_length(entry[0])], []).append(entry)
    overlap = max(len(entry[0]) for entry in needles) + 1
    hits: list[RawHit] = []
    for base in range(0, len(encoded), CHUNK):
        low, high = max(0, base - 1), min(len(encoded), base + CHUNK + overlap)
        piece = encoded.lower() if (low, high) == (0, len(encoded)) else encoded[low:high].lower()
        first, stop = base - low, base + CHUNK - low  # hits must start in [base, base+CHUNK)
        starts = _starts(piece, list(groups), first, stop)
        for prefix, members in groups.items():
            for start in starts[prefix]:
                for data, needle, encoding in members:
                    if piece.startswith(data, start) and _edges_ok(piece, start, data, needle):
                        hits.append(RawHit(low + start, needle, encoding))
    return hits


def _starts(piece: bytes, prefixes: list[bytes], first: int, stop: int) -> dict[bytes, list[int]]:
    """Every offset in [first, stop) where each prefix occurs, ascending.

    With numpy, one vectorised pass over the piece's byte pairs (a 64 Ki table of the
    prefixes' first two bytes) gives the candidate offsets, and only those are compared:
    about ten times faster than one ``bytes.find`` pass per prefix over the pixel data,
    with the same offsets. Without numpy (or for small pieces), ``bytes.find``.
    """
    found: dict[bytes, list[int]] = {prefix: [] for prefix in prefixes}
    vectorised = len(piece) > 4096
    paired = {p for p in prefixes if len(p) >= 2} if vectorised else set()
    for prefix in prefixes:
        if prefix in paired:
            continue
        start = piece.find(prefix, first)
        while 0 <= start < stop:
            found[prefix].append(start)
            start = piece.find(prefix, start + 1)
    if not paired:
        return found
    table = _np.zeros(65536, dtype=bool)
    by_pair: dict[int, list[bytes]] = {}
    for prefix in paired:
        pair = prefix[0] | (prefix[1] << 8)
        table[pair] = True
        by_pair.setdefault(pair, []).append(prefix)
    buf = _np.frombuffer(piece, dtype=_np.uint8)
    pairs = buf[:-1].astype(_np.uint16) | (buf[1:].astype(_np.uint16) << 8)
    for start in (_np.flatnonzero(table[pairs[first:stop]]) + first).tolist():
        for prefix in by_pair[piece[start] | (piece[start + 1] << 8)]:
            if piece.startswith(prefix, start):
                found[prefix].append(start)
    return found


def _edges_ok(piece: bytes, start: int, data: bytes, needle: Needle) -> bool:
    return _byte_edge_ok(piece, start - 1, needle.left) and _byte_edge_ok(
        piece, start + len(data), needle.right
    )


@dataclass(frozen=True)
class ValueSpan:
    start: int
    end: int
    path: str
    vr: str


def value_spans(encoded: bytes) -> list[ValueSpan]:
    """Where each element's value lies in the file, innermost elements included."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = dcmread(io.BytesIO(encoded), force=True)
    except Exception:
        return []
    spans: list[ValueSpan] = []
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        spans.extend(_spans(meta, ""))
    spans.extend(_spans(ds, ""))
    spans.sort(key=lambda span: (span.start, -span.end))
    return spans


def _spans(ds: Dataset, where: str, base: int = 0) -> Iterator[ValueSpan]:
    """Value spans of ``ds``; ``base`` is where the bytes its offsets count from begin.

    pydicom parses a sequence of defined length only when it is accessed, from the bytes of
    its value: offsets inside are relative to that value. Sequences of undefined length are
    parsed while reading, with offsets relative to whatever was being read.
    """
    for tag in list(ds.keys()):
        path = f"{where}{tag_text(tag)}"
        raw = ds.get_item(tag)
        tell = getattr(raw, "value_tell", None)
        length = getattr(raw, "length", None)
        value = getattr(raw, "value", None)
        vr = str(getattr(raw, "VR", None) or dictionary_vr(tag))
        start = base + tell if tell is not None else None
        if start is not None and isinstance(value, bytes | bytearray):
            yield ValueSpan(start, start + len(value), path, vr)
        elif start is not None and length is not None and length != UNDEFINED_LENGTH:
            yield ValueSpan(start, start + length, path, vr)
        try:
            elem = ds[tag]
        except Exception:  # an element we cannot parse: its bytes keep a bare offset
            continue
        if elem.VR == "SQ" or (
            isinstance(elem.value, PydicomSequence | list)
            and elem.value
            and isinstance(elem.value[0], Dataset)
        ):
            inner = start if start is not None and isinstance(value, bytes | bytearray) else base
            for index, item in enumerate(elem.value):
                yield from _spans(item, f"{path}[{index}].", inner)


def locate(offset: int, spans: list[ValueSpan]) -> ValueSpan | None:
    """The innermost element whose value holds ``offset`` (None if none)."""
    best: ValueSpan | None = None
    for span in spans:
        if span.start <= offset < span.end and (
            best is None or span.end - span.start < best.end - best.start
        ):
            best = span
    return best
