"""The audit on the fast path: decides only "nothing to report", else hands over.

The reference audit (veil.audit) reports error findings for three things: an identifying value
of the input found in the output's decoded text (any form), the same found in its raw bytes
(strong forms), and a value kept at its own place. Here:

- the input's error-level identifiers are collected from the element tree by the same rules
  (``veil.audit.identifiers``: Table E.1-1 under the plan's declared options, person names,
  instance UIDs), without the excuses that only remove identifiers (a superset);
- every form of them is searched at once in the whole output, header and pixels, by the
  compiled multi-needle scan (veil.audit.multiscan), ASCII letters without case;
- a hit the reference audit certainly does not report (a date inside a UID, a form that
  only the decoded search uses outside text, a neighbour that joins the hit, veil's own
  method text) is dropped; any other hit, and any identifier whose element keeps its value,
  makes the file go to the reference path, which then reports exactly what it always did.

So the fast path never passes a file the reference audit would stop. It takes ASCII values
in a single-byte character set only (``Unsupported`` otherwise).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache

from pydicom.charset import decode_bytes
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag

from veil.audit.findings import Kind, Severity
from veil.audit.forms import Edge, SearchForm, search_forms
from veil.audit.heuristics import PRIVATE_CLASSES, is_free_text
from veil.audit.identifiers import (
    _NEVER_SEARCHED,
    _RETYPED_FROM_UN,
    _WARNING_KINDS,
    _kind,
    codecs_of,
    effective_action,
    normalise,
    profile_row,
)
from veil.audit.multiscan import compile_needles
from veil.audit.raw_search import _byte_edge_ok, in_uid
from veil.audit.text_search import SEARCHED_VRS, TextElement, _printable
from veil.dicom import (
    FILE_META_GROUP,
    dictionary_vr,
    is_private,
    is_private_creator,
    names_instance,
    tag_of,
)
from veil.engine.fast.parse import (
    ITEM,
    ITEM_END,
    LONG_VRS,
    SEQUENCE_END,
    SEQUENCE_END_BYTES,
    UNDEFINED,
    Element,
    ParsedFile,
    Unsupported,
    parse_file,
)
from veil.standard import Option
from veil.text import find_patterns

_HH = struct.Struct("<HH")
_H = struct.Struct("<H")
_L = struct.Struct("<L")
_HHL = struct.Struct("<HHL")
# Codecs in which no non-ASCII byte decodes to a character that lowers to ASCII: there, an
# ASCII form found in decoded, lowered text is also found in the bytes, letters folded. The
# single-byte ISO 8859 sets, and UTF-8 whose one such character (U+212A KELVIN SIGN, which
# lowers to "k") the rewriter hands over (veil.engine.fast.rewrite).
ASCII_SAFE_CODECS = frozenset(
    {"iso8859", "latin_1", "iso-8859-1", "iso8859-1", "ascii", "UTF8"}
    | {"iso8859_2", "iso8859_3", "iso8859_4", "iso_ir_126", "iso_ir_127", "iso_ir_138"}
    | {"iso_ir_144", "iso_ir_148", "iso_ir_166"}
)
OWN_RECORD = tag_of("DeidentificationMethod")
TRANSFER_SYNTAX = tag_of("TransferSyntaxUID")
CHARSET = tag_of("SpecificCharacterSet")


@dataclass(frozen=True)
class Found:
    """An error-level identifier of the input: its kind and VR decide its forms."""

    kind: Kind
    vr: str
    value: str
    codec: str = "latin_1"  # the file's text codec (its forms are searched as encoded there)


@cache
def _public_class(tag: int, vr: str, options: frozenset[Option]) -> tuple[str, Kind | None]:
    """How the reference collector treats a public element: 'skip', 'person', 'uid' (an
    unlisted UID, instance UIDs only) or 'ident' with the kind (error kinds only)."""
    row = profile_row(tag)
    if row is None:
        if vr == "PN":
            return "person", Kind.PERSON_NAME
        if vr == "UI" and Option.RETAIN_UIDS not in options:
            return "uid", Kind.UID
        return "skip", None
    action = effective_action(row, options)
    if action == "K":
        return "skip", None
    if action == "C" and vr not in ("DA", "DT", "PN", "UI"):
        return "skip", None
    if vr in ("OB", "UN") or (vr == "UI" and Option.RETAIN_UIDS in options):
        return "skip", None
    kind = _kind(tag, vr, row)
    if kind in _WARNING_KINDS:
        return "skip", None
    return ("uid" if kind is Kind.UID else "ident"), kind


_CLASSES: dict[frozenset[Option], dict[tuple[int, str], tuple[str, Kind | None]]] = {}


def _classes(options: frozenset[Option]) -> dict[tuple[int, str], tuple[str, Kind | None]]:
    return _CLASSES.setdefault(options, {})


def _class(tag: int, vr: str, options: frozenset[Option]) -> tuple[str, Kind | None]:
    """'skip', 'walk' (a sequence), or how an element gives identifiers (with its kind)."""
    if tag & 0xFFFF == 0 or tag >> 16 == FILE_META_GROUP:
        return "skip", None
    if vr == "UN" and not is_private(tag) and dictionary_vr(tag) in _RETYPED_FROM_UN:
        return "hand over", None  # the reference collector reads it by its dictionary VR
    if vr in _NEVER_SEARCHED or (vr in ("OB", "UN") and not is_private(tag)):
        return "skip", None
    if vr == "SQ":
        return "walk", None
    if is_private(tag):
        if is_private_creator(tag) or vr != "PN":
            return "skip", None  # creators; other private text is warning-level only
        return "person", Kind.PERSON_NAME
    how, kind = _public_class(tag, vr, options)
    return (how, kind) if kind is not None else ("skip", None)


@lru_cache(maxsize=65536)
def _found(tag: int, vr: str, how: str, kind: Kind, value: bytes, codec: str) -> list[Found]:
    """The identifiers of one value (memoised: names, IDs and dates repeat in a study; the
    caller never modifies the list)."""
    values = _texts(value, codec)
    if how == "uid":
        values = [v for v in values if names_instance(tag, v)]
    return Identifiers(Found(kind, vr, v, codec) for v in values)


class Identifiers(list[Found]):
    """The identifiers of one value, as ``_found`` memoises them, with their needle entries
    once the audit has asked for them (``_entries``)."""

    __slots__ = ("entries", "form_texts")

    def __init__(self, items: Iterable[Found]) -> None:
        super().__init__(items)
        self.entries: list[_Entry] | None = None
        # The texts of their search forms once the output's name was checked against them
        # (veil.batch.naming.form_texts).
        self.form_texts: tuple[str, ...] | None = None


def _texts(value: bytes, codec: str) -> list[str]:
    text = value.decode(codec, "replace")
    return [part.strip(" \x00") for part in text.split("\\") if part.strip(" \x00")]


def collect(parsed: ParsedFile, options: frozenset[Option], codec: str) -> dict[int, list[Found]]:
    """Error-level identifiers of the input, by the id of the element they come from."""
    found: dict[int, list[Found]] = {}
    data = parsed.data
    classes = _classes(options)

    def walk(elements: list[Element]) -> None:
        for elem in elements:
            tag, vr = elem.tag, elem.vr
            known = classes.get((tag, vr))
            if known is None:
                known = classes[(tag, vr)] = _class(tag, vr, options)
            if known[0] == "skip":
                continue
            if known[0] == "hand over":
                raise Unsupported("public UN")
            if vr == "SQ":
                for item in elem.items or ():
                    walk(item.elements)
                continue
            how, kind = known
            if kind is None:
                continue
            idents = _found(tag, vr, how, kind, data[elem.value_start : elem.value_end], codec)
            if idents:
                found[id(elem)] = idents

    walk(parsed.elements)
    return found


def kept_in_place(idents: list[Found], new_values: list[object] | None) -> bool:
    """True when an identifier's own element still holds its value (None: unchanged)."""
    if new_values is None:
        return True
    output = {normalise(str(v)) for v in new_values if v is not None}
    return any(_normalised(ident.value) in output for ident in idents)


