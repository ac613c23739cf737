"""The per-file facts of `--for`, from only the raw elements the profiles read, memoised.

`veil deid --for` evaluates every file's facts before and after de-identification
(`veil.pipeline.deidentify_file`). The files of a series share almost every value a profile
reads (manufacturer, sex, age, acquisition, orientation, spacing; only the slice position
moves), so the facts are memoised per worker by the raw bytes of the top-level elements
they read (`veil.check.reads`), the private creators when the facts looked at them, the
profiles and the quality-check switch; a new slice position is read on its own. "After" is
"before" with the elements de-identification changed (`facts_after`: only what reads a
changed element is evaluated again), under the same memo.

    memo = facts_memo(profiles, quality_checks)       # None: read everything instead
    before = memo.facts(elements, creators)           # None: not for this file (enhanced)
    after = memo.after(before, elements_after, changed, creators_after)

A batch asks for both at once (`FactsMemo.pair`, issue 12): the key is the bytes of those
elements as the file has them (`RawFile.key`, one join, no per-tag look-up), and "after" is
memoised under its "before" by the rewrite's encoded changes among them (`RawChanges.key`):
on a hit neither the elements nor the output's are decoded, compared or evaluated.

The values are decoded by pydicom on a dataset of those raw elements, as on a dataset read
whole: the same facts as `file_facts` on the file (tests compare them on the corpus).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from veil.check.evaluate import Creators, FileFacts, facts_after, file_facts, with_geometry
from veil.check.geometry import at_position, position_of
from veil.check.model import RequirementProfile
from veil.check.reads import (
    CHARSET,
    EVERYWHERE,
    GEOMETRY,
    POSITION,
    named_keywords,
    profile_reads,
)
from veil.check.regression import PairFacts

# tag -> (VR, value bytes) of top-level elements, as the file has them.
RawElements = Mapping[int, tuple[str, bytes]]
_MAX_ENTRIES = 4096  # distinct sets of values per worker (a few per series)
_MAX_MEMOS = 8  # profile sets per worker (a node serves a few destinations)


def raw_dataset(elements: RawElements) -> Dataset:
    """A dataset of raw elements, decoded by pydicom when read (as ``dcmread`` leaves them)."""
    ds = Dataset()
    store = ds._dict
    for tag, (vr, value) in elements.items():
        key = Tag(tag)
        store[key] = RawDataElement(key, vr, len(value), value, 0, False, True)
    return ds


_CREATOR_TEXT: dict[tuple[str, bytes, tuple[str, bytes] | None], str] = {}


def creator_names(
    creators: Iterable[tuple[int, str, bytes]], charset: tuple[str, bytes] | None
) -> set[str]:
    """The names of private creator elements (tag, VR, raw value) as
    `veil.check.access.private_creators` reads them, in the file's character set."""
    found: set[str] = set()
    for tag, vr, value in creators:
        key = (vr, value, charset)
        text = _CREATOR_TEXT.get(key)
        if text is None:
            elements = {tag: (vr, value)}
            if charset is not None:
                elements[CHARSET] = charset
            decoded = raw_dataset(elements)[tag].value
            text = str(decoded).strip() if decoded else ""
            if len(_CREATOR_TEXT) > _MAX_ENTRIES:
                _CREATOR_TEXT.clear()
            _CREATOR_TEXT[key] = text
        if text:
            found.add(text)
    return found


class _Asked:
    """The creators function of one evaluation, remembering whether it was called."""

    def __init__(self, find: Creators) -> None:
        self.find = find
        self.found: set[str] | None = None

    def __call__(self) -> set[str]:
        if self.found is None:
            self.found = self.find()
        return self.found


@dataclass(frozen=True)
class _After:
    # "After" facts; with the geometry of their "before" entry (the very object) when
    # de-identification left the geometry alone (``changed`` holds no GEOMETRY tag).
    facts: FileFacts
    creators: frozenset[str] | None  # the output's private creators they read (None: none)
    changed: frozenset[int]  # the tags whose element differs from "before"


