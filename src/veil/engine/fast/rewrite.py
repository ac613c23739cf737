"""Rewriting a file's element stream by the plan: the fast path's core.

Elements are decided by the same rules and handlers as the reference walk (veil.engine.walk):
kept elements that the reference path never converts are copied as slices of the input; those
it converts and writes back unchanged are re-encoded by pydicom once per distinct value
(veil.engine.fast.encode.roundtrip); changed ones are encoded one by one. Sequences keep their
length form; defined lengths are recomputed only when something inside changed. Pixel data is
copied by its length (or up to its delimiter), never decoded.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydicom import config as pydicom_config
from pydicom import dcmread
from pydicom.charset import convert_encodings
from pydicom.sequence import Sequence

from veil.audit.identifiers import identifying_values
from veil.dicom import (
    DATE_VRS,
    FILE_META_GROUP,
    TEXT_VRS,
    is_class_uid,
    is_private,
    is_private_creator,
    tag_of,
    values_of,
)
from veil.engine.age import (
    AGE_REFERENCE_DATES,
    BIRTH_DATE,
    PATIENT_AGE,
    derived_age,
    valid_age,
)
from veil.engine.blobs import mask_element
from veil.engine.context import Context, Mode
from veil.engine.fast import audit as fast_audit
from veil.engine.fast.encode import (
    ITEM_DELIMITER,
    SEQUENCE_DELIMITER,
    converted_value,
    encode_empty,
    encode_value,
    header,
    item_header,
    mini_dataset,
    roundtrip,
    undefined_header,
    write,
)
from veil.engine.fast.needles import blob_needles_of
from veil.engine.fast.parse import Element, ParsedFile, Unsupported
from veil.engine.fast.record import (
    CODE_MEANING,
    METHOD_CODES,
    RECORD_AND_TEMPORAL,
    RECORD_TAGS,
    RECORDS_LIMIT,
    TEMPORAL,
    record_elements,
)
from veil.engine.fast.tables import (
    AGE,
    CONVERTED,
    COPY,
    EMPTIED,
    REMOVE,
    RISK_ALWAYS_READ,
    RISK_READ,
    Quick,
    kept_as_it_is,
    tables_for,
)
from veil.engine.handlers import (
    HANDLERS,
    PATIENT_ID,
    Site,
    clean_text,
    empty_value,
    hashed_values,
    one_or_many,
    pseudonym_applies,
    pseudonym_source,
    remap_uids,
    shift_element,
)
from veil.engine.meta import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION,
)
from veil.engine.values import dummy_value
from veil.engine.walk import (
    CODE_TAGS,
    needs_remap,
    remap_instance_uids,
    sequence_name,
)
from veil.mapping import Patient
from veil.policy.model import Action
from veil.policy.plan import Plan, Rule
from veil.standard import Option
from veil.text import TextContext

Chunk = bytes | tuple[int, int]  # new bytes, or a slice (start, end) of the input
SOP_CLASS = tag_of("SOPClassUID")
SOP_INSTANCE = tag_of("SOPInstanceUID")
STUDY_UID = tag_of("StudyInstanceUID")
SERIES_UID = tag_of("SeriesInstanceUID")
ISSUER = tag_of("IssuerOfPatientID")
CHARSET = tag_of("SpecificCharacterSet")
DIRECTORY_RECORDS = tag_of("DirectoryRecordSequence")
META_SOP_CLASS = tag_of("MediaStorageSOPClassUID")
_ALLOWED_CHARSETS = frozenset({"", "ISO_IR 100", "ISO_IR 6"})
# One character set that decodes byte by byte or as UTF-8, without code extensions: pydicom
# converts and writes every value that changes (ISO 2022 sets, Shift JIS and GB18030, whose
# bytes may hold a backslash inside a character, go to the reference path).
_SINGLE_CHARSETS = _ALLOWED_CHARSETS | frozenset(
    f"ISO_IR {number}" for number in (101, 109, 110, 126, 127, 138, 144, 148, 166, 192)
)
# U+212A KELVIN SIGN lowers to ASCII "k": the fast audit's byte scan would miss a form that
# the reference audit finds in decoded, lowered text (veil.engine.fast.audit).
_KELVIN_UTF8 = "\u212a".encode()
_L = struct.Struct("<L")
_AGE_DATES = (BIRTH_DATE, *AGE_REFERENCE_DATES)
_AGE_TAGS = (PATIENT_AGE, *_AGE_DATES)  # what ``derived_age`` reads
_AGES_LIMIT = 4096
_NOT_YET = object()


class _Walker:
    """What a reference handler needs from its walker when applied to one element here."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def descend(self, *args: Any) -> None:
        raise Unsupported("sequence in a generic handler")


