"""Pairing each output file with the input it came from, whatever tool wrote the output.

Pairs are made in four passes, each over what the passes before left unpaired:

1. by the keyed mapping: the output's SOP Instance UID is ``Mapper.uid(input's UID)`` (veil,
   under this key); skipped when there is no key;
2. by identical SOP Instance UID (veil's retain-uids option, or a tool that keeps UIDs);
3. by a digest of the pixel data (a tool that regenerated the UIDs but left the image alone:
   dicognito, a pydicom script);
4. by the same relative path under the two folders (a tool that changed both UIDs and pixels).

Each pair says which pass made it, so a report can tell "proven the same instance" from "the
same file name". File names otherwise only break ties between inputs that hold the same
instance (copies of one file in several folders).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import PurePath

from veil.mapping import Mapper


class Method(str, Enum):
    """How a pair was made, strongest first."""

    KEYED_UID = "keyed-uid"
    SAME_UID = "same-uid"
    PIXEL_DIGEST = "pixel-digest"
    RELATIVE_PATH = "relative-path"

    @property
    def sentence(self) -> str:
        return _SENTENCES[self]


_SENTENCES = {
    Method.KEYED_UID: "by the keyed mapping (the output's UID is the keyed UID of the input's)",
    Method.SAME_UID: "by identical SOP Instance UID",
    Method.PIXEL_DIGEST: "by identical pixel data (the UIDs differ)",
    Method.RELATIVE_PATH: "by the same relative path only (UIDs and pixel data differ)",
}


@dataclass(frozen=True)
class Side:
    """What pairing knows of one file without reading its pixel data."""

    uid: str  # SOP Instance UID ("" when it has none)
    relative: str  # the path under the folder given on the command line


@dataclass(frozen=True)
class Pair:
    input: str
    output: str
    method: Method


@dataclass
class Pairing:
    pairs: list[Pair] = field(default_factory=list)
    unpaired_outputs: list[str] = field(default_factory=list)
    unpaired_inputs: list[str] = field(default_factory=list)

    def count(self, method: Method) -> int:
        return sum(1 for p in self.pairs if p.method is method)


# Names -> pixel-data digest (None: no pixel data). Called once per side with the names still
# unpaired, so only those files are read in full.
Digester = Callable[[list[str]], Mapping[str, str | None]]


def _shared_tail(a: str, b: str) -> int:
    """How many trailing path components two names share."""
    count = 0
    for left, right in zip(reversed(PurePath(a).parts), reversed(PurePath(b).parts), strict=False):
        if left != right:
            break
        count += 1
    return count


def _clean(uid: str) -> str:
    return uid.strip().rstrip("\x00")


def _match(
    keys_in: Mapping[str, Iterable[str]],
    keys_out: Mapping[str, str | None],
    method: Method,
    result: Pairing,
    used: set[str],
    one_to_one: bool,
) -> list[str]:
    """Pair outputs with inputs that share a key; returns the outputs left unpaired.

    Several inputs with one key are copies: prefer the one whose path the output mirrors,
    then one not yet paired. With ``one_to_one`` (digests, paths: a blank frame is not an
    instance) an input pairs at most once."""
    by_key: dict[str, list[str]] = {}
    for name, keys in keys_in.items():
        for key in keys:
            if key:
                by_key.setdefault(key, []).append(name)
    left: list[str] = []
    for name, wanted in keys_out.items():
        key = wanted or ""
        candidates = by_key.get(key, [])
        if one_to_one:
            candidates = [c for c in candidates if c not in used]
        if not key or not candidates:
            left.append(name)
            continue
        source = max(candidates, key=lambda c: (_shared_tail(c, name), c not in used))
        result.pairs.append(Pair(source, name, method))
        used.add(source)
    return left


def pair(
    inputs: Mapping[str, Side],
    outputs: Mapping[str, Side],
    mapper: Mapper | None,
    digesters: tuple[Digester, Digester] | None = None,
) -> Pairing:
    """Pair output names with input names (see the module's docstring for the passes);
    ``digesters`` digest the pixel data of inputs and of outputs by name."""
    result = Pairing()
    used: set[str] = set()
    left = list(outputs)
    if mapper is not None:
        keyed = {n: [mapper.uid(_clean(s.uid))] if _clean(s.uid) else [] for n, s in inputs.items()}
        left = _match(
            keyed, {n: _clean(outputs[n].uid) for n in left}, Method.KEYED_UID, result, used, False
        )
    same = {n: [_clean(s.uid)] for n, s in inputs.items()}
    left = _match(
        same, {n: _clean(outputs[n].uid) for n in left}, Method.SAME_UID, result, used, False
    )
    if left and digesters is not None:
        free_inputs = [n for n in inputs if n not in used]
        if free_inputs:
            input_digests = digesters[0](free_inputs)
            output_digests = digesters[1](left)
            left = _match(
                {n: [d] if d else [] for n, d in input_digests.items()},
                {n: output_digests.get(n) for n in left},
                Method.PIXEL_DIGEST,
                result,
                used,
                True,
            )
    if left:
        paths = {n: [s.relative] for n, s in inputs.items() if n not in used}
        left = _match(
            paths,
            {n: outputs[n].relative for n in left},
            Method.RELATIVE_PATH,
            result,
            used,
            True,
        )
    result.unpaired_outputs.extend(left)
    result.unpaired_inputs.extend(name for name in inputs if name not in used)
    return result
