"""Applying a plan to every element of a dataset, at every nesting level.

Elements the plan keeps are left as the raw bytes pydicom read (never decoded, never
re-encoded), which is why pixel data, kept private blobs and text in any character set
come out byte for byte.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydicom._uid_dict import UID_dictionary  # pydicom.uid does not re-export it
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from veil.dicom import is_class_uid as _is_class_uid  # one answer, shared with the audit
from veil.engine.values import (
    DATE_VRS,
    TEXT_VRS,
    TextCleaner,
    age_string,
    date_forms,
    dummy_value,
    name_forms,
    parse_da,
    shift_da,
    shift_dt,
)
from veil.errors import DeidentificationError
from veil.mapping import Mapper, Patient
from veil.policy.model import Action
from veil.policy.plan import Plan, Rule
from veil.standard import Option, iod_attribute_types

# (path, tag, before, after, rule) for `veil explain`; only called when explaining.
Recorder = Callable[[str, int, str, str, str], None]

_CODE_TAGS = frozenset(
    {
        0x00080100,
        0x00080102,
        0x00080103,
        0x00080104,
        0x00080105,
        0x00080106,
        0x00080107,
        0x0008010B,
        0x0008010D,
        0x0008010F,
        0x00080117,
        0x00080118,
        0x00080119,
        0x00080120,
        0x00080121,
        0x00080122,
        0x0040A040,
    }
)
_IDENTIFYING_SOURCES = (
    0x00100010,
    0x00100020,
    0x00100030,
    0x00080050,
    0x00200010,  # Study ID: turns up in labels and descriptions
    0x00080080,
    0x00080090,
    0x00081050,
    0x00081060,
    0x00081070,
    0x00100050,
    0x00101000,
    0x00101001,
    0x00101060,
    0x00321032,
    0x00080081,
)
_AGE_FORM = re.compile(r"^\d{3}[DWMY]$")
_AGE_REFERENCE_DATES = (0x00080020, 0x00080021, 0x00080022, 0x00080023)


@cache
def vr_of(tag: int) -> str:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@dataclass
class Context:
    """Per-dataset state: the plan, the key, and values computed once from the top level."""

    plan: Plan
    mapper: Mapper
    sop_class: str
    patient: Patient
    recorder: Recorder | None = None
    shifted: bool = False
    _offset: int | None = None
    _cleaner: TextCleaner | None = None
    identifying: list[str] = field(default_factory=list)
    # Identifying values of the input as bytes, longest first: masked inside private elements
    # the plan cleans ("C"), such as a vendor's binary header kept for a destination.
    blob_needles: tuple[bytes, ...] = ()

    @property
    def offset(self) -> int:
        if self._offset is None:
            self._offset = self.mapper.date_offset_days(self.patient)
        return self._offset

    @property
    def cleaner(self) -> TextCleaner:
        if self._cleaner is None:
            self._cleaner = TextCleaner(self.identifying)
        return self._cleaner


def _identifying_values(ds: Dataset) -> list[str]:
    values: list[str] = []
    for tag in _IDENTIFYING_SOURCES:
        if tag not in ds:
            continue
        raw = ds[tag].value
        items = raw if isinstance(raw, MultiValue | list) else [raw]
        for item in items:
            if item is None:
                continue
            text = str(item)
            values.append(text)
            if vr_of(tag) == "PN":
                values.extend(name_forms(text))
            if vr_of(tag) == "DA":
                values.extend(date_forms(text))
            if text.lstrip("0") and text.lstrip("0") != text:
                values.append(text.lstrip("0"))
    return values


_BLOB_TEXT_VRS = frozenset({"PN", "LO", "SH", "ST", "LT", "UT", "UC", "AE", "CS"})


def blob_needles(ds: Dataset, plan: Plan) -> tuple[bytes, ...]:
    """What to mask inside cleaned private elements: every instance UID, date and (by the
    plan) removed text value of the input, at any level, 4 bytes or longer."""
    found: set[str] = set()

    def walk(dataset: Dataset) -> None:
        for elem in dataset:
            if elem.VR == "SQ":
                for item in elem.value or ():
                    walk(item)
                continue
            for value in _values(elem):
                if value is None or isinstance(value, bytes | bytearray):
                    continue
                text = str(value).strip()
                if elem.VR == "UI":
                    if text not in UID_dictionary and not _is_class_uid(elem.tag):
                        found.add(text)
                elif elem.VR in ("DA", "DT"):
                    found.add(text[:8])
                elif elem.VR in _BLOB_TEXT_VRS and not elem.tag.is_private:
                    rule = plan.rule_for(elem.tag)
                    if rule is not None and rule.action != "K":
                        found.add(text)
                        if elem.VR == "PN":
                            found.update(name_forms(text))

    walk(ds)
    needles = {text.encode("latin-1", "ignore") for text in found}
    return tuple(sorted((n for n in needles if len(n) >= 4), key=len, reverse=True))


def _mask(elem: DataElement, needles: tuple[bytes, ...]) -> None:
    """Replace each needle by as many X: lengths and the vendor's structure stay intact."""
    value = elem.value
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
        for needle in needles:
            data = data.replace(needle, b"X" * len(needle))
        elem.value = data
    elif isinstance(value, str):
        for needle in needles:
            text = needle.decode("latin-1")
            value = value.replace(text, "X" * len(text))
        elem.value = value
    elif isinstance(value, MultiValue | list):
        masked = []
        for item in value:
            text = str(item)
            for needle in needles:
                plain = needle.decode("latin-1")
                text = text.replace(plain, "X" * len(plain))
            masked.append(text)
        _set_values(elem, masked)


