"""Applying a plan to every element of a pydicom dataset, at every nesting level (the reference
path; veil.engine.fast is the streaming one).

Elements the plan keeps are left as the raw bytes pydicom read (never decoded, never
re-encoded), which is why pixel data, kept private blobs and text in any character set
come out byte for byte. Each listed element goes to the handler of its action
(veil.engine.handlers); this module decides which rule applies where: public elements,
overlays, attributes Table E.1-1 does not list, and (in veil.engine.private) private blocks.
"""

from __future__ import annotations

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from veil.dicom import (
    DATE_VRS,
    FILE_META_GROUP,
    TEXT_VRS,
    dictionary_vr,
    is_class_uid,
    is_private,
    is_registered_uid,
    tag_of,
    tag_text,
    values_of,
)
from veil.engine.context import Context, Decision, Mode
from veil.engine.handlers import (
    SET_SUMMARY,
    Site,
    clean_text,
    effective_action,
    handler_for,
    one_or_many,
    shift_element,
)
from veil.engine.private import walk_private
from veil.engine.values import dummy_value
from veil.policy.model import Action
from veil.standard import Option

CODE_MEANING = 0x00080104  # cleaned as text when a Clean option is on (issue 18)
# Code sequence attributes: never dummied or cleaned inside replaced structured content.
CODE_TAGS = frozenset(
    tag_of(keyword)
    for keyword in (
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "CodeMeaning",
        "MappingResource",
        "ContextGroupVersion",
        "ContextGroupLocalVersion",
        "ContextGroupExtensionFlag",
        "ContextGroupExtensionCreatorUID",
        "ContextIdentifier",
        "ContextUID",
        "MappingResourceUID",
        "LongCodeValue",
        "URNCodeValue",
        "EquivalentCodeSequence",
        "MappingResourceName",
        "ValueType",
    )
)
UNLISTED = "kept: not listed in Table E.1-1"


def show(elem: DataElement | None) -> str:
    """A value as `veil explain` shows it (only to the person who asked)."""
    if elem is None:
        return "(absent)"
    if elem.VR == "SQ":
        return f"<sequence of {len(elem.value)} item(s)>"
    value = elem.value
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    text = str(value) if value is not None else ""
    return text if len(text) <= 60 else text[:57] + "..."


def sequence_name(tag: int) -> str:
    return keyword_for_tag(tag) or f"{tag:08X}"


def needs_remap(values: list[object]) -> bool:
    return any(str(v) and not is_registered_uid(str(v)) for v in values)


def remap_instance_uids(values: list[object], ctx: Context) -> list[object]:
    """Instance UIDs keyed, well-known UIDs of the standard kept."""
    return [
        ctx.mapper.uid(str(v)) if str(v) and not is_registered_uid(str(v)) else v for v in values
    ]