@lru_cache(maxsize=16384)
def _normalised(value: str) -> str:
    """``normalise`` of an identifier's value, memoised (the values of a study repeat)."""
    return normalise(value)


@dataclass(frozen=True)
class _Needle:
    form: SearchForm
    kind: Kind
    strict: bool = False  # a form without case searched as its exact bytes: any hit reports


def _encoded(text: str, codec: str) -> bytes | None:
    try:
        return text.encode(codec)
    except (UnicodeEncodeError, LookupError):
        return None


@lru_cache(maxsize=16384)
def _ident_needles(ident: Found) -> tuple[tuple[bytes, ...], tuple[_Needle, ...]] | None:
    """The byte needles of one identifier (None: a form has letters with case outside ASCII),
    memoised: the values of a study repeat in every file."""
    keys: list[bytes] = []
    needles: list[_Needle] = []
    for form in search_forms(ident.kind, ident.vr, ident.value):
        text = form.text
        if text.isascii():
            data = text.encode("ascii")
            if len(data) >= 2:
                keys.append(data)
                needles.append(_Needle(form, ident.kind))
            continue
        # The reference audit decodes text in the file's character set (bytes of private
        # elements as latin-1), and its raw scan looks for raw forms in UTF-8 too: a form none
        # of these encodes is in no text of this output (a CJK date in a latin-1 file).
        codecs = (ident.codec, "latin-1", "utf-8") if form.raw else (ident.codec, "latin-1")
        encoded = {data for data in (_encoded(text, codec) for codec in codecs) if data}
        if not encoded:
            continue
        if text.lower() != text or text.upper() != text or min(map(len, encoded)) < 2:
            return None  # letters with case: the byte scan folds ASCII letters only
        for data in sorted(encoded):  # without case (a CJK date): the exact bytes
            keys.append(data)
            needles.append(_Needle(form, ident.kind, strict=True))
    return tuple(keys), tuple(needles)