def _compound(code: str, ctx: Context, path: tuple[str, ...], tag: int) -> tuple[str, str]:
    """Choose among X/Z/D/U* by the attribute's type in the IOD (1: D or U, 2: Z, 3/absent: X)."""
    types = iod_attribute_types().get(ctx.sop_class)
    key = "/".join([*path, f"{tag:08X}"])
    attr_type = types.get(key) if types else None
    choices = code.replace("*", "").split("/")
    if attr_type == "1":
        for pick in ("D", "U", "Z"):
            if pick in choices:
                return pick, "type 1 in this IOD"
    if attr_type == "2":
        # U (keep the sequence, remap the UIDs inside) before Z: an emptied reference
        # sequence is valid but loses the links that processing follows.
        for pick in ("U", "Z", "D"):
            if pick in choices:
                return pick, "type 2 in this IOD"
    if "X" in choices:
        reason = "type 3 in this IOD" if attr_type else "not in this IOD (or unknown IOD)"
        return "X", reason
    return ("Z" if "Z" in choices else choices[0]), "no removal allowed; unknown type"


def _values(elem: DataElement) -> list[object]:
    value = elem.value
    if value is None:
        return []
    if isinstance(value, MultiValue | list):
        return list(value)
    return [value]


def _set_values(elem: DataElement, values: list[Any]) -> None:
    elem.value = values[0] if len(values) == 1 else values


def _show(elem: DataElement | None) -> str:
    if elem is None:
        return "(absent)"
    if elem.VR == "SQ":
        return f"<sequence of {len(elem.value)} item(s)>"
    value = elem.value
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    text = str(value) if value is not None else ""
    return text if len(text) <= 60 else text[:57] + "..."


def _remap_uids(elem: DataElement, ctx: Context) -> None:
    _set_values(elem, [ctx.mapper.uid(str(v)) if str(v) else v for v in _values(elem)])


def _empty(elem: DataElement) -> None:
    if elem.VR == "SQ":
        elem.value = Sequence()
    elif elem.VR in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
        elem.value = b""
    elif elem.VR in ("US", "SS", "UL", "SL", "FL", "FD", "UV", "SV", "AT"):
        elem.value = None
    else:
        elem.value = ""