@dataclass
class Level:
    """One dataset's output, as chunks; adjacent input slices are merged."""

    chunks: list[Chunk] = field(default_factory=list)
    changed: bool = False
    # Top level only: (tag, index of its first chunk), to insert the record attributes.
    marks: list[tuple[int, int]] = field(default_factory=list)
    _boundary: bool = False

    def mark(self, tag: int) -> None:
        """Chunks for ``tag`` (one inserted at the top level) go here."""
        self.marks.append((tag, len(self.chunks)))
        self._boundary = True

    def copy(self, start: int, end: int) -> None:
        if self.chunks and not self._boundary:
            last = self.chunks[-1]
            if isinstance(last, tuple) and last[1] == start:
                self.chunks[-1] = (last[0], end)
                return
        self._boundary = False
        self.chunks.append((start, end))

    def add(self, data: bytes) -> None:
        self._boundary = False
        self.chunks.append(data)
        self.changed = True

    def extend(self, chunks: list[Chunk]) -> None:
        self._boundary = False
        self.chunks.extend(chunks)

    def fence(self) -> int:
        """Where the next element's chunks begin (never merged with the previous ones)."""
        self._boundary = True
        return len(self.chunks)


@dataclass
class Scope:
    """One dataset being rewritten: its output, where it is, and what its elements share."""

    out: Level
    path: tuple[str, ...]
    mode: Mode
    encodings: tuple[str, ...]
    top: bool
    kept_private: dict[int, Rule]  # kept private elements (and creators) by id
    item_ids: list[Element]  # a nested item's own PatientID and issuer
    removed_overlays: set[int] = field(default_factory=set)


def chunk_length(chunks: list[Chunk]) -> int:
    return sum(c[1] - c[0] if isinstance(c, tuple) else len(c) for c in chunks)


@dataclass
class Result:
    chunks: list[Chunk]
    sop_instance_uid: str
    study_uid: str
    series_uid: str
    patient: Patient  # the input's identity, for the pseudonym (never written anywhere)
    changes: TopChanges | None = None


@dataclass(frozen=True)
class TopChanges:
    """Every top-level element the rewrite may have changed, removed or added; all others
    are the input's bytes (the destination checks' "after" is their "before" with these,
    veil.engine.fast.header). Kept as chunk spans: encoded only when asked."""

    data: bytes
    chunks: list[Chunk]  # the top level's chunks, before the record attributes were inserted
    spans: dict[int, tuple[int, int]]  # tag -> (first chunk, end chunk)
    added: list[tuple[int, bytes]]  # (tag, encoded element) inserted at the top level

    def encoded(self, tags: frozenset[int]) -> dict[int, bytes]:
        """The output bytes of each such element among ``tags`` (b"" when removed)."""
        data, chunks, spans = self.data, self.chunks, self.spans
        found = {}
        for tag in spans.keys() & tags:
            first, end = spans[tag]
            found[tag] = b"".join(
                data[c[0] : c[1]] if isinstance(c, tuple) else c for c in chunks[first:end]
            )
        found.update((tag, encoded) for tag, encoded in self.added if tag in tags)
        return found


_INTEREST = (SOP_CLASS, SOP_INSTANCE, STUDY_UID, SERIES_UID)
# Top-level elements veil may add, in tag order (their place is marked while rewriting).
INSERTED = (PATIENT_AGE, *RECORD_TAGS, TEMPORAL)
_NO_MARK = 1 << 32  # above every tag


def _pass_marks(out: Level, marks: list[int], tag: int) -> int:
    """Mark the insertion places before ``tag``; the next place still to come."""
    while marks and tag > marks[0]:
        out.mark(marks.pop(0))
    return marks[0] if marks else _NO_MARK


