"""Pairing each output file with the input it came from, through the mapping.

An output's SOP Instance UID is ``Mapper.uid(input SOP Instance UID)`` (or the input's own UID
when the policy retains UIDs), so pairs are found by UID under the project key, never by file
name: a renamed, re-sorted or hierarchy-laid-out output still finds its input, and an output
from another key or another input set is reported as unpaired. File names only break ties
between inputs that hold the same instance (copies of one file in several folders).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath

from veil.mapping import Mapper


@dataclass(frozen=True)
class Pairing:
    pairs: list[tuple[str, str]] = field(default_factory=list)  # (input name, output name)
    unpaired_outputs: list[str] = field(default_factory=list)
    unpaired_inputs: list[str] = field(default_factory=list)


def _shared_tail(a: str, b: str) -> int:
    """How many trailing path components two names share."""
    count = 0
    for left, right in zip(reversed(PurePath(a).parts), reversed(PurePath(b).parts), strict=False):
        if left != right:
            break
        count += 1
    return count


def pair(inputs: Mapping[str, str], outputs: Mapping[str, str], mapper: Mapper) -> Pairing:
    """Pair names by SOP Instance UID: ``inputs`` and ``outputs`` map a file name to its UID."""
    by_uid: dict[str, list[str]] = {}
    for name, uid in inputs.items():
        uid = uid.strip().rstrip("\x00")
        if not uid:
            continue
        by_uid.setdefault(mapper.uid(uid), []).append(name)
        by_uid.setdefault(uid, []).append(name)  # a retain-uids output keeps the input's UID
    result = Pairing()
    used: set[str] = set()
    for name, uid in outputs.items():
        candidates = by_uid.get(uid.strip().rstrip("\x00"))
        if not candidates:
            result.unpaired_outputs.append(name)
            continue
        # Several inputs with one instance UID are copies: prefer the one whose path the
        # output mirrors, then one not yet paired.
        source = max(candidates, key=lambda c: (_shared_tail(c, name), c not in used))
        result.pairs.append((source, name))
        used.add(source)
    result.unpaired_inputs.extend(name for name in inputs if name not in used)
    return result