class Walker:
    """Walks one dataset tree, applying the plan; ``apply`` is the entry point."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    # -- per element ------------------------------------------------------------------
    def _record(self, path: str, tag: int, before: str, after: str, source: str) -> None:
        if self.ctx.recorder is not None:
            self.ctx.recorder(path, tag, before, after, source)

    def _shift(self, elem: DataElement) -> None:
        days = self.ctx.offset
        if elem.VR == "TM":
            return
        shifter = shift_da if elem.VR == "DA" else shift_dt
        new: list[object] = []
        for value in _values(elem):
            shifted = shifter(str(value), days)
            if shifted is None:  # not a date: it cannot be moved safely, so it goes
                _empty(elem)
                return
            new.append(shifted)
        if new:
            _set_values(elem, new)
        self.ctx.shifted = True

    def _clean(
        self, ds: Dataset, elem: DataElement, rule: Rule, path: tuple[str, ...], where: str
    ) -> bool:
        """Clean in place; False when this kind of value cannot be cleaned safely."""
        vr = elem.VR
        if vr in ("DA", "DT"):
            self._shift(elem)
        elif vr in ("TM", "AS", "CS", "IS", "DS", "US", "SS", "UL", "SL", "FL", "FD"):
            pass
        elif vr in TEXT_VRS:
            _set_values(elem, [self.ctx.cleaner.clean(str(v)) for v in _values(elem)])
        elif vr == "UI":
            _remap_uids(elem, self.ctx)
        elif vr == "SQ":
            for index, item in enumerate(elem.value):
                self.walk(
                    item,
                    (*path, keyword_for_tag(elem.tag) or f"{elem.tag:08X}"),
                    f"{where}[{index}].",
                    mode="clean",
                )
        else:
            return False
        return True

    def _apply(
        self, ds: Dataset, tag: int, rule: Rule, path: tuple[str, ...], where: str, mode: str
    ) -> None:
        action, why = rule.action, rule.source
        if rule.compound:
            action, reason = _compound(action, self.ctx, path, tag)
            why = f"{why} -> {action} ({reason})"
        if (
            action == "C"
            and mode != "clean"
            and self.ctx.plan.shift_dates
            and vr_of(tag) in DATE_VRS
        ):
            action = Action.SHIFT.value
        elem = ds[tag]
        before = _show(elem) if self.ctx.recorder else ""
        if action == "X":
            del ds[tag]
            self._record(where, tag, before, "(removed)", why)
            return
        if action == "K":
            self._keep(ds, elem, path, where, mode)
        elif action == "Z":
            _empty(elem)
        elif action == "D":
            if elem.VR == "SQ":
                self._descend(elem, path, where, "dummy")
            else:
                elem.value = dummy_value(elem.VR)
        elif action == "U":
            if elem.VR == "SQ":
                self._descend(elem, path, where, mode)
            else:
                _remap_uids(elem, self.ctx)
        elif action == "C":
            if not self._clean(ds, elem, rule, path, where):
                fallback = rule.fallback
                if "/" in fallback:
                    fallback, _ = _compound(fallback, self.ctx, path, tag)
                why = f"{why}; cannot clean a {elem.VR} value safely -> basic action {fallback}"
                if fallback == "X":
                    del ds[tag]
                    self._record(where, tag, before, "(removed)", why)
                    return
                if fallback == "Z":
                    _empty(elem)
                else:
                    elem.value = dummy_value(elem.VR)
        elif action == Action.SHIFT.value:
            if elem.VR in ("DA", "DT", "TM"):
                self._shift(elem)
            else:
                why += f"; a {elem.VR} value is not a date -> emptied"
                _empty(elem)
        elif action == Action.PSEUDONYM.value:
            if elem.VR == "PN" or tag == 0x00100020 or elem.VR in ("LO", "SH"):
                # The top level is the dataset's patient (read before the walk changed it);
                # a nested item with its own PatientID (Other Patient IDs) is that patient.
                patient = self.ctx.patient
                if path and "PatientID" in ds:
                    patient = Patient(
                        str(ds.get("PatientID", "") or ""),
                        str(ds.get("IssuerOfPatientID", "") or ""),
                        patient.study_uid,
                        patient.instance_uid,
                    )
                elem.value = self.ctx.mapper.patient_pseudonym(patient)
            else:
                _empty(elem)
        elif action == Action.HASH.value:
            limit = {"SH": 16, "CS": 16, "AE": 16}.get(elem.VR, 52)
            _set_values(
                elem,
                [
                    self.ctx.mapper.hashed_value(f"hash:{tag:08X}", str(v), limit)
                    for v in _values(elem)
                ],
            )
        elif action in (Action.REPLACE.value, Action.SET.value):
            elem.value = rule.value
        elif action == Action.DERIVE_AGE.value:
            pass  # kept; derivation when absent happens once at the top level
        else:
            raise DeidentificationError(f"unknown action {action!r} for {_tag_text(tag)}")
        if self.ctx.recorder:
            self._record(where, tag, before, _show(ds.get(tag)), why)

    def _descend(self, elem: DataElement, path: tuple[str, ...], where: str, mode: str) -> None:
        name = keyword_for_tag(elem.tag) or f"{elem.tag:08X}"
        for index, item in enumerate(elem.value):
            self.walk(item, (*path, name), f"{where}[{index}].", mode=mode)

    def _keep(
        self, ds: Dataset, elem: DataElement, path: tuple[str, ...], where: str, mode: str
    ) -> None:
        if elem.VR == "SQ":
            self._descend(elem, path, where, mode)

    # -- per dataset ------------------------------------------------------------------
    def _unlisted(
        self, ds: Dataset, tag: int, path: tuple[str, ...], where: str, mode: str
    ) -> None:
        """An attribute Table E.1-1 does not list: kept, but looked into."""
        raw = ds.get_item(tag)
        vr = raw.VR
        if vr in (None, "UN"):
            # Raw elements read as UN (e.g. a sequence written by a tool that did not know it)
            # are only resolved by pydicom when accessed: a UN that is really a sequence must
            # be walked like one, or the identifiers inside it would be missed.
            vr = ds[tag].VR
        if vr == "SQ":
            self._descend(ds[tag], path, where, mode)
        elif (
            vr == "UI"
            and Option.RETAIN_UIDS not in self.ctx.plan.options
            and not _is_class_uid(tag)
        ):
            elem = ds[tag]
            values = _values(elem)
            if any(str(v) and str(v) not in UID_dictionary for v in values):
                before = _show(elem) if self.ctx.recorder else ""
                _set_values(
                    elem,
                    [
                        self.ctx.mapper.uid(str(v))
                        if str(v) and str(v) not in UID_dictionary
                        else v
                        for v in values
                    ],
                )
                self._record(
                    where,
                    tag,
                    before,
                    _show(elem),
                    "not in Table E.1-1, but an instance UID: replaced by a keyed UID",
                )
        elif (
            mode == "dummy"
            and tag not in _CODE_TAGS
            and (vr in TEXT_VRS or vr in DATE_VRS or vr == "PN")
        ):
            elem = ds[tag]
            before = _show(elem) if self.ctx.recorder else ""
            elem.value = dummy_value(elem.VR)
            self._record(where, tag, before, _show(elem), "inside a sequence replaced by a dummy")
        elif (
            mode == "clean"
            and tag not in _CODE_TAGS
            and (vr in TEXT_VRS or vr in DATE_VRS or vr == "PN")
        ):
            elem = ds[tag]
            before = _show(elem) if self.ctx.recorder else ""
            if elem.VR == "PN":
                elem.value = dummy_value("PN")
            elif elem.VR in DATE_VRS:
                self._shift(elem)
            else:
                _set_values(elem, [self.ctx.cleaner.clean(str(v)) for v in _values(elem)])
            self._record(where, tag, before, _show(elem), "inside cleaned structured content")

    def _private(
        self, ds: Dataset, tags: Collection[int], path: tuple[str, ...], where: str, mode: str
    ) -> None:
        creators: dict[tuple[int, int], str | None] = {}
        for tag in tags:
            if 0x0010 <= tag & 0xFFFF <= 0x00FF:
                value = ds[tag].value
                creators[(tag >> 16, tag & 0xFF)] = str(value).strip() if value else None
        kept_blocks: set[tuple[int, int]] = set()
        plan = self.ctx.plan
        for tag in tags:
            group, element = tag >> 16, tag & 0xFFFF
            if 0x0010 <= element <= 0x00FF:
                continue
            if element < 0x1000:  # group length or reserved: never identifying data worth keeping
                del ds[tag]
                continue
            block = element >> 8
            creator = creators.get((group, block))
            rule = plan.private_rule(creator, group, element & 0xFF)
            here = f"{where}{_tag_text(tag)}"
            before = _show(ds[tag]) if self.ctx.recorder else ""
            if rule.action == Action.CLEAN.value and ds[tag].VR != "SQ":
                _mask(ds[tag], self.ctx.blob_needles)
            elif rule.action != "K":
                del ds[tag]
                self._record(here, tag, before, "(removed)", rule.source)
                continue
            kept_blocks.add((group, block))
            raw = ds.get_item(tag)
            vr = raw.VR
            if vr in (None, "UN"):
                vr = ds[tag].VR  # resolved through pydicom's private dictionary if known
            if vr == "SQ" or isinstance(ds[tag].value, Sequence):
                self._descend(ds[tag], path, here, mode)
            elif vr == "UI" and Option.RETAIN_UIDS not in plan.options:
                elem = ds[tag]
                if any(str(v) and str(v) not in UID_dictionary for v in _values(elem)):
                    _remap_uids(elem, self.ctx)
            self._record(here, tag, before, _show(ds.get(tag)), rule.source)
        for (group, block), _creator in creators.items():
            if (group, block) not in kept_blocks:
                del ds[(group << 16) | block]

    def walk(self, ds: Dataset, path: tuple[str, ...], where: str, mode: str = "plan") -> None:
        plan = self.ctx.plan
        tags = list(ds.keys())
        private = [t for t in tags if (t >> 16) & 1]
        if private:
            self._private(ds, private, path, where, mode)
        removed_overlays: set[int] = set()
        for tag in tags:
            group = tag >> 16
            if group & 1:
                continue
            if (
                tag & 0xFFFF == 0 or group == 0x0002
            ):  # group lengths; file meta belongs to file_meta
                del ds[tag]
                continue
            if 0x6000 <= group <= 0x60FF:
                if group in removed_overlays:
                    del ds[tag]
                    continue
                data_rule = plan.rule_for((group << 16) | 0x3000)
                if data_rule is not None and data_rule.action not in ("K",):
                    # Overlay data goes, so the whole overlay goes: an overlay plane without its
                    # data would make the object invalid.
                    removed_overlays.add(group)
                    before = _show(ds[tag]) if self.ctx.recorder else ""
                    del ds[tag]
                    self._record(
                        f"{where}{_tag_text(tag)}",
                        tag,
                        before,
                        "(removed)",
                        data_rule.source + " (the whole overlay group goes with its data)",
                    )
                    continue
            rule = plan.rule_for(tag)
            here = f"{where}{_tag_text(tag)}"
            if rule is None:
                self._unlisted(ds, tag, path, here, mode)
            else:
                self._apply(ds, tag, rule, path, here, mode)

    def add_missing(self, ds: Dataset) -> None:
        """The policy's `set` values for attributes the dataset lacks (top level only)."""
        for tag, value, source in self.ctx.plan.additions:
            if tag not in ds:
                ds.add_new(tag, vr_of(tag), value)
                self._record(_tag_text(tag), tag, "(absent)", value, source + " (added)")

    def derive_age(self, ds: Dataset) -> None:
        """Fill PatientAge from birth date and the earliest study/series date, when absent."""
        current = ds.get("PatientAge", None)
        # A valid age stays; an invalid one ("99", "22Y") is replaced when the birth date
        # allows, since the birth date is removed afterwards and the age would be lost.
        if current is not None and _AGE_FORM.match(str(current).strip()):
            return
        birth = parse_da(str(ds.get("PatientBirthDate", "") or ""))
        if birth is None:
            return
        for tag in _AGE_REFERENCE_DATES:
            if tag in ds and ds[tag].value:
                on = parse_da(str(ds[tag].value))
                if on is None:
                    continue  # an unparsable date: try the next reference date
                age = age_string(birth, on)
                if age:
                    ds.PatientAge = age
                    self._record(
                        "(0010,1010)",
                        0x00101010,
                        "(absent or invalid)",
                        age,
                        "derived from birth date and study date (requirement)",
                    )
                return