class Rewriter:
    """Rewrites one parsed file by the plan; ``run`` returns the output chunks."""

    def __init__(self, parsed: ParsedFile, plan: Plan, ctx: Context, audit: bool) -> None:
        self.parsed = parsed
        self.data = parsed.data
        self.plan = plan
        self.ctx = ctx
        self.walker = _Walker(ctx)
        self.audit = audit
        self.found: dict[int, list[fast_audit.Found]] = {}
        self.top: dict[int, Element] = {e.tag: e for e in parsed.elements}
        self.top_ids = {id(self.top[tag]) for tag in _INTEREST if tag in self.top}
        self.encodings: tuple[str, ...] = ("iso8859",)
        self.outputs: dict[int, object] = {}
        self.record_existing: dict[int, Element] = {}
        self.age: str | None = None
        self.tables = tables_for(plan)
        self.implicit = parsed.implicit  # written back in implicit VR, as pydicom does
        self.masked: dict[int, bytes] = {}  # masked private elements' output, by id
        self.touched: dict[int, tuple[int, int]] = {}  # top level: tag -> its chunk span
        self.added: list[tuple[int, bytes]] = []
        # Whether the plan may keep a private element (else every one goes, as the quick
        # tables decide: veil.engine.fast.tables).
        self.keeps_private = bool(
            plan.private_keep or plan.private_default.action is not Action.REMOVE
        )

    # -- values ------------------------------------------------------------------------------
    def raw(self, elem: Element) -> bytes:
        return self.data[elem.value_start : elem.value_end]

    def value(self, elem: Element, encodings: tuple[str, ...]) -> Any:
        if elem.vr == "UI":
            return ui_value(self.raw(elem))
        return converted_value(elem.tag, elem.vr, self.raw(elem), encodings)

    def top_value(self, tag: int) -> Any:
        elem = self.top.get(tag)
        return None if elem is None else self.value(elem, self.encodings)

    def refuse_plan(self) -> None:
        """What the plan asks that only the reference walk does."""
        plan = self.plan
        if any(plan.rule_for(tag) is not None for tag in (*RECORD_TAGS, TEMPORAL)):
            raise Unsupported("a rule for the record attributes")
        if any(tag not in self.top for tag, _, _ in plan.additions):
            # The reference walk adds the policy's `set` values the file lacks (top level).
            raise Unsupported("policy set adds an attribute")

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> Result:
        from veil.engine import masks_private_blobs, needs_identifying_values

        plan = self.plan
        charset = self.top.get(CHARSET)
        if charset is not None:
            self.encodings = self._charset(charset)
        if DIRECTORY_RECORDS in self.top:
            raise Unsupported("DICOMDIR")
        if SOP_CLASS not in self.top and not self.parsed.meta.get(META_SOP_CLASS):
            raise Unsupported("no SOP Class UID")
        if SOP_INSTANCE not in self.top:
            raise Unsupported("no SOP Instance UID")
        self.refuse_plan()
        if self.audit:
            if not fast_audit.text_codec_ok(tuple(self.encodings)):
                raise Unsupported("character set")
            self.found = fast_audit.collect(self.parsed, plan.declared_options, self.encodings[0])
        # Who the file is about, as veil.mapping.Patient.of reads it from the input (before
        # anything changes): the pseudonym and the date offset come from it.
        self.ctx.patient = Patient(
            *(
                _identity(self.top_value(tag))
                for tag in (PATIENT_ID, ISSUER, STUDY_UID, SOP_INSTANCE)
            )
        )
        self.ctx.sop_class = str(self.top_value(SOP_CLASS) or "")
        if plan.derive_age:
            self.age = self.derive_age()
        if needs_identifying_values(plan):
            self.ctx.text = _text_context(self.parsed.data, plan)
        if masks_private_blobs(plan):
            self.ctx.blob_needles = blob_needles_of(self.parsed, plan, self.encodings)
        level = self.level(self.parsed.elements, (), Mode.PLAN, self.encodings, top=True)
        top_chunks = level.chunks
        body = self.finish_top(level)
        instance = self.outputs.get(SOP_INSTANCE)
        if not isinstance(instance, str) or not instance:
            raise Unsupported("SOP Instance UID not one value")
        sop_class = str(self.outputs.get(SOP_CLASS) or "") or _meta_text(
            self.parsed.meta.get(META_SOP_CLASS, b"")
        )
        meta = file_meta_bytes(sop_class, instance, self.parsed.transfer_syntax)
        return Result(
            [b"\0" * 128 + b"DICM" + meta, *body],
            instance,
            str(self.outputs.get(STUDY_UID) or ""),
            str(self.outputs.get(SERIES_UID) or ""),
            self.ctx.patient,
            # The checks read changed elements as explicit VR; an implicit VR output's facts
            # come from the full reads instead (veil.pipeline._fast_facts).
            None if self.implicit else TopChanges(self.data, top_chunks, self.touched, self.added),
        )

    def derive_age(self) -> str | None:
        """``derived_age`` of the input's values. A valid age stays whatever the dates say,
        and dates (VR DA, without pydicom's datetime conversion) decode as text without fail:
        then only the age is read, its verdict memoised on its bytes (~0.6 us a file, where
        the memo below costs ~1.9 us and the six values decoded ~2.6 us: measured on the
        benchmark corpus). Otherwise memoised on the raw values ``derived_age`` reads: a
        series repeats them."""
        top, data = self.top, self.data
        current = top.get(PATIENT_AGE)
        if current is not None and current.vr == "AS" and self._plain_dates():
            raw = (self.encodings, data[current.value_start : current.value_end])
            valid = self.tables.valid_ages.get(raw)
            if valid is None:
                if len(self.tables.valid_ages) >= _AGES_LIMIT:
                    self.tables.valid_ages.clear()
                valid = self.tables.valid_ages[raw] = valid_age(self.top_value(PATIENT_AGE))
            if valid:
                return None
        key = (
            self.encodings,
            *[
                None if elem is None else (elem.vr, data[elem.value_start : elem.value_end])
                for elem in map(top.get, _AGE_TAGS)
            ],
        )
        ages = self.tables.ages
        age = ages.get(key, _NOT_YET)
        if age is _NOT_YET:
            if len(ages) >= _AGES_LIMIT:
                ages.clear()
            age = ages[key] = derived_age(
                self.top_value(PATIENT_AGE),
                self.top_value(BIRTH_DATE) or "",
                [self.top_value(tag) for tag in AGE_REFERENCE_DATES],
            )
        return age  # type: ignore[return-value]

    def _plain_dates(self) -> bool:
        """Whether the dates ``derived_age`` reads are absent or of VR DA, decoded as text."""
        top = self.top
        for tag in _AGE_DATES:
            elem = top.get(tag)
            if elem is not None and elem.vr != "DA":
                return False
        return not pydicom_config.datetime_conversion

    def _charset(self, elem: Element) -> tuple[str, ...]:
        value = converted_value(elem.tag, elem.vr, self.raw(elem), ("iso8859",))
        terms = [str(v).strip() for v in values_of(value)]
        allowed = _SINGLE_CHARSETS if len(terms) == 1 else _ALLOWED_CHARSETS
        if any(term not in allowed for term in terms):
            raise Unsupported("character set")
        encodings = tuple(convert_encodings(terms or [""]))
        if "UTF8" in encodings and _in_text(self.parsed.elements, self.data, _KELVIN_UTF8):
            raise Unsupported("a character that lowers to ASCII")
        return encodings

    # -- one dataset -------------------------------------------------------------------------
    def level(
        self,
        elements: list[Element],
        path: tuple[str, ...],
        mode: Mode,
        encodings: tuple[str, ...],
        *,
        top: bool = False,
    ) -> Level:
        scope = self.scope(elements, path, mode, encodings, top)
        out = scope.out
        chunks = out.chunks
        tables = self.tables
        ctx = self.ctx
        quick = tables.quick_for(ctx, path, mode, top)
        found = self.found
        implicit = self.implicit
        marks = list(INSERTED) if top else []
        next_mark = marks[0] if marks else _NO_MARK
        # A run of kept elements is one slice: the last chunk grows while the next element
        # starts where it ends (no ``out.copy`` call per element). Any other element between
        # two kept ones leaves a gap in the input, so the run then ends by itself.
        run_end = -1
        for elem in elements:
            tag = elem.tag
            if tag > next_mark:
                run_end = -1  # an insertion place: the run must not grow over it
                next_mark = _pass_marks(out, marks, tag)
            vr = elem.vr
            code = quick.get((tag, vr))
            if code is None:
                code = tables.quick_code(tag, vr, ctx, path, mode, top)
            if code is REMOVE:  # (inline: a third of the elements, private ones first)
                out.changed = True
                if top:
                    self.touched[tag] = (0, 0)
            elif code is not COPY:
                self.decided(scope, elem, code)
            elif found and id(elem) in found:
                raise Unsupported("audit: a value kept in place")
            elif implicit:
                self.converted(out, elem, encodings)
            elif elem.start == run_end:
                run_end = elem.end
                chunks[-1] = (chunks[-1][0], run_end)
            else:
                out.copy(elem.start, elem.end)
                run_end = elem.end
        return out

    def decided(self, scope: Scope, elem: Element, code: Quick) -> None:
        """An element emptied by the plan, or whose own route decides."""
        out = scope.out
        first = out.fence() if scope.top else 0
        if code is EMPTIED:
            # What `value_action` does for Action.EMPTY, without the route to it.
            if id(elem) in self.found:
                self.check_kept(elem, values_of(empty_value(elem.vr)))
            out.add(encode_empty(elem.tag, elem.vr, self.implicit))
        elif code is CONVERTED:
            # What `listed` does for an element it keeps as it is (PatientSex under a profile
            # that keeps it), without `element`'s route to it (0.66 us an element instead of 1.7:
            # measured on PatientSex).
            self.converted(out, elem, scope.encodings)
        elif code is AGE:
            # What `element` does for the top level's PatientAge that the plan keeps.
            if self.age:
                self.changed(out, elem, self.age, scope.encodings)
            else:
                self.converted(out, elem, scope.encodings)
        else:
            self.element(scope, elem)
        if scope.top:
            self.touched[elem.tag] = (first, out.fence())

    def scope(
        self,
        elements: list[Element],
        path: tuple[str, ...],
        mode: Mode,
        encodings: tuple[str, ...],
        top: bool,
    ) -> Scope:
        if not top:
            for elem in elements:
                if elem.tag == CHARSET and self._charset(elem) != self.encodings:
                    raise Unsupported("character set in an item")
        kept_private = (
            self.private_decisions(elements, encodings)
            if self.keeps_private and any(is_private(e.tag) for e in elements)
            else {}
        )
        # An item's own PatientID (and issuer): Other Patient IDs name another patient.
        item_ids = [e for e in elements if e.tag in (PATIENT_ID, ISSUER)] if path else []
        return Scope(Level(), path, mode, encodings, top, kept_private, item_ids)

    def element(self, scope: Scope, elem: Element) -> None:
        """An element the quick tables could not decide."""
        out, encodings = scope.out, scope.encodings
        if is_private(elem.tag):
            if id(elem) in scope.kept_private:
                self.keep_private(out, elem, scope.path, scope.mode, encodings)
            else:
                out.changed = True
            return
        if self.dropped(scope, elem):
            out.changed = True
            return
        if elem.vr == "UN":
            raise Unsupported("public UN")
        if scope.top and elem.tag == PATIENT_AGE and self.age:
            self.changed(out, elem, self.age, encodings)
            return
        rule = self.tables.rule_for(elem.tag)
        if rule is None:
            self.unlisted(out, elem, scope.path, scope.mode, encodings)
        else:
            self.listed(scope, elem, rule)

    def dropped(self, scope: Scope, elem: Element) -> bool:
        """Whether a public element goes whatever its rule: group lengths, the input's own
        de-identification record (veil writes its own), overlays whose data goes."""
        tag, group = elem.tag, elem.tag >> 16
        if tag & 0xFFFF == 0 or group == FILE_META_GROUP:
            return True
        if scope.top and (tag in RECORD_TAGS or tag == TEMPORAL):
            self.record_existing[tag] = elem
            return True
        if not 0x6000 <= group <= 0x60FF:
            return False
        if group in scope.removed_overlays:
            return True
        data_rule = self.tables.rule_for((group << 16) | 0x3000)
        if data_rule is not None and data_rule.action is not Action.KEEP:
            scope.removed_overlays.add(group)  # the whole overlay goes with its data
            return True
        return False

    def item_identity(
        self, elem: Element, item_ids: list[Element], encodings: tuple[str, ...]
    ) -> tuple[object, object] | None:
        """(PatientID, IssuerOfPatientID) of the nested item ``elem`` is in, when it has its
        own PatientID (veil.engine.handlers.pseudonym_source); None at the top level."""
        values = {e.tag: self.value(e, encodings) for e in item_ids}
        if PATIENT_ID not in values:
            return None
        if elem.tag > PATIENT_ID:
            # The reference walk has changed the item's PatientID by then (tag order).
            raise Unsupported("a pseudonym after an item's own PatientID")
        return values[PATIENT_ID], values.get(ISSUER, "")

    def check_kept(self, elem: Element, new_values: list[object] | None) -> None:
        idents = self.found.get(id(elem))
        if idents and fast_audit.kept_in_place(idents, new_values):
            raise Unsupported("audit: a value kept in place")

    def note(self, elem: Element, value: object) -> None:
        if elem.tag in _INTEREST and id(elem) in self.top_ids:
            self.outputs[elem.tag] = value

    # -- elements ----------------------------------------------------------------------------
    def copy(self, out: Level, elem: Element, encodings: tuple[str, ...]) -> None:
        if elem.tag in RISK_READ and self.top.get(elem.tag) is elem:
            if elem.tag in RISK_ALWAYS_READ:
                self.converted(out, elem, encodings)
                return
            raw = self.raw(elem)
            if (
                roundtrip(elem.tag, elem.vr, raw, encodings, self.implicit)
                != (self.data[elem.start : elem.end])
            ):
                raise Unsupported("a value the burned-in check may re-encode")
        if self.implicit:
            # The reference walk resolves the VR of an element read in implicit VR by
            # converting it (veil.engine.walk.Walker.unlisted): written back re-encoded.
            self.converted(out, elem, encodings)
            return
        self.check_kept(elem, None)
        if elem.tag in _INTEREST and id(elem) in self.top_ids:
            self.note(elem, self.value(elem, encodings))
        out.copy(elem.start, elem.end)

    def converted(self, out: Level, elem: Element, encodings: tuple[str, ...]) -> None:
        """An element the reference path converts and writes back without changing it."""
        self.check_kept(elem, None)
        if elem.tag in _INTEREST and id(elem) in self.top_ids:
            self.note(elem, self.value(elem, encodings))
        if elem.vr in _BYTES_VRS and not (elem.value_end - elem.value_start) % 2:
            out.copy(elem.start, elem.end)  # pydicom converts and writes these bytes as they are
            return
        data = roundtrip(elem.tag, elem.vr, self.raw(elem), encodings, self.implicit)
        if data == self.data[elem.start : elem.end]:
            out.copy(elem.start, elem.end)
        else:
            out.add(data)

    def changed(self, out: Level, elem: Element, new: object, encodings: tuple[str, ...]) -> None:
        if id(elem) in self.found:  # (most changed elements hold no identifier)
            self.check_kept(elem, values_of(new))
        self.note(elem, new)
        out.add(encode_value(elem.tag, elem.vr, new, encodings, self.implicit))

    def unlisted(
        self,
        out: Level,
        elem: Element,
        path: tuple[str, ...],
        mode: Mode,
        encodings: tuple[str, ...],
    ) -> None:
        vr = elem.vr
        if vr == "SQ":
            self.sequence(out, elem, path, mode, encodings)
            return
        if (
            vr == "UI"
            and Option.RETAIN_UIDS not in self.plan.options
            and not is_class_uid(elem.tag)
        ):
            values = values_of(self.value(elem, encodings))
            if needs_remap(values):
                self.changed(
                    out, elem, one_or_many(remap_instance_uids(values, self.ctx)), encodings
                )
            else:
                self.converted(out, elem, encodings)
            return
        if (
            mode is not Mode.PLAN
            and elem.tag not in CODE_TAGS
            and (vr in TEXT_VRS or vr in DATE_VRS or vr == "PN")
        ):
            if mode is Mode.DUMMY and self.plan.shift_dates and vr in ("DA", "DT"):
                # As the reference path: dates in dummied sequences move (Modified Dates).
                self.generic(out, elem, encodings, lambda item: shift_element(item, self.ctx))
            elif mode is Mode.DUMMY or vr == "PN":
                self.changed(out, elem, dummy_value(vr), encodings)
            elif vr in DATE_VRS:
                self.generic(out, elem, encodings, lambda item: shift_element(item, self.ctx))
            else:
                self.generic(out, elem, encodings, lambda item: clean_text(item, self.ctx))
            return
        if elem.tag == CODE_MEANING and (mode is Mode.CLEAN or _cleans_text(self.plan)):
            # As the reference path: code meanings are cleaned as free text (issue 18).
            self.generic(out, elem, encodings, lambda item: clean_text(item, self.ctx))
            return
        self.copy(out, elem, encodings)

    def listed(self, scope: Scope, elem: Element, rule: Rule) -> None:
        path, mode, encodings = scope.path, scope.mode, scope.encodings
        action = self.tables.action(rule, self.ctx, path, elem.tag, mode)
        vr = elem.vr
        if action is Action.REMOVE:
            scope.out.changed = True
        elif kept_as_it_is(action, vr):
            if vr == "SQ":
                self.sequence(scope.out, elem, path, mode, encodings)
            else:
                self.converted(scope.out, elem, encodings)
        elif vr == "SQ":
            self.sequence_action(scope, elem, action)
        else:
            self.value_action(scope, elem, rule, action)

    def sequence_action(self, scope: Scope, elem: Element, action: Action) -> None:
        """A listed sequence the plan does not keep as it is."""
        out, path, encodings = scope.out, scope.path, scope.encodings
        if action is Action.EMPTY:
            self.empty_sequence(out, elem)
        elif action is Action.DUMMY:
            self.sequence(out, elem, path, Mode.DUMMY, encodings)
        elif action is Action.UID:
            self.sequence(out, elem, path, scope.mode, encodings)
        elif action is Action.CLEAN:
            self.sequence(out, elem, path, Mode.CLEAN, encodings)
        else:
            raise Unsupported("sequence with a value action")

    def value_action(self, scope: Scope, elem: Element, rule: Rule, action: Action) -> None:
        """A listed element (not a sequence) whose value changes."""
        out, encodings, vr = scope.out, scope.encodings, elem.vr
        if action is Action.EMPTY:
            self.changed(out, elem, empty_value(vr), encodings)
        elif action is Action.DUMMY:
            self.changed(out, elem, dummy_value(vr), encodings)
        elif action is Action.UID:
            values = values_of(self.value(elem, encodings))
            self.changed(out, elem, one_or_many(remap_uids(values, self.ctx.mapper)), encodings)
        elif action is Action.PSEUDONYM:
            if not pseudonym_applies(elem.tag, vr):
                self.changed(out, elem, empty_value(vr), encodings)
                return
            identity = self.item_identity(elem, scope.item_ids, encodings)
            patient = pseudonym_source(self.ctx.patient, identity)
            self.changed(out, elem, self.ctx.mapper.patient_pseudonym(patient), encodings)
        elif action is Action.HASH:
            values = values_of(self.value(elem, encodings))
            new = hashed_values(elem.tag, vr, values, self.ctx.mapper)
            self.changed(out, elem, one_or_many(new), encodings)
        else:
            self.handled(scope, elem, rule, action)

    def handled(self, scope: Scope, elem: Element, rule: Rule, action: Action) -> None:
        """The reference handler itself, applied to the element alone in a dataset."""
        handler = HANDLERS[action]
        path, mode = scope.path, scope.mode

        def apply(item: Any) -> bool:
            ds = item_dataset[0]
            site = Site(ds, elem.tag, path, "", mode, rule)
            return handler.apply(self.walker, site, item).removed  # type: ignore[arg-type]

        item_dataset: list[Any] = []
        self.generic(scope.out, elem, scope.encodings, apply, item_dataset)

    def generic(
        self,
        out: Level,
        elem: Element,
        encodings: tuple[str, ...],
        change: Callable[[Any], Any],
        holder: list[Any] | None = None,
    ) -> None:
        """Apply a reference handler itself to the element, alone in a dataset."""
        ds = mini_dataset(elem.tag, elem.vr, self.raw(elem), encodings)
        if holder is not None:
            holder.append(ds)
        item = ds[elem.tag]
        if change(item) is True:  # removed by the handler
            out.changed = True
            return
        new = ds[elem.tag].value
        self.check_kept(elem, values_of(new))
        self.note(elem, new)
        out.add(write(ds[elem.tag], encodings, self.implicit))

    # -- private blocks ----------------------------------------------------------------------
    def private_decisions(
        self, elements: list[Element], encodings: tuple[str, ...]
    ) -> dict[int, Rule]:
        """The kept private elements of a level (by id) with their rule; creators of blocks
        that keep something are kept too."""
        if not self.keeps_private:
            return {}  # every private element goes (the basic profile without options)
        elements = [e for e in elements if is_private(e.tag)]
        creators: dict[tuple[int, int], tuple[str | None, Element]] = {}
        for elem in elements:
            if is_private_creator(elem.tag):
                value = self.value(elem, encodings)
                creators[(elem.tag >> 16, elem.tag & 0xFF)] = (
                    str(value).strip() if value else None,
                    elem,
                )
        kept: dict[int, Rule] = {}
        blocks: set[tuple[int, int]] = set()
        for elem in elements:
            group, element = elem.tag >> 16, elem.tag & 0xFFFF
            if is_private_creator(elem.tag) or element < 0x1000:
                continue
            creator = creators.get((group, element >> 8))
            name = creator[0] if creator else None
            rule = self.tables.private_rule(name, group, element & 0xFF)
            if rule.action is Action.CLEAN and elem.vr != "SQ":
                if not self.mask(elem, name, encodings):
                    continue  # not cleanable: removed, as the reference path does
            elif rule.action is not Action.KEEP:
                continue  # removed (a cleaned sequence too, as on the reference path)
            kept[id(elem)] = rule
            blocks.add((group, element >> 8))
        for (group, block), (_, elem) in creators.items():
            if (group, block) in blocks:
                kept[id(elem)] = Rule(Action.KEEP, "private creator")
        return kept

    def keep_private(
        self,
        out: Level,
        elem: Element,
        path: tuple[str, ...],
        mode: Mode,
        encodings: tuple[str, ...],
    ) -> None:
        if elem.vr == "UN":
            raise Unsupported("private UN kept")
        masked = self.masked.get(id(elem))
        if masked is not None:
            if masked == self.data[elem.start : elem.end]:
                out.copy(elem.start, elem.end)
            else:
                out.add(masked)
            return
        if is_private_creator(elem.tag):
            self.converted(out, elem, encodings)
            return
        if elem.vr == "SQ":
            self.sequence(out, elem, path, mode, encodings)
            return
        if elem.vr == "UI" and Option.RETAIN_UIDS not in self.plan.options:
            values = values_of(self.value(elem, encodings))
            if needs_remap(values):
                self.changed(out, elem, one_or_many(remap_uids(values, self.ctx.mapper)), encodings)
                return
        self.converted(out, elem, encodings)

    def mask(self, elem: Element, creator: str | None, encodings: tuple[str, ...]) -> bool:
        """Mask a kept private element's identifying values (veil.engine.blobs, the reference
        path's own step, on the element alone in a dataset) and keep its output bytes; False
        when it cannot be cleaned (the reference path then removes it)."""
        if elem.vr == "UN":
            raise Unsupported("private UN masked")
        ds = mini_dataset(elem.tag, elem.vr, self.raw(elem), encodings)
        item = ds[elem.tag]
        if not mask_element(item, creator, elem.tag & 0xFF, self.ctx.blob_needles):
            return False
        if isinstance(item.value, Sequence):
            raise Unsupported("a masked private sequence")
        if item.VR == "UI" and Option.RETAIN_UIDS not in self.plan.options:
            values = values_of(item.value)
            if needs_remap(values):
                item.value = one_or_many(remap_uids(values, self.ctx.mapper))
        self.check_kept(elem, values_of(item.value))
        self.masked[id(elem)] = write(item, encodings, self.implicit)
        return True

    # -- sequences ---------------------------------------------------------------------------
    def empty_sequence(self, out: Level, elem: Element) -> None:
        if elem.undefined:
            out.add(undefined_header(elem.tag, "SQ", self.implicit) + SEQUENCE_DELIMITER)
        else:
            out.add(header(elem.tag, "SQ", 0, self.implicit))

    def sequence(
        self,
        out: Level,
        elem: Element,
        path: tuple[str, ...],
        mode: Mode,
        encodings: tuple[str, ...],
    ) -> None:
        inner = (*path, sequence_name(elem.tag))
        items = [
            (item, self.level(item.elements, inner, mode, encodings)) for item in elem.items or ()
        ]
        if not any(level.changed for _, level in items):
            out.copy(elem.start, elem.end)
            return
        body: list[Chunk] = []
        for item, level in items:
            if item.undefined:
                body.append(b"\xfe\xff\x00\xe0\xff\xff\xff\xff")
                body.extend(level.chunks)
                body.append(ITEM_DELIMITER)
            else:
                body.append(item_header(chunk_length(level.chunks)))
                body.extend(level.chunks)
        if elem.undefined:
            out.add(undefined_header(elem.tag, "SQ", self.implicit))
            out.extend(body)
            out.add(SEQUENCE_DELIMITER)
        else:
            out.add(header(elem.tag, "SQ", chunk_length(body), self.implicit))
            out.extend(body)

    # -- the top level's additions -----------------------------------------------------------
    def finish_top(self, level: Level) -> list[Chunk]:
        """Insert the derived age and the de-identification record at their tag's place."""
        enc, imp = self.encodings, self.implicit
        additions: list[tuple[int, bytes]] = []
        if self.age and PATIENT_AGE not in self.top:
            additions.append((PATIENT_AGE, encode_value(PATIENT_AGE, "AS", self.age, enc, imp)))
        existing = self.record_existing
        codes = existing.get(METHOD_CODES)
        # The record's bytes follow from the plan and these alone: the same in every file of
        # a run (`finish_top` 7.3 us a file for basic's record, 10.1 for neuroquant's, 1.7
        # with the memo: measured on the benchmark corpus).
        key = (
            enc,
            imp,
            self.ctx.shifted,
            codes is not None and codes.undefined,
            *(existing[tag].vr if tag in existing else None for tag in RECORD_AND_TEMPORAL),
        )
        records = self.tables.records
        record = records.get(key)
        if record is None:
            if len(records) >= RECORDS_LIMIT:
                records.clear()
            record = records[key] = record_elements(self.plan, existing, self.ctx.shifted, enc, imp)
        additions.extend(record)
        self.added = additions
        chunks = list(level.chunks)
        places = dict(level.marks)
        for tag, data in sorted(additions, reverse=True):
            chunks.insert(places.get(tag, len(level.chunks)), data)
        return chunks