@dataclass(eq=False)
class _Entry:
    facts: FileFacts
    creators: frozenset[str] | None  # the private creators they read (None: they read none)
    # "after" by the rewrite's changes (RawChanges.key), for `FactsMemo.pair`.
    after: dict[bytes, _After] = field(default_factory=dict)
    # The raw private creators (`RawFile.raw_creators`) last found to name ``creators``: the
    # next file of the series has the same bytes, and then no name is decoded.
    seen: object = None


@dataclass
class RawFile:
    """One input as `FactsMemo.pair` reads it; the caller builds it from its parse.

    ``key`` stands for the file's elements among the memo's tags but the slice position (when
    it moves): any bytes that are equal only when those elements are (their encoded bytes, one
    after the other, pixel data by its header alone). ``position`` is the raw slice position;
    ``read`` gives the elements themselves (asked on a miss only) and ``creators`` the private
    creators at any level (asked when the memoised facts read them); ``raw_creators`` is
    anything equal only when ``creators`` are (their raw elements and character set)."""

    key: bytes
    position: tuple[str, bytes] | None
    read: Callable[[], RawElements]
    creators: Creators
    raw_creators: object = None
    _elements: RawElements | None = None

    def elements(self) -> RawElements:
        if self._elements is None:
            self._elements = self.read()
        return self._elements


@dataclass(frozen=True)
class RawChanges:
    """What de-identification did to the elements among the memo's tags: ``key`` stands for
    the output bytes of every element it may have changed (`veil.engine.fast.header.changes_key`:
    equal only when those are); ``apply`` gives the elements after it and the tags that
    differ; ``creators`` the output's private creators."""

    key: bytes
    apply: Callable[[RawElements], tuple[RawElements, frozenset[int]]]
    creators: Creators