_Entry = tuple[tuple[bytes, ...], tuple[_Needle, ...]] | None


def _entries(idents: list[Found]) -> list[_Entry]:
    """The needle entries of each identifier of the list, kept on the list itself when it is
    ``_found``'s (its lists serve every file of a study: hashing their Found records again
    per file cost ~40 us a file)."""
    entries: list[_Entry] | None = getattr(idents, "entries", None)
    if entries is None:
        entries = [_ident_needles(ident) for ident in idents]
        if isinstance(idents, Identifiers):
            idents.entries = entries
    return entries


def _needles(found: dict[int, list[Found]]) -> tuple[tuple[bytes, ...], tuple[_Needle, ...]]:
    """Every needle, once per identifier (one byte string may come from several: the
    matcher then reports it once per index). Equal identifiers share one memoised entry
    (``_ident_needles``), so an entry is taken once by its id. The order of the needles is
    no part of the answer (the audit asks whether any hit may be reported).

    The lists the file shares with the file before it (a study's names, dates, IDs and
    UIDs: ``_found`` gives the same list objects for the same values) give the needles they
    gave then (``_NeedleMemo``); only the others (the file's own instance UIDs) are added.
    Measured in the pipeline on 600 benchmark files in run order, caches cleared per pass as
    in a fresh worker, min of 5 passes: 27-44 -> 13-17 us a file (of which ~6-12 the new
    UIDs' search forms); walking every list's entries was 3.5 % of the CPU of
    `veil deid -j 2` (py-spy)."""
    lists = tuple(found.values())
    before = _PREVIOUS.ids
    shared: list[list[Found]] = []
    fresh: list[list[Found]] = []
    for idents in lists:
        (shared if id(idents) in before else fresh).append(idents)
    _PREVIOUS.lists, _PREVIOUS.ids = lists, frozenset(map(id, lists))
    memo = _known_needles(tuple(shared))
    if not fresh:
        return memo.keys, memo.needles
    keys = list(memo.keys)
    needles = list(memo.needles)
    _add_needles(fresh, keys, needles, set(memo.seen))
    return tuple(keys), tuple(needles)


@dataclass
class _Previous:
    """The lists of identifiers of the file before, held so that the ids in ``ids`` stay
    theirs (an id is only unique among live objects). Only a hint: a list taken for shared
    by mistake (threads) goes through the memo, which compares the lists themselves."""

    lists: tuple[list[Found], ...] = ()
    ids: frozenset[int] = frozenset()


_PREVIOUS = _Previous()


def _add_needles(
    lists: Iterable[list[Found]], keys: list[bytes], needles: list[_Needle], seen: set[int]
) -> None:
    for idents in lists:
        for entry in _entries(idents):
            if entry is None:
                raise Unsupported("non-ASCII identifier")
            if id(entry) not in seen:
                seen.add(id(entry))
                keys.extend(entry[0])
                needles.extend(entry[1])


@dataclass(frozen=True)
class _NeedleMemo:
    """The needles of some lists of identifiers, with the lists themselves: holding them
    keeps the entries alive, so the ids in ``seen`` stay theirs. Lists equal to these (the
    same objects, or equal identifiers) have these needles: an entry is a function of its
    identifier alone."""

    lists: tuple[list[Found], ...]
    keys: tuple[bytes, ...]
    needles: tuple[_Needle, ...]
    seen: frozenset[int]