def ui_value(raw: bytes) -> str | list[str]:
    """A UI value as pydicom's converter gives it (trailing NULs and spaces dropped, split
    on backslashes), without building a dataset: UIDs differ in every file, so memoising
    pydicom's conversion would not help (tests compare the two)."""
    items = raw.decode("latin-1").rstrip("\0 ").split("\\")
    return items[0] if len(items) == 1 else items


def _identity(value: object) -> str:
    """A value of the patient's identity as `Patient.of` reads it (one value: a list would
    be read as its printed form there, which no one relies on: handed over)."""
    if isinstance(value, list):
        raise Unsupported("a patient identity attribute with several values")
    return "" if value is None else str(value)


def _meta_text(value: bytes) -> str:
    return value.decode("latin-1").rstrip("\0 ")


def _ui(tag: int, text: str) -> bytes:
    data = text.encode("ascii")
    if len(data) % 2:
        data += b"\0"
    return header(tag, "UI", len(data)) + data


def file_meta_bytes(sop_class: str, instance: str, syntax: str) -> bytes:
    """The file meta group as pydicom's write_file_meta_info writes veil's."""
    version = IMPLEMENTATION_VERSION.encode("ascii")
    if len(version) % 2:
        version += b" "
    body = (
        header(tag_of("FileMetaInformationVersion"), "OB", 2)
        + b"\x00\x01"
        + _ui(META_SOP_CLASS, sop_class)
        + _ui(tag_of("MediaStorageSOPInstanceUID"), instance)
        + _ui(tag_of("TransferSyntaxUID"), syntax)
        + _ui(tag_of("ImplementationClassUID"), IMPLEMENTATION_CLASS_UID)
        + header(tag_of("ImplementationVersionName"), "SH", len(version))
        + version
    )
    length = header(tag_of("FileMetaInformationGroupLength"), "UL", 4)
    return length + _L.pack(len(body)) + body


