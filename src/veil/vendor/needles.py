"""The input's identifying values as byte patterns, and masking them at the same length.

A value is masked only where it stands as a value of its own: a UID not inside a longer run
of digits and dots, a date not inside a longer number, a word not inside a longer word (case
ignored). These are the edges the audit uses when it searches an output's bytes, so what the
audit would find is masked, and a name such as "Scout" does not eat the middle of the vendor
sequence name "AALScout".

Every UID-shaped token (four or more numbers joined by dots) that is not a UID registered in
the standard is masked too, wherever it stands in a value: vendor protocol text references
other images and frames of reference by UIDs the dataset itself may not carry, and a Siemens
UID embeds the scanner's serial number and the acquisition date and time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache

from veil.audit.identifiers import is_weak
from veil.dicom import is_registered_uid

MASK = ord("X")

_UID_SHAPE = re.compile(rb"[0-9]+(?:\.[0-9]+)+")
_DATE_SHAPE = re.compile(rb"[0-9]{8}")
# Where a UID-shaped token may be (a cheap pattern without look-behind, ~80 times faster on
# protocol text); the token around it is then found byte by byte.
_UID_HINT = re.compile(rb"\.[0-9]+\.[0-9]+\.")


class NeedleKind(str, Enum):
    """What a value to mask is, by its shape: it decides the edges it must stand between."""

    UID = "uid"
    DATE = "date"
    TEXT = "text"


def kind_of(value: bytes) -> NeedleKind:
    if _UID_SHAPE.fullmatch(value) and value.count(b".") >= 2:
        return NeedleKind.UID
    if _DATE_SHAPE.fullmatch(value):
        return NeedleKind.DATE
    return NeedleKind.TEXT


_DIGITS = frozenset(b"0123456789")
_UID_BYTES = _DIGITS | {ord(".")}
_ALNUM = (
    _DIGITS | frozenset(range(ord("a"), ord("z") + 1)) | frozenset(range(ord("A"), ord("Z") + 1))
)


@dataclass(frozen=True)
class Needle:
    """One value to mask, lowered (ASCII), with the bytes that may not stand on either side."""

    text: bytes
    left: frozenset[int]
    right: frozenset[int]

    @classmethod
    def of(cls, value: bytes) -> Needle:
        kind = kind_of(value)
        if kind is NeedleKind.UID:
            return cls(value, _UID_BYTES, _UID_BYTES)
        if kind is NeedleKind.DATE:
            return cls(value, _DIGITS, _DIGITS)
        none: frozenset[int] = frozenset()
        return cls(
            value.lower(),
            _ALNUM if value[:1].isalnum() else none,
            _ALNUM if value[-1:].isalnum() else none,
        )

    def spans(self, lowered: bytes, edges: bool = True) -> list[tuple[int, int]]:
        """Where the value stands in `lowered` (ASCII-lowered text) between allowed edges
        (anywhere when `edges` is False)."""
        found = []
        size = len(self.text)
        position = lowered.find(self.text)
        while position >= 0:
            end = position + size
            if not edges or (
                (position == 0 or lowered[position - 1] not in self.left)
                and (end >= len(lowered) or lowered[end] not in self.right)
            ):
                found.append((position, end))
            position = lowered.find(self.text, position + 1)
        return found


@dataclass(frozen=True)
class Masker:
    """Masks the input's identifying values (and unregistered UIDs) inside byte ranges."""

    needles: tuple[Needle, ...]

    def mask(
        self,
        data: bytearray,
        start: int,
        end: int,
        keep: Sequence[tuple[int, int]] = (),
        edges: bool = True,
    ) -> int:
        """Mask every identifying value standing in data[start:end], in place, at the same
        length, except where a match touches a `keep` span (offsets into `data`: the keys and
        tag names of a structure, which are vocabulary, never values). `edges` False: also
        inside longer words (for bytes no reader looks at). Returns the bytes masked."""
        if end <= start:
            return 0
        piece = bytes(data[start:end])
        spans = [
            span
            for span in uid_tokens(piece)
            if not is_registered_uid(piece[span[0] : span[1]].decode("ascii"))
        ]
        if self.needles:
            lowered = piece.lower()
            for needle in self.needles:
                spans.extend(needle.spans(lowered, edges))
        masked = 0
        for left, right in spans:
            first, last = start + left, start + right
            if keep and _touches(keep, first, last):
                continue
            for index in range(first, last):
                if data[index] != MASK:
                    data[index] = MASK
                    masked += 1
        return masked


def uid_tokens(piece: bytes) -> list[tuple[int, int]]:
    """Spans of the UID-shaped tokens in `piece`: four or more numbers joined by dots, not
    part of a longer run of digits and dots."""
    found: list[tuple[int, int]] = []
    reached = -1
    for hint in _UID_HINT.finditer(piece):
        if hint.start() < reached:
            continue
        left, right = hint.start(), hint.end()
        while left > 0 and piece[left - 1] in _UID_BYTES:
            left -= 1
        while right < len(piece) and piece[right] in _UID_BYTES:
            right += 1
        reached = right
        while left < right and piece[left] == 0x2E:  # a run may start or end with dots
            left += 1
        while right > left and piece[right - 1] == 0x2E:
            right -= 1
        token = piece[left:right]
        if token.count(b".") >= 3 and b".." not in token:
            found.append((left, right))
    return found


def _touches(spans: Sequence[tuple[int, int]], first: int, last: int) -> bool:
    """Does [first, last) overlap one of the sorted, disjoint spans?"""
    low, high = 0, len(spans)
    while low < high:  # the first span that ends after `first`
        middle = (low + high) // 2
        if spans[middle][1] <= first:
            low = middle + 1
        else:
            high = middle
    return low < len(spans) and spans[low][0] < last


@lru_cache(maxsize=16)
def masker_for(needles: tuple[bytes, ...]) -> Masker:
    """A masker for these values (the engine gives the same tuple for every element of a
    file, so this is made once per file)."""
    return Masker(tuple(Needle.of(n) for n in sorted({n for n in needles if not _weak(n)})))


def _weak(value: bytes) -> bool:
    """Too short or too common to mean anyone (NONE, TEST): the audit searches such values
    only at their own place, and masking them would eat vendor vocabulary."""
    return kind_of(value) is NeedleKind.TEXT and is_weak(value.decode("latin-1"))


def mask_everywhere(data: bytes, needles: Sequence[bytes]) -> bytes:
    """A blob whose structure veil does not know: every occurrence of every value is masked,
    even inside longer words or numbers, since nothing says where its values are."""
    for needle in sorted(needles, key=len, reverse=True):
        if needle:
            data = data.replace(needle, bytes([MASK]) * len(needle))
    return data
