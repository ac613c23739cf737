"""Autocomplete for the studio's overrides: attributes by keyword, tag or name, with their VR,
their type in an IOD, what Table E.1-1 does to them, and which compound action applies.

Built once per console from pydicom's data dictionary, the shipped Table E.1-1 and the IOD
attribute types (PS3.3, via highdicom), and the private creators veil knows (Table E.3.10-1
and the destination profiles).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from pydicom._dicom_dict import DicomDictionary  # pydicom.datadict does not re-export it
from pydicom._uid_dict import UID_dictionary  # pydicom.uid does not re-export it
from pydicom.datadict import tag_for_keyword

from veil.check.catalog import ProfileCatalog
from veil.dicom import tag_text
from veil.standard import (
    EDITION,
    ProfileRow,
    iod_attribute_type,
    iod_attribute_types,
    profile_rows,
    safe_private_rows,
)

MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


@dataclass(frozen=True)
class AttributeInfo:
    keyword: str
    tag: int
    name: str
    vr: str
    basic: str  # Table E.1-1's basic profile action, "" when not listed (kept)
    options: tuple[tuple[str, str], ...]  # (option, action) columns of its row
    iod_type: str  # "type 2 (patient module, mandatory)" in the chosen IOD, or "not in it"
    compound: str  # the compound action's choice in that IOD, in words, or ""

    @property
    def tag_text(self) -> str:
        return tag_text(self.tag)

    def label(self) -> str:
        """One line for an autocomplete list."""
        parts = [self.tag_text, self.vr, self.iod_type]
        parts.append(f"E.1-1: {self.basic}" if self.basic else "not in E.1-1")
        if self.compound:
            parts.append(self.compound)
        return f"{self.keyword} — " + ", ".join(parts)


def choose_compound(code: str, attr_type: str | None) -> tuple[str, str]:
    """The engine's choice among X/Z/D/U* by type in the IOD (type 1: D or U; 2: U, Z or D;
    3 or absent: X); mirrors veil.engine.handlers.resolve_choice, which a test holds it to."""
    choices = code.replace("*", "").split("/")
    if attr_type == "1":
        for pick in ("D", "U", "Z"):
            if pick in choices:
                return pick, "type 1 in this IOD"
    if attr_type == "2":
        for pick in ("U", "Z", "D"):
            if pick in choices:
                return pick, "type 2 in this IOD"
    if "X" in choices:
        return "X", "type 3 in this IOD" if attr_type else "not in this IOD (or unknown IOD)"
    return ("Z" if "Z" in choices else choices[0]), "no removal allowed; unknown type"


_TAG = re.compile(r"^\(?\s*([0-9A-Fa-f]{4})\s*,\s*([0-9A-Fa-f]{4})\s*\)?$")


def _parse_tag(text: str) -> int | None:
    """A tag as a policy writes it: "(0010,1010)" or "0010,1010" (as the loader reads it)."""
    match = _TAG.match(text.strip())
    return int(match.group(1) + match.group(2), 16) if match else None


@cache
def _rows() -> dict[int, ProfileRow]:
    return {row.pattern.tag: row for row in profile_rows() if row.pattern.exact}


@cache
def _public() -> tuple[tuple[str, int, str, str], ...]:
    """(keyword, tag, name, VR) of every public attribute pydicom knows, by keyword."""
    found = []
    for tag, entry in DicomDictionary.items():
        vr, _vm, name, retired, keyword = entry
        if keyword and not retired:
            found.append((keyword, int(tag), name, vr))
    return tuple(sorted(found))


def iod_choices() -> list[tuple[str, str]]:
    """(SOP Class UID, its name) of every IOD veil knows the attribute types of."""
    names = []
    for uid in iod_attribute_types():
        entry = UID_dictionary.get(uid)
        names.append((uid, str(entry[0]) if entry else uid))
    return sorted(names, key=lambda pair: pair[1])


def describe(tag: int, sop_class: str = MR_IMAGE) -> AttributeInfo | None:
    """What the studio shows about one public attribute, for one IOD."""
    entry = DicomDictionary.get(tag)
    if entry is None:
        return None
    vr, _vm, name, _retired, keyword = entry
    row = _rows().get(tag)
    # The engine chooses compound actions by the types in iod_attribute_types.json.
    compound_type = iod_attribute_types().get(sop_class, {}).get(f"{tag:08X}")
    compound = ""
    if row is not None and "/" in row.basic:
        pick, why = choose_compound(row.basic, compound_type)
        compound = f"{row.basic} -> {pick} ({why})"
    found = iod_attribute_type(sop_class, tag)
    return AttributeInfo(
        keyword=keyword or tag_text(tag),
        tag=tag,
        name=name,
        vr=vr,
        basic=row.basic if row is not None else "",
        options=tuple((option.value, action) for option, action in row.options) if row else (),
        iod_type=found.describe() if found is not None else "not in this IOD",
        compound=compound,
    )


def lookup(text: str, sop_class: str = MR_IMAGE) -> AttributeInfo | None:
    """An attribute named by keyword or tag, as a policy names it."""
    text = text.strip()
    tag = _parse_tag(text)
    if tag is None:
        tag = tag_for_keyword(text)
    return describe(tag, sop_class) if tag is not None else None


def search(query: str, sop_class: str = MR_IMAGE, limit: int = 15) -> list[AttributeInfo]:
    """Attributes whose keyword starts with ``query``, then those whose keyword or name holds
    it, or whose tag matches it ("0010,10", "(0010,1010)")."""
    text = query.strip()
    if not text:
        return []
    lowered = text.lower()
    digits = "".join(c for c in lowered if c in "0123456789abcdef")
    tag_like = len(digits) >= 4 and all(c in "0123456789abcdef(), " for c in lowered)
    first: list[int] = []
    then: list[int] = []
    for keyword, tag, name, _vr in _public():
        if keyword.lower().startswith(lowered):
            first.append(tag)
        elif lowered in keyword.lower() or lowered in name.lower():
            then.append(tag)
        elif tag_like and f"{tag:08x}".startswith(digits):
            first.append(tag)
        if len(first) >= limit:
            break
    found = [describe(tag, sop_class) for tag in [*first, *then][:limit]]
    return [info for info in found if info is not None]


def private_creators(catalog: ProfileCatalog) -> list[str]:
    """The private creators veil knows: the safe private list, and the destination profiles."""
    creators = {row.creator for row in safe_private_rows()}
    for name in catalog.names():
        creators |= {creator for creator, _need in catalog.get(name).private_creators()}
    return sorted(creators)


def edition() -> str:
    return EDITION


__all__ = [
    "MR_IMAGE",
    "AttributeInfo",
    "choose_compound",
    "describe",
    "edition",
    "iod_choices",
    "lookup",
    "private_creators",
    "search",
]