class FactsMemo:
    """The facts of ``profiles`` by the raw values they read, in one process."""

    def __init__(self, profiles: tuple[RequirementProfile, ...], quality_checks: bool) -> None:
        self.profiles = profiles
        self.quality_checks = quality_checks
        reads = profile_reads(profiles)
        if reads is None:
            raise ValueError("the profiles read what veil.check.reads cannot tell")
        self.tags = reads
        self.ordered = tuple(sorted(reads))
        # The slice position moves in every file: out of the key unless a rule reads it.
        self.moving = "ImagePositionPatient" not in named_keywords(profiles)
        self.key_tags = tuple(sorted(reads - {POSITION} if self.moving else reads))
        # The tag `RawFile.position` holds apart from the key (none when a rule reads it).
        self.position_tag = POSITION if self.moving else None
        self.entries: dict[object, _Entry] = {}

    def facts(self, elements: RawElements, creators: Creators) -> FileFacts | None:
        """``file_facts`` of a file whose top-level elements among ``self.tags`` are
        ``elements``; None for an enhanced object (its facts read inside sequences)."""
        return self._facts(elements, creators, None)

    def after(
        self,
        before: FileFacts,
        elements: RawElements,
        changed: frozenset[int],
        creators: Creators,
    ) -> FileFacts | None:
        """The facts of the same file with the elements ``changed`` (among ``self.tags``)
        changed, removed or added: ``elements`` are its elements then."""
        return self._facts(elements, creators, (before, changed))

    def pair(self, raw: RawFile, changes: RawChanges) -> PairFacts | None:
        """ "Before" and "after" of one file (``facts`` then ``after``, the same facts), from
        its key and the rewrite's changes; None for an enhanced object. The memo is keyed by
        what moves per file: the bytes of the elements read, the changes, the position. A
        one-frame file's pair is its series' memoised facts and its position
        (`PairFacts.moved`): nothing is made per file here."""
        entry = self.entries.get(raw.key)
        if entry is None or not _same_creators(entry, raw):
            elements = raw.elements()
            if any(tag in elements for tag in EVERYWHERE):
                return None
            asked = _Asked(raw.creators)
            before = file_facts(self.profiles, self.quality_checks, raw_dataset(elements), asked)
            found = None if asked.found is None else frozenset(asked.found)
            entry = self._store(raw.key, _Entry(before, found, seen=raw.raw_creators))
        known = entry.after.get(changes.key)
        if known is None or not (known.creators is None or changes.creators() == known.creators):
            known = self._after(entry, raw, changes)
            if known is None:
                return None
        return self._pair(
            entry.facts, known, raw.position, lambda: changes.apply(raw.elements())[0]
        )

    def hit(
        self,
        key: bytes,
        raw_creators: object,
        changes: bytes,
        position: tuple[str, bytes] | None,
    ) -> PairFacts | None:
        """`pair` when both sides are memoised and nothing needs reading (the usual file of
        a series: the arguments are `RawFile.key`, `RawFile.raw_creators`, `RawChanges.key`
        and `RawFile.position`), with no `RawFile` or `RawChanges` made; None otherwise,
        and then `pair` decides (~4 us per file in a batch)."""
        entry = self.entries.get(key)
        if entry is None or (
            entry.creators is not None and (entry.seen is None or raw_creators != entry.seen)
        ):
            return None
        known = entry.after.get(changes)
        if known is None or known.creators is not None or POSITION in known.changed:
            return None
        return self._pair(entry.facts, known, position)

    def _pair(
        self,
        before: FileFacts,
        known: _After,
        position_raw: tuple[str, bytes] | None,
        changes: Callable[[], RawElements] | None = None,
    ) -> PairFacts:
        """The pair of a file at ``position_raw`` (raw); ``changes`` gives the elements after
        de-identification when it moved the position (``known.changed``)."""
        after = known.facts
        slices = before.facts.slices
        if not self.moving or not slices:  # the facts are this file's already
            return PairFacts(before, after)
        if len(slices) != 1 or (after.facts is not before.facts and len(after.facts.slices) > 1):
            raise ValueError("memoised facts of several frames")  # (classic images only)
        position = read_position(position_raw)
        if POSITION not in known.changed:
            if after.facts is before.facts or after.facts.slices:
                return PairFacts.moved(before, after, position)
            # (an output without frames: its facts as they are)
            return PairFacts(with_geometry(before, at_position(before.facts, position)), after)
        # A plan that changes the position (rare; `hit` leaves it to `pair`): each side at
        # its own.
        if changes is None:
            raise ValueError("the position after de-identification is needed")
        moved_after = changes().get(POSITION)
        geometry_after = after.facts
        if geometry_after.slices:
            geometry_after = at_position(geometry_after, read_position(moved_after))
        return PairFacts(
            with_geometry(before, at_position(before.facts, position)),
            with_geometry(after, geometry_after),
        )

    def _after(self, entry: _Entry, raw: RawFile, changes: RawChanges) -> _After | None:
        """Evaluate "after" on a memo miss (only what reads a changed element) and keep it
        under ``entry``; None for an enhanced object."""
        elements, changed = changes.apply(raw.elements())
        if any(tag in elements for tag in EVERYWHERE):
            return None
        asked = _Asked(changes.creators)
        before = entry.facts  # (the same facts as this file's but the position)
        facts = facts_after(
            self.profiles,
            self.quality_checks,
            before,
            raw_dataset(elements),
            changed,
            asked,
        )
        if not changed & GEOMETRY:
            # As facts_after: the geometry of "before", the very object (pickled once).
            facts = with_geometry(facts, before.facts)
        found = None if asked.found is None else frozenset(asked.found)
        if len(entry.after) >= _MAX_ENTRIES:
            entry.after.clear()
        known = entry.after[changes.key] = _After(facts, found, changed)
        return known

    def _store(self, key: object, entry: _Entry) -> _Entry:
        if len(self.entries) >= _MAX_ENTRIES:
            self.entries.clear()
        self.entries[key] = entry
        return entry

    def _facts(
        self,
        elements: RawElements,
        creators: Creators,
        base: tuple[FileFacts, frozenset[int]] | None,
    ) -> FileFacts | None:
        if any(tag in elements for tag in EVERYWHERE):
            return None
        key = tuple(elements.get(tag) for tag in self.key_tags)
        entry = self.entries.get(key)
        if entry is not None and (entry.creators is None or creators() == entry.creators):
            if base is not None and not base[1] & GEOMETRY:
                # As facts_after: the geometry of "before", the very object (pickled once).
                return with_geometry(entry.facts, base[0].facts)
            return self._moved(entry.facts, elements.get(POSITION))
        asked = _Asked(creators)
        ds = raw_dataset(elements)
        if base is None:
            facts = file_facts(self.profiles, self.quality_checks, ds, asked)
        else:
            before, changed = base
            facts = facts_after(self.profiles, self.quality_checks, before, ds, changed, asked)
        found = None if asked.found is None else frozenset(asked.found)
        self._store(key, _Entry(facts, found))
        return facts

    def _moved(self, facts: FileFacts, raw: tuple[str, bytes] | None) -> FileFacts:
        """Memoised facts with this file's slice position (the only geometry that moves)."""
        slices = facts.facts.slices
        if not self.moving or not slices:
            return facts
        if len(slices) != 1:  # one slice per classic image; anything else is not memoised
            raise ValueError("memoised facts of several frames")
        return with_geometry(facts, at_position(facts.facts, read_position(raw)))