_MEMO: list[_NeedleMemo] = []  # the last one made: the files of a study follow each other


def _known_needles(lists: tuple[list[Found], ...]) -> _NeedleMemo:
    # One read of the memo (another thread may replace it): it is checked, then returned.
    last = _MEMO[0] if _MEMO else None
    if last is not None and last.lists == lists:  # identity first: ~0.5 us for ~40 lists
        return last
    keys: list[bytes] = []
    needles: list[_Needle] = []
    seen: set[int] = set()
    _add_needles(lists, keys, needles, seen)
    memo = _NeedleMemo(lists, tuple(keys), tuple(needles), frozenset(seen))
    _MEMO[:] = [memo]
    return memo


@dataclass(slots=True)
class _Span:
    """Where a value of the output lies (never changed once made: not frozen only because a
    frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, ~1 us a
    span against ~0.3, and every file makes six or more)."""

    start: int
    end: int
    vr: str
    tag: int
    top: bool


def _meta_spans(encoded: bytes) -> tuple[list[_Span], int]:
    """Where each value of the output's file meta lies, and where the dataset begins."""
    spans: list[_Span] = []
    pos = 132
    # The file meta veil writes: explicit VR LE, short or long lengths by VR.
    while pos + 8 <= len(encoded) and encoded[pos : pos + 2] == b"\x02\x00":
        vr = encoded[pos + 4 : pos + 6].decode("latin-1")
        if vr in ("OB", "UN", "UT", "SQ", "OW"):
            length = int.from_bytes(encoded[pos + 8 : pos + 12], "little")
            start = pos + 12
        else:
            length = int.from_bytes(encoded[pos + 6 : pos + 8], "little")
            start = pos + 8
        tag = int.from_bytes(encoded[pos : pos + 2], "little") << 16 | int.from_bytes(
            encoded[pos + 2 : pos + 4], "little"
        )
        spans.append(_Span(start, start + length, vr, tag, True))
        pos = start + length
    return spans, pos


def _dataset_spans(encoded: bytes, start: int, offsets: list[int]) -> list[_Span]:
    """The values of the output's dataset that hold ``offsets`` (ascending), found by hopping
    over element headers and entering only the sequences that hold one: no full parse."""
    spans: list[_Span] = []
    _hop(encoded, start, len(encoded), offsets, spans, top=True)
    return spans


def _hop(
    data: bytes, pos: int, end: int, offsets: list[int], spans: list[_Span], top: bool
) -> None:
    wanted = [o for o in offsets if pos <= o < end]
    index = 0
    while pos + 8 <= end and index < len(wanted):
        group, number = _HH.unpack_from(data, pos)
        tag = (group << 16) | number
        if tag in (ITEM_END, SEQUENCE_END):
            return
        vr = data[pos + 4 : pos + 6].decode("latin-1")
        if vr in LONG_VRS:
            length = _L.unpack_from(data, pos + 8)[0]
            value = pos + 12
        else:
            length = _H.unpack_from(data, pos + 6)[0]
            value = pos + 8
        if length == UNDEFINED:
            if vr != "SQ":
                stop = data.find(SEQUENCE_END_BYTES, value, end)
                stop = end if stop < 0 else stop
                after = stop + 8
                if wanted[index] < after:
                    spans.append(_Span(value, stop, vr, tag, top))
            else:
                after = _items_end(data, value, end)
                if wanted[index] < after:
                    _hop_items(data, value, after, wanted, spans)
        else:
            after = value + length
            if wanted[index] < after:
                if vr == "SQ":
                    _hop_items(data, value, after, wanted, spans)
                else:
                    spans.append(_Span(value, after, vr, tag, top))
        while index < len(wanted) and wanted[index] < after:
            index += 1
        pos = after


def _hop_items(data: bytes, pos: int, end: int, offsets: list[int], spans: list[_Span]) -> None:
    while pos + 8 <= end:
        group, number, length = _HHL.unpack_from(data, pos)
        tag = (group << 16) | number
        if tag != ITEM:
            return
        start = pos + 8
        if length == UNDEFINED:
            stop = _item_end(data, start, end)
            _hop(data, start, stop, offsets, spans, top=False)
            pos = stop + 8
        else:
            _hop(data, start, start + length, offsets, spans, top=False)
            pos = start + length


