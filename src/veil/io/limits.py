"""Bounds on what one input may cost: bytes per file, archive size, member count, expansion.

A small archive must not be able to make veil allocate gigabytes or run for minutes: a zip or
gzip of zeros expands a thousand times. Every limit below is checked *before* the bytes are
produced (zip: the sizes the central directory declares, which zipfile also enforces while
reading; gzip: decompression with an output ceiling), and each refusal names the file and the
limit, never a value.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from veil.errors import InputFileError

MIB = 1024**2
GIB = 1024**3


@dataclass(frozen=True)
class InputLimits:
    """What one input may cost. The defaults fit real DICOM archives with room to spare."""

    # One file or archive member, uncompressed (the whole file is held in memory once).
    max_file_bytes: int = 4 * GIB
    # All members of one zip archive together, uncompressed.
    max_archive_bytes: int = 256 * GIB
    max_members: int = 200_000
    # Expansion ratio allowed for anything that expands to more than `ratio_floor_bytes`.
    # DICOM deflates 2-10 times (an all-black series perhaps 50); zeros deflate ~1000 times.
    # Small members may expand at any ratio: a bomb needs size to hurt.
    max_ratio: int = 100
    ratio_floor_bytes: int = 32 * MIB

    def expansion_ceiling(self, compressed: int) -> int:
        """The most bytes ``compressed`` bytes may expand to."""
        by_ratio = max(self.ratio_floor_bytes, self.max_ratio * max(compressed, 1))
        return min(self.max_file_bytes, by_ratio)

    def archive_problem(self, members: int, expanded: int) -> str | None:
        """Why a whole archive of ``members`` files expanding to ``expanded`` bytes is not
        read (too many members, expands too far), or None."""
        if members > self.max_members:
            return (
                f"a zip archive with {members} members, more than the limit of "
                f"{self.max_members}: not read"
            )
        if expanded > self.max_archive_bytes:
            return (
                f"a zip archive that expands to {expanded} bytes, more than the limit of "
                f"{self.max_archive_bytes}: not read"
            )
        return None

    def member_problem(self, uncompressed: int, compressed: int) -> str | None:
        """Why one archive member may not be read, or None."""
        if uncompressed > self.max_file_bytes:
            return (
                f"expands to {uncompressed} bytes, more than the limit of one file "
                f"({self.max_file_bytes} bytes)"
            )
        if uncompressed > self.expansion_ceiling(compressed):
            ratio = uncompressed // max(compressed, 1)
            return (
                f"expands {ratio} times ({compressed} to {uncompressed} bytes), more than "
                f"the limit of {self.max_ratio} times (a decompression bomb?)"
            )
        return None


DEFAULT_LIMITS = InputLimits()


def gunzip_bounded(data: bytes, name: str, limits: InputLimits = DEFAULT_LIMITS) -> bytes:
    """Decompress gzip ``data`` (all members), refusing output beyond the limits."""
    ceiling = limits.expansion_ceiling(len(data))
    out = bytearray()
    rest = data
    while rest:
        engine = zlib.decompressobj(wbits=31)  # gzip header and trailer
        try:
            out += engine.decompress(rest, ceiling - len(out) + 1)
        except zlib.error:
            raise InputFileError(
                name, "a gzip file that cannot be decompressed (damaged?)"
            ) from None
        if len(out) > ceiling or engine.unconsumed_tail:
            raise InputFileError(
                name,
                f"a gzip file that expands beyond {ceiling} bytes from {len(data)} "
                f"(more than {limits.max_ratio} times, or more than one file may hold: "
                "a decompression bomb?)",
            )
        if not engine.eof:
            raise InputFileError(name, "a gzip file that cannot be decompressed (truncated?)")
        rest = engine.unused_data
        if rest.strip(b"\0") == b"":
            break  # zero padding after the last member, as tape and some tools leave
    return bytes(out)