def _same_creators(entry: _Entry, raw: RawFile) -> bool:
    """Whether the file's private creators are those ``entry``'s facts read (when they read
    any): by their raw bytes when the last file's were the same, else by their names."""
    if entry.creators is None or (entry.seen is not None and raw.raw_creators == entry.seen):
        return True
    if raw.creators() != entry.creators:
        return False
    entry.seen = raw.raw_creators
    return True


# Three plain decimals, as scanners write positions: float() reads them as pydicom does.
_NUMBER = rb"(-?[0-9]{1,16}(?:\.[0-9]{1,16})?)"
_POSITION = re.compile(_NUMBER + rb"\\" + _NUMBER + rb"\\" + _NUMBER + rb"[ \0]*")


def read_position(raw: tuple[str, bytes] | None) -> tuple[float, ...] | None:
    """ImagePositionPatient from its raw element, as `position_of` reads it on a dataset:
    three plain decimals directly (one match: 3.6 -> 1.3 us), anything else through
    pydicom."""
    if raw is not None and raw[0] == "DS":
        found = _POSITION.fullmatch(raw[1])
        if found is not None:
            x, y, z = found.groups()
            return (float(x), float(y), float(z))
    return position_of(raw_dataset({POSITION: raw} if raw is not None else {}))


_MEMOS: dict[tuple[tuple[int, ...], bool], FactsMemo] = {}
# The memo of the last call, with its key in _MEMOS (a worker's job asks with the same tuple
# of profiles for every file: no key of ids to build each time).
_LAST: list[tuple[Sequence[RequirementProfile], bool, tuple[tuple[int, ...], bool]]] = []


def facts_memo(profiles: Sequence[RequirementProfile], quality_checks: bool) -> FactsMemo | None:
    """This process's memo for ``profiles`` (the same objects: a worker's job holds them),
    or None when their reads cannot be told (then every file is read whole)."""
    if _LAST and _LAST[0][0] is profiles and _LAST[0][1] == quality_checks:
        known = _MEMOS.get(_LAST[0][2])  # (still there: not cleared since)
        if known is not None:
            return known
    chosen = tuple(profiles)
    key = (tuple(id(profile) for profile in chosen), quality_checks)
    memo = _memo(chosen, key)
    if memo is not None and isinstance(profiles, tuple):  # immutable: the same memo next time
        _LAST[:] = [(profiles, quality_checks, key)]
    return memo


def _memo(
    chosen: tuple[RequirementProfile, ...], key: tuple[tuple[int, ...], bool]
) -> FactsMemo | None:
    memo = _MEMOS.get(key)
    if memo is not None and all(a is b for a, b in zip(memo.profiles, chosen, strict=True)):
        return memo
    if profile_reads(chosen) is None:
        return None
    if len(_MEMOS) >= _MAX_MEMOS:
        _MEMOS.clear()
    memo = _MEMOS[key] = FactsMemo(chosen, key[1])
    return memo


__all__ = [
    "FactsMemo",
    "RawChanges",
    "RawElements",
    "RawFile",
    "creator_names",
    "facts_memo",
    "raw_dataset",
    "read_position",
]
