"""Auditing a de-identified file on its own, without the original it came from.

The common case for data received from elsewhere: nobody has the originals, so no value can be
searched for. What can still be judged from the file alone, by the standard's tables:

- an attribute Table E.1-1 removes (X, or a compound action that resolves to X for the file's
  IOD) that still carries a value;
- private elements outside the safe private list (Table E.3.10-1);
- instance UIDs under a known equipment or site root (the original UIDs, not replaced);
- Patient Identity Removed not YES, or no De-identification Method recorded;
- Burned In Annotation YES, and SOP classes that usually carry text in their pixels;
- names and dates in free text (the same heuristics as the paired audit).

Findings name the file, the element path and the kind, never a value (a private creator, which
names a vendor's dictionary, and an organisation's registered root are shown).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from functools import cache

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.uid import UID

from veil.audit.findings import Finding, Kind, Severity
from veil.audit.heuristics import suspicions
from veil.audit.identifiers import declared_options, effective_action, profile_row
from veil.audit.text_search import text_elements
from veil.audit.uid_roots import original_root
from veil.dicom import (
    FILE_META_GROUP,
    dictionary_vr,
    is_private,
    is_private_creator,
    names_instance,
    tag_text,
    text_values,
)
from veil.standard import Option, ProfileRow, iod_attribute_types, safe_private_rows

# SOP classes whose pixels usually show text (names, dates, measurements): secondary captures
# (screenshots), ultrasound, photographs, video, encapsulated documents. Picked from pydicom's
# registry by name, so new classes of these families are covered.
_BURNED_IN_FAMILIES = re.compile(
    r"Secondary Capture|Ultrasound|Photographic|Endoscopic|Video|Encapsulated PDF|"
    r"Ophthalmic Photography|Microscopic"
)


@cache
def likely_burned_in(sop_class: str) -> bool:
    """Whether images of this SOP class usually carry text in their pixels."""
    name = UID(sop_class).name if sop_class else ""
    return bool(_BURNED_IN_FAMILIES.search(name))


@cache
def _safe_private() -> frozenset[tuple[int, int, str]]:
    return frozenset((r.group, r.element_low, r.creator) for r in safe_private_rows())


def is_safe_private(group: int, element: int, creator: str) -> bool:
    """Whether (gggg,xxEE) of this creator is on the safe private list."""
    return (group, element & 0xFF, creator.strip()) in _safe_private()


def _must_remove(
    row: ProfileRow, options: frozenset[Option], types: dict[str, str] | None, key: str
) -> bool:
    """Whether the row's action, under the declared options and for this IOD, is removal
    (a compound X/Z, X/D... resolves to X unless the IOD makes the attribute type 1 or 2)."""
    action = effective_action(row, options)
    choices = action.replace("*", "").split("/")
    if "X" not in choices:
        return False
    attr_type = types.get(key) if types else None
    return not (attr_type in ("1", "2") and len(choices) > 1)


def _creator_text(value: object) -> str:
    """A private creator, shown: printable ASCII only, bounded (it names a vendor dictionary)."""
    text = "".join(ch for ch in "".join(text_values(value)) if 32 <= ord(ch) < 127)
    return text[:64] or "?"


@dataclass
class _Context:
    name: str
    options: frozenset[Option]
    types: dict[str, str] | None
    findings: list[Finding]

    def add(self, path: str, kind: Kind, form: str, severity: Severity) -> None:
        self.findings.append(Finding(self.name, path, kind, form, severity))


def _has_value(ds: Dataset, tag: int) -> bool:
    raw = ds.get_item(tag)
    value = getattr(raw, "value", None)
    if value is None:
        return False
    if isinstance(value, bytes | bytearray | str):
        return bool(
            bytes(value).strip(b" \x00") if not isinstance(value, str) else value.strip(" \x00")
        )
    try:
        return len(value) > 0
    except TypeError:
        return True


@dataclass
class _Blocks:
    """The private blocks of one dataset: their creators, and how many of their elements are
    outside the safe private list."""

    creators: dict[tuple[int, int], str] = field(default_factory=dict)
    unsafe: dict[tuple[int, int], int] = field(default_factory=dict)

    def note(self, ds: Dataset, tag: int) -> None:
        group = tag >> 16
        if is_private_creator(tag):
            self.creators[(group, tag & 0xFF)] = _creator_text(ds.get_item(tag).value)
            return
        block = (group, (tag >> 8) & 0xFF)
        creator = self.creators.get(block)
        if creator is None or not is_safe_private(group, tag, creator):
            self.unsafe[block] = self.unsafe.get(block, 0) + 1

    def report(self, ctx: _Context, where: str) -> None:
        for (group, block), _count in sorted(self.unsafe.items()):
            creator = self.creators.get((group, block))
            label = f"'{creator}'" if creator else "without a private creator"
            ctx.add(
                f"{where}({group:04X},{block:02X}xx) {label}",
                Kind.UNSAFE_PRIVATE,
                "private elements outside the safe private list (Table E.3.10-1)",
                Severity.WARNING,
            )


def _removed_but_present(ds: Dataset, tag: int, ctx: _Context, path: str, key: str) -> bool:
    row = profile_row(tag)
    if row is None or not _has_value(ds, tag) or not _must_remove(row, ctx.options, ctx.types, key):
        return False
    ctx.add(
        path,
        Kind.NOT_REMOVED,
        f"Table E.1-1 {row.basic}: must be removed, has a value",
        Severity.ERROR,
    )
    return True


def _walk(ds: Dataset, ctx: _Context, where: str, type_path: tuple[str, ...]) -> None:
    blocks = _Blocks()
    for tag in list(ds.keys()):
        if tag & 0xFFFF == 0 or tag >> 16 == FILE_META_GROUP:
            continue
        if is_private(tag):
            blocks.note(ds, tag)
            continue
        path = where + tag_text(tag)
        key = "/".join([*type_path, f"{tag:08X}"])
        if _removed_but_present(ds, tag, ctx, path, key):
            continue  # a removed sequence's items are not judged one by one
        vr = getattr(ds.get_item(tag), "VR", None) or dictionary_vr(tag)
        if vr != "SQ":
            continue
        try:
            items = ds[tag].value or []
        except Exception:  # an undecodable sequence: its items cannot be judged
            continue
        for index, item in enumerate(items):
            if isinstance(item, Dataset):
                # IOD types are keyed by the sequences' keywords, as the engine looks them up.
                name = keyword_for_tag(tag) or f"{tag:08X}"
                _walk(item, ctx, f"{path}[{index}].", (*type_path, name))
    blocks.report(ctx, where)


def _uids(ctx: _Context, output: Dataset) -> None:
    if Option.RETAIN_UIDS in ctx.options:
        return  # the output declares it kept the original UIDs
    for element in text_elements(output):
        if element.vr != "UI" or element.private:
            continue
        for value in element.text.split("\\"):
            value = value.strip(" \x00")
            if not names_instance(element.tag, value):
                continue
            owner = original_root(value)
            if owner is not None:
                ctx.add(
                    element.path,
                    Kind.ORIGINAL_UID,
                    f"UID under the root of {owner}: likely the original, not replaced",
                    Severity.ERROR,
                )
                break


def _declarations(ctx: _Context, output: Dataset) -> None:
    removed = str(output.get("PatientIdentityRemoved", "") or "").strip().upper()
    if removed != "YES":
        ctx.add(
            "(0012,0062)",
            Kind.NOT_DECLARED,
            "Patient Identity Removed is not YES"
            if removed
            else "Patient Identity Removed missing",
            Severity.WARNING,
        )
    if (
        "DeidentificationMethod" not in output
        and "DeidentificationMethodCodeSequence" not in output
    ):
        ctx.add(
            "(0012,0063)",
            Kind.NOT_DECLARED,
            "no De-identification Method recorded",
            Severity.WARNING,
        )
    burned = str(output.get("BurnedInAnnotation", "") or "").strip().upper()
    if burned == "YES":
        ctx.add("(0028,0301)", Kind.BURNED_IN, "Burned In Annotation is YES", Severity.ERROR)
    elif burned != "NO" and likely_burned_in(str(output.get("SOPClassUID", "") or "")):
        ctx.add(
            "(0008,0016)",
            Kind.BURNED_IN,
            "SOP class that usually carries text in its pixels; Burned In Annotation not NO",
            Severity.WARNING,
        )


def audit_alone(output: Dataset, name: str, *, heuristics: bool = True) -> list[Finding]:
    """Everything the standard's tables say about ``output`` without its original. Never
    raises: a file that cannot be judged gets one audit-incomplete error."""
    findings: list[Finding] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            options = declared_options(output)
            types = iod_attribute_types().get(str(output.get("SOPClassUID", "") or ""))
            ctx = _Context(name, options, types, findings)
            _walk(output, ctx, "", ())
            _uids(ctx, output)
            _declarations(ctx, output)
            if heuristics:
                findings.extend(
                    Finding(name, s.element.path, Kind(s.kind), s.form, Severity.WARNING)
                    for s in suspicions(list(text_elements(output)))
                )
    except Exception as exc:
        return [
            Finding(
                name,
                "",
                Kind.AUDIT_INCOMPLETE,
                f"the audit could not complete ({type(exc).__name__})",
                Severity.ERROR,
            )
        ]
    findings.sort(key=lambda f: (f.severity is not Severity.ERROR, f.path, f.kind.value))
    return findings