__all__ = ["Result", "Rewriter", "TopChanges", "file_meta_bytes"]


def _text_context(data: bytes, plan: Plan) -> TextContext:
    """The input's identifying values as the reference path's cleaner gets them (the audit's
    collector, veil.text forms): read with pydicom once, without pixel data, so that both
    paths clean text the same way."""
    original = dcmread(io.BytesIO(data), stop_before_pixels=True)
    return TextContext.of(identifying_values(original, plan.declared_options))


_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW"})
_BYTES_VRS = _BINARY_VRS | {"OB or OW"}


def _in_text(elements: list[Element], data: bytes, needle: bytes) -> bool:
    """Whether ``needle`` is in the value of an element that is not binary, at any level
    (binary values are read as latin-1 or ASCII by the audit: pixel data is not looked at)."""
    for elem in elements:
        if elem.items is not None:
            if any(_in_text(item.elements, data, needle) for item in elem.items):
                return True
        elif (
            elem.vr not in _BINARY_VRS and data.find(needle, elem.value_start, elem.value_end) >= 0
        ):
            return True
    return False


def _cleans_text(plan: Plan) -> bool:
    return (
        Option.CLEAN_DESCRIPTORS in plan.options or Option.CLEAN_STRUCTURED_CONTENT in plan.options
    )