def _items_end(data: bytes, pos: int, end: int) -> int:
    """The end (after the delimiter) of a sequence of undefined length starting at ``pos``."""
    while pos + 8 <= end:
        group, number, length = _HHL.unpack_from(data, pos)
        tag = (group << 16) | number
        if tag == SEQUENCE_END:
            return pos + 8
        start = pos + 8
        pos = _item_end(data, start, end) + 8 if length == UNDEFINED else start + length
    return end


def _item_end(data: bytes, pos: int, end: int) -> int:
    """Where the item delimiter of an item of undefined length starting at ``pos`` is."""
    while pos + 8 <= end:
        group, number = _HH.unpack_from(data, pos)
        if (group << 16) | number == ITEM_END:
            return pos
        vr = data[pos + 4 : pos + 6].decode("latin-1")
        if vr in LONG_VRS:
            length = _L.unpack_from(data, pos + 8)[0]
            value = pos + 12
        else:
            length = _H.unpack_from(data, pos + 6)[0]
            value = pos + 8
        if length == UNDEFINED:
            if vr == "SQ":
                pos = _items_end(data, value, end)
            else:
                stop = data.find(SEQUENCE_END_BYTES, value, end)
                pos = end if stop < 0 else stop + 8
        else:
            pos = value + length
    return end


def _implicit_output(encoded: bytes, meta: list[_Span]) -> bool:
    syntax = [encoded[s.start : s.end] for s in meta if s.tag == TRANSFER_SYNTAX]
    return syntax == [b"1.2.840.10008.1.2\0"]


def _parsed_spans(encoded: bytes) -> list[_Span]:
    """Every value of an output in implicit VR, with the VR pydicom reads it with (the hop
    above reads explicit VR headers): a full parse, only when a needle was hit."""
    spans: list[_Span] = []

    def walk(elements: list[Element], top: bool) -> None:
        for elem in elements:
            if elem.items is not None:
                for item in elem.items:
                    walk(item.elements, False)
            else:
                spans.append(_Span(elem.value_start, elem.value_end, elem.vr, elem.tag, top))

    walk(parse_file(encoded).elements, True)
    return spans


def _locate(offset: int, spans: list[_Span]) -> _Span | None:
    for span in spans:
        if span.start <= offset < span.end:
            return span
    return None


def _edges_ok(data: bytes, start: int, end: int, needle: SearchForm, lo: int, hi: int) -> bool:
    """The needle's edges at [start, end), neighbours outside [lo, hi) counting as free."""
    window_lo = max(lo, start - 80)
    window = data[window_lo : min(hi, end + 1)].lower()
    left = start - 1 - window_lo
    right = end - window_lo
    left_ok = _byte_edge_ok(window, left, needle.left) if left >= 0 else True
    right_ok = _byte_edge_ok(window, right, needle.right) if right < len(window) else True
    return left_ok and right_ok


def _reported(data: bytes, offset: int, key: bytes, needle: _Needle, spans: list[_Span]) -> bool:
    """Whether the reference audit may report this hit (False only when it certainly does not)."""
    if needle.strict:
        return True
    end = offset + len(key)
    span = _locate(offset, spans)
    if span is not None and (span.vr in SEARCHED_VRS or is_private(span.tag)):
        if end > span.end:
            return True  # runs past its element: be safe
        if not _edges_ok(data, offset, end, needle.form, span.start, span.end):
            return False
        if span.vr == "UI" and needle.kind is not Kind.UID:
            return False  # the decoded search never matches other values inside UIDs
        # veil's own method text is excluded by the reference audit.
        return not (span.top and span.tag == OWN_RECORD)
    if not needle.form.raw:
        return False  # forms searched in decoded text only
    if not _edges_ok(data, offset, end, needle.form, 0, len(data)):
        return False
    # A date inside a UID is not reported (the reference raw scan's rule).
    return not (needle.kind is not Kind.UID and key[:1].isdigit() and in_uid(data, offset))


def reference_would_report(encoded: bytes, found: dict[int, list[Found]]) -> bool:
    """True when some hit of an identifier in ``encoded`` may be reported by the reference
    audit (the caller then hands the file over)."""
    if not found:
        return False
    keys, needles = _needles(found)
    if not keys:
        return False
    hits = compile_needles(keys).find(encoded)
    if not hits:
        return False
    spans, dataset_start = _meta_spans(encoded)
    if _implicit_output(encoded, spans):
        spans += _parsed_spans(encoded)
    else:
        spans += _dataset_spans(
            encoded, dataset_start, sorted({o for o, _ in hits if o >= dataset_start})
        )
    return any(
        _reported(encoded, offset, keys[index], needles[index], spans) for offset, index in hits
    )