class Walker:
    """Walks one dataset tree, applying the plan; ``walk`` is the entry point."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def record(self, where: str, tag: int, before: str, after: str, why: str, does: str) -> None:
        if self.ctx.recorder is not None:
            self.ctx.recorder(Decision(where, tag, before, after, why, does))

    def descend(self, elem: DataElement, path: tuple[str, ...], where: str, mode: Mode) -> None:
        name = sequence_name(elem.tag)
        for index, item in enumerate(elem.value):
            self.walk(item, (*path, name), f"{where}[{index}].", mode)

    # -- one listed element ----------------------------------------------------------------
    def apply(self, site: Site) -> None:
        action, why = effective_action(site.rule, self.ctx, site.path, site.tag, site.mode)
        handler = handler_for(action)
        elem = site.ds[site.tag]
        before = show(elem) if self.ctx.recorder else ""
        applied = handler.apply(self, site, elem)
        if self.ctx.recorder:
            after = "(removed)" if applied.removed else show(site.ds.get(site.tag))
            self.record(site.where, site.tag, before, after, why + applied.note, handler.describe())

    # -- an element Table E.1-1 does not list ----------------------------------------------
    def unlisted(
        self, ds: Dataset, tag: int, path: tuple[str, ...], where: str, mode: Mode
    ) -> None:
        """Kept, but looked into: sequences walked, instance UIDs keyed, and text replaced
        inside dummied or cleaned structured content."""
        raw = ds.get_item(tag)
        vr = raw.VR
        if vr in (None, "UN"):
            # Raw elements read as UN (e.g. a sequence written by a tool that did not know it)
            # are only resolved by pydicom when accessed: a UN that is really a sequence must
            # be walked like one, or the identifiers inside it would be missed.
            vr = ds[tag].VR
        recording = self.ctx.recorder is not None
        if vr == "SQ":
            if recording:
                self.record(where, tag, show(ds[tag]), show(ds[tag]), UNLISTED, "items walked")
            self.descend(ds[tag], path, where, mode)
            return
        if vr == "UI" and Option.RETAIN_UIDS not in self.ctx.plan.options and not is_class_uid(tag):
            elem = ds[tag]
            values = values_of(elem.value)
            if needs_remap(values):
                before = show(elem) if recording else ""
                elem.value = one_or_many(remap_instance_uids(values, self.ctx))
                self.record(
                    where,
                    tag,
                    before,
                    show(elem) if recording else "",
                    "not in Table E.1-1, but an instance UID: replaced by a keyed UID",
                    handler_for(Action.UID).describe(),
                )
                return
        elif self._text_in_sequence(ds, tag, vr, where, mode):
            return
        if recording:
            self.record(where, tag, show(ds[tag]), show(ds[tag]), UNLISTED, "kept as it is")

    def _text_in_sequence(self, ds: Dataset, tag: int, vr: str, where: str, mode: Mode) -> bool:
        """Text, names and dates inside dummied or cleaned structured content, and code
        meanings when text is cleaned; True when the element was handled here."""
        plan = self.ctx.plan
        cleans_text = (
            Option.CLEAN_DESCRIPTORS in plan.options
            or Option.CLEAN_STRUCTURED_CONTENT in plan.options
        )
        if (
            mode is not Mode.PLAN
            and tag not in CODE_TAGS
            and (vr in TEXT_VRS or vr in DATE_VRS or vr == "PN")
        ):
            elem = ds[tag]
            before = show(elem) if self.ctx.recorder is not None else ""
            if mode is Mode.DUMMY and plan.shift_dates and elem.VR in ("DA", "DT"):
                # Modified Dates: a date inside a sequence the profile replaces by dummies (a
                # type 1 date of Content or Verifying Observer Sequence) moves with the
                # patient's other dates instead of becoming 19000101 (issue 18).
                shift_element(elem, self.ctx)
                why, does = (
                    "inside a sequence, shifted (dates)",
                    handler_for(Action.CLEAN).describe(),
                )
            elif mode is Mode.DUMMY:
                elem.value = dummy_value(elem.VR)
                why, does = "inside a sequence replaced by a dummy", "replaced by a dummy value"
            else:
                if elem.VR == "PN":
                    elem.value = dummy_value("PN")
                elif elem.VR in DATE_VRS:
                    shift_element(elem, self.ctx)
                else:
                    clean_text(elem, self.ctx)
                why = "inside cleaned structured content"
                does = handler_for(Action.CLEAN).describe()
        elif tag == CODE_MEANING and (mode is Mode.CLEAN or cleans_text):
            # Code meanings are free text in disguise: a requested procedure's meaning can
            # carry the referring physician's name. Code values and schemes stay (issue 18).
            elem = ds[tag]
            before = show(elem) if self.ctx.recorder is not None else ""
            clean_text(elem, self.ctx)
            why, does = "code meaning cleaned", handler_for(Action.CLEAN).describe()
        else:
            return False
        self.record(
            where, tag, before, show(elem) if self.ctx.recorder is not None else "", why, does
        )
        return True

    # -- one dataset (top level or an item) --------------------------------------------------
    def walk(self, ds: Dataset, path: tuple[str, ...], where: str, mode: Mode = Mode.PLAN) -> None:
        plan = self.ctx.plan
        tags = list(ds.keys())
        private = [t for t in tags if is_private(t)]
        if private:
            walk_private(self, ds, private, path, where, mode)
        removed_overlays: set[int] = set()
        recording = self.ctx.recorder is not None
        for tag in tags:
            group = tag >> 16
            if group & 1:
                continue
            here = f"{where}{tag_text(tag)}"
            if tag & 0xFFFF == 0 or group == FILE_META_GROUP:
                # Group lengths are recomputed by the writer; the file meta is rebuilt.
                if recording:
                    self.record(
                        here,
                        tag,
                        show(ds[tag]),
                        "(removed)",
                        "group length or file meta element: rebuilt by the writer",
                        "removed",
                    )
                del ds[tag]
                continue
            if 0x6000 <= group <= 0x60FF:
                if group in removed_overlays:
                    if recording:
                        self.record(
                            here,
                            tag,
                            show(ds[tag]),
                            "(removed)",
                            "the whole overlay group goes with its data",
                            "removed",
                        )
                    del ds[tag]
                    continue
                data_rule = plan.rule_for((group << 16) | 0x3000)
                if data_rule is not None and data_rule.action is not Action.KEEP:
                    # Overlay data goes, so the whole overlay goes: an overlay plane without its
                    # data would make the object invalid.
                    removed_overlays.add(group)
                    before = show(ds[tag]) if recording else ""
                    del ds[tag]
                    self.record(
                        here,
                        tag,
                        before,
                        "(removed)",
                        data_rule.source + " (the whole overlay group goes with its data)",
                        "removed",
                    )
                    continue
            rule = plan.rule_for(tag)
            if rule is None:
                self.unlisted(ds, tag, path, here, mode)
            else:
                self.apply(Site(ds, tag, path, here, mode, rule))

    def add_missing(self, ds: Dataset) -> None:
        """The policy's `set` values for attributes the dataset lacks (top level only)."""
        for tag, value, source in self.ctx.plan.additions:
            if tag not in ds:
                ds.add_new(tag, dictionary_vr(tag), value)
                self.record(tag_text(tag), tag, "(absent)", value, source + " (added)", SET_SUMMARY)
