"""The small DICOM helpers veil needs everywhere, written once.

What the data dictionary says about a tag (`dictionary_vr`, `keyword_vr`, `tag_of`,
`tag_text`, `describe_tag`), how to look at a value (`values_of`, `text_values`), named sets
of VRs, the Age String form, private-creator slots, and the one answer to "does this UID name
a class (kept) or an instance (replaced, searched for by the audit)?" (`is_class_uid`).

Pure functions on tags and values; no I/O, no pydicom configuration. Tags are plain ``int``
(``0xGGGGEEEE``, as pydicom's ``BaseTag`` is), named by keyword through `tag_of`, which fails at
import time on a misspelt keyword rather than silently matching nothing.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any

# pydicom 3.0's table of registered UIDs; `pydicom.uid` imports it from here without
# re-exporting it, so importing it there fails a strict type check.
from pydicom._uid_dict import UID_dictionary
from pydicom.datadict import dictionary_description, dictionary_VR, keyword_for_tag
from pydicom.datadict import tag_for_keyword as _tag_for_keyword
from pydicom.multival import MultiValue

# ---- tags -----------------------------------------------------------------------------------

FILE_META_GROUP = 0x0002
# A sequence or item whose length is not given: it runs to its delimiter (PS3.5 7.1.3).
UNDEFINED_LENGTH = 0xFFFFFFFF


@cache
def tag_of(keyword: str) -> int:
    """The tag of a data dictionary keyword; KeyError names a keyword the dictionary lacks."""
    tag = _tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"{keyword!r} is not a DICOM data dictionary keyword")
    return int(tag)


@lru_cache(maxsize=16384)  # called for every element the audit walks
def tag_text(tag: int) -> str:
    """``(GGGG,EEEE)``, the way the standard writes a tag."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def describe_tag(tag: int) -> str:
    """``(GGGG,EEEE) Keyword`` (or the dictionary's name where there is no keyword)."""
    return f"{tag_text(tag)} {keyword_for_tag(tag) or dictionary_name(tag)}"


def dictionary_name(tag: int) -> str:
    """The dictionary's name of a tag, else its ``(GGGG,EEEE)`` text."""
    try:
        return str(dictionary_description(tag))
    except KeyError:
        return tag_text(tag)


def is_private(tag: int) -> bool:
    return bool((tag >> 16) & 1)


def is_private_creator(tag: int) -> bool:
    """(gggg,0010)-(gggg,00FF) of an odd group: a slot that names a private block's creator."""
    return is_private(tag) and 0x0010 <= (tag & 0xFFFF) <= 0x00FF


# ---- VRs ------------------------------------------------------------------------------------


@cache
def dictionary_vr(tag: int) -> str:
    """The data dictionary's VR of a tag; "UN" for a tag it does not know (private ones).

    Repeating-group and ambiguous VRs come back as the dictionary writes them ("US or SS").
    """
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def keyword_vr(keyword: str) -> str:
    """The dictionary's VR of an attribute by keyword; "UN" for an unknown keyword."""
    tag = _tag_for_keyword(keyword)
    return "UN" if tag is None else dictionary_vr(int(tag))


# Every VR whose value is a character string (PS3.5 6.2), numbers in text form included.
STRING_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM"}
    | {"UC", "UI", "UR", "UT"}
)
# Descriptive text: what Clean Descriptors cleans and free text is searched in.
TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
# Long free text only (no short labels): where a name or a date written in prose hides.
FREE_TEXT_VRS = frozenset({"ST", "LT", "UT", "UC"})
# Dates and times, which the Retain Longitudinal options shift.
DATE_VRS = frozenset({"DA", "DT", "TM"})

# Age String: three digits and a unit, Days, Weeks, Months or Years (PS3.5 6.2, AS).
AGE_PATTERN = re.compile(r"^\d{3}[DWMY]$")

# ---- values ---------------------------------------------------------------------------------


def values_of(value: object) -> list[Any]:
    """An element value as a list: [] for None, the items of a multi-value, else [value]."""
    if value is None:
        return []
    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


def text_values(value: object) -> list[str]:
    """The non-empty values as text: bytes read as Latin-1, padding (spaces, NUL) removed."""
    out = []
    for item in values_of(value):
        text = item.decode("latin-1") if isinstance(item, bytes | bytearray) else str(item)
        text = text.strip(" \x00")
        if text:
            out.append(text)
    return out


# ---- UIDs -----------------------------------------------------------------------------------

# Attributes whose UID names a class, a format or a published resource: the same for every
# patient, kept by every profile (remapping them would break what they name).
#
# MappingResourceUID (0008,0118) names a mapping resource such as DCMR, the same way
# CodingSchemeUID names a coding scheme: a class, kept (and not searched for by the audit).
#
# ContextGroupExtensionCreatorUID (0008,010D) is NOT a class: it identifies the person or
# organisation that extended a context group, like TemplateExtensionCreatorUID (0040,DB0D),
# which Table E.1-1 replaces (U), and InstanceCreatorUID (0008,0014), also U. No "...CreatorUID"
# is a class UID: a creator is a party, and a party can identify a site.
_CLASS_UID_SUFFIXES = ("ClassUID", "TransferSyntaxUID", "CodingSchemeUID", "MappingResourceUID")


@cache
def is_class_uid(tag: int) -> bool:
    """Whether the UID attribute ``tag`` names a class or resource (kept) rather than an
    instance, a device or a party (replaced by a keyed UID, searched for by the audit)."""
    keyword = keyword_for_tag(tag) or ""
    return keyword.endswith(_CLASS_UID_SUFFIXES)


def is_registered_uid(value: str) -> bool:
    """A UID of the standard's registry (PS3.6 Annex A): a SOP class, transfer syntax, ..."""
    return value in UID_dictionary


def names_instance(tag: int, value: str) -> bool:
    """Whether ``value`` of UID attribute ``tag`` identifies something of this patient's data:
    not empty, not a registered UID, and not in an attribute that names a class."""
    return bool(value) and not is_registered_uid(value) and not is_class_uid(tag)