def shapes_in_free_text(output: ParsedFile) -> bool:
    """True when the reference audit's search for identifying text by its shape (phones,
    e-mails, national IDs, titled names, dates... veil.text, issue 18) finds something in the
    output's free text, nested items included: the caller then hands the file over. Without
    the options that keep elements as they are, so a superset of what it reports.

    ``output`` is the fast parse of the output itself: its elements are taken as
    ``veil.audit.text_search.text_elements`` takes them from a dataset read by pydicom (the
    searched VRs decoded in the output's character set, sequences entered, private OB/UN
    read as printable text), judged by ``veil.audit.heuristics.is_free_text``, and the verdict
    on a value is memoised: descriptions repeat in every file of a series."""
    codecs = _output_codecs(output.elements, output.data)
    return _shaped(output.elements, output.data, codecs)


_SKIP, _WALK, _PUBLIC_TEXT, _PRIVATE_TEXT, _PRINTABLE = range(5)
_HOW: dict[tuple[int, str], int] = {}
# Values longer than this are judged every time (a memo of long texts would only hold memory).
_MEMO_LIMIT = 1024


def _how(tag: int, vr: str) -> int:
    """What ``text_elements`` then ``suspicions`` do with an element of this tag and VR."""
    private = bool((tag >> 16) & 1)
    if vr in SEARCHED_VRS:
        if not is_free_text(TextElement("", tag, vr, "", private)):
            return _SKIP
        return _PRIVATE_TEXT if private else _PUBLIC_TEXT
    if vr == "SQ":
        return _WALK
    if vr in ("UN", "OB") and private:
        return _PRINTABLE  # is_free_text holds for every private element
    return _SKIP


def _shaped(elements: list[Element], data: bytes, codecs: tuple[str, ...]) -> bool:
    how_of = _HOW
    for elem in elements:
        how = how_of.get((elem.tag, elem.vr))
        if how is None:
            how = how_of[(elem.tag, elem.vr)] = _how(elem.tag, elem.vr)
        if how == _SKIP:
            continue
        if how == _WALK:
            if any(_shaped(item.elements, data, codecs) for item in elem.items or ()):
                return True
            continue
        value = data[elem.value_start : elem.value_end]
        if how == _PRINTABLE:
            text = _printable(value)
            if text is not None and _text_shaped(text, private=True):
                return True
        elif len(value) <= _MEMO_LIMIT:
            if _value_shaped(value, codecs, how == _PRIVATE_TEXT):
                return True
        elif _text_shaped(_decode(value, codecs), private=how == _PRIVATE_TEXT):
            return True
    return False


def _decode(value: bytes, codecs: tuple[str, ...]) -> str:
    """As ``veil.audit.text_search._decoded`` decodes a raw value."""
    if len(codecs) == 1:
        return value.decode(codecs[0], "replace")
    return decode_bytes(value, list(codecs), set())


@lru_cache(maxsize=32768)
def _value_shaped(value: bytes, codecs: tuple[str, ...], private: bool) -> bool:
    return _text_shaped(_decode(value, codecs), private=private)


def _text_shaped(text: str, *, private: bool) -> bool:
    """Whether ``suspicions`` finds a shape in this free text (private: its classes only)."""
    if not text.strip(" \x00"):
        return False
    return bool(find_patterns(text, PRIVATE_CLASSES if private else None))


def _output_codecs(elements: list[Element], data: bytes) -> tuple[str, ...]:
    """The output's codecs as ``veil.audit.identifiers.codecs_of`` finds them."""
    for elem in elements:
        if elem.tag == CHARSET:
            return _codecs(elem.vr, data[elem.value_start : elem.value_end])
        if elem.tag > CHARSET:
            break
    return _codecs("CS", None)


@lru_cache(maxsize=64)
def _codecs(vr: str, raw: bytes | None) -> tuple[str, ...]:
    ds = Dataset()
    if raw is not None:
        tag = Tag(CHARSET)
        ds._dict[tag] = RawDataElement(tag, vr, len(raw), raw, 0, False, True)
    return tuple(codecs_of(ds))


def text_codec_ok(codecs: tuple[str, ...]) -> bool:
    return all(codec in ASCII_SAFE_CODECS for codec in codecs)


__all__ = [
    "Edge",
    "Found",
    "Severity",
    "collect",
    "kept_in_place",
    "keyword_for_tag",
    "reference_would_report",
    "text_codec_ok",
]
