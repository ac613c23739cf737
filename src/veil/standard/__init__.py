"""The DICOM standard's confidentiality tables, shipped as package data.

- Table E.1-1 (PS3.15 Annex E, edition 2024b, 621 rows) from innolitics/dicom-standard;
- Table E.3.10-1 Safe Private Attributes (older edition, 130 rows), keyed by private creator;
- IOD attribute types (1/2/3) for the attributes with compound actions, derived from the
  PS3.3 tables that highdicom ships (``scripts/generate_iod_types.py``).

See ``data/SOURCES.md`` for provenance; ``scripts/regenerate_standard.py`` refreshes the copies.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib.resources import files

EDITION = "2024b"
TABLE_SOURCE = "innolitics/dicom-standard standard/confidentiality_profile_attributes.json"
SAFE_PRIVATE_EDITION = "older edition (about 2018-2020)"


class Option(str, Enum):
    """The standard's named de-identification options (PS3.15 E.3), with their CID 7050 codes."""

    BASIC = "basic"
    RETAIN_SAFE_PRIVATE = "retain-safe-private"
    RETAIN_UIDS = "retain-uids"
    RETAIN_DEVICE_IDENTITY = "retain-device-identity"
    RETAIN_INSTITUTION_IDENTITY = "retain-institution-identity"
    RETAIN_PATIENT_CHARACTERISTICS = "retain-patient-characteristics"
    RETAIN_LONG_FULL_DATES = "retain-longitudinal-full-dates"
    RETAIN_LONG_MODIFIED_DATES = "retain-longitudinal-modified-dates"
    CLEAN_DESCRIPTORS = "clean-descriptors"
    CLEAN_STRUCTURED_CONTENT = "clean-structured-content"
    CLEAN_GRAPHICS = "clean-graphics"
    CLEAN_PIXEL_DATA = "clean-pixel-data"
    CLEAN_RECOGNIZABLE_VISUAL_FEATURES = "clean-recognizable-visual-features"

    @property
    def code(self) -> str:
        return _OPTION_CODES[self][0]

    @property
    def meaning(self) -> str:
        return _OPTION_CODES[self][1]

    @property
    def column(self) -> str | None:
        """The column of Table E.1-1 for this option (None for options without one)."""
        return _OPTION_COLUMNS.get(self)


_OPTION_CODES: dict[Option, tuple[str, str]] = {
    Option.BASIC: ("113100", "Basic Application Confidentiality Profile"),
    Option.CLEAN_PIXEL_DATA: ("113101", "Clean Pixel Data Option"),
    Option.CLEAN_RECOGNIZABLE_VISUAL_FEATURES: (
        "113102",
        "Clean Recognizable Visual Features Option",
    ),
    Option.CLEAN_GRAPHICS: ("113103", "Clean Graphics Option"),
    Option.CLEAN_STRUCTURED_CONTENT: ("113104", "Clean Structured Content Option"),
    Option.CLEAN_DESCRIPTORS: ("113105", "Clean Descriptors Option"),
    Option.RETAIN_LONG_FULL_DATES: (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    Option.RETAIN_LONG_MODIFIED_DATES: (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    Option.RETAIN_PATIENT_CHARACTERISTICS: ("113108", "Retain Patient Characteristics Option"),
    Option.RETAIN_DEVICE_IDENTITY: ("113109", "Retain Device Identity Option"),
    Option.RETAIN_UIDS: ("113110", "Retain UIDs Option"),
    Option.RETAIN_SAFE_PRIVATE: ("113111", "Retain Safe Private Option"),
    Option.RETAIN_INSTITUTION_IDENTITY: ("113112", "Retain Institution Identity Option"),
}

_OPTION_COLUMNS: dict[Option, str] = {
    Option.RETAIN_SAFE_PRIVATE: "rtnSafePrivOpt",
    Option.RETAIN_UIDS: "rtnUIDsOpt",
    Option.RETAIN_DEVICE_IDENTITY: "rtnDevIdOpt",
    Option.RETAIN_INSTITUTION_IDENTITY: "rtnInstIdOpt",
    Option.RETAIN_PATIENT_CHARACTERISTICS: "rtnPatCharsOpt",
    Option.RETAIN_LONG_FULL_DATES: "rtnLongFullDatesOpt",
    Option.RETAIN_LONG_MODIFIED_DATES: "rtnLongModifDatesOpt",
    Option.CLEAN_DESCRIPTORS: "cleanDescOpt",
    Option.CLEAN_STRUCTURED_CONTENT: "cleanStructContOpt",
    Option.CLEAN_GRAPHICS: "cleanGraphOpt",
}

# Order in which option columns override the basic profile when several apply. Retain options
# come after clean options: "C" of Clean Descriptors then "K" of Retain Device Identity gives K,
# as PS3.15 E.3 says retaining wins where the user asked to retain.
OPTION_PRECEDENCE: tuple[Option, ...] = (
    Option.CLEAN_DESCRIPTORS,
    Option.CLEAN_STRUCTURED_CONTENT,
    Option.CLEAN_GRAPHICS,
    Option.RETAIN_SAFE_PRIVATE,
    Option.RETAIN_UIDS,
    Option.RETAIN_DEVICE_IDENTITY,
    Option.RETAIN_INSTITUTION_IDENTITY,
    Option.RETAIN_PATIENT_CHARACTERISTICS,
    Option.RETAIN_LONG_MODIFIED_DATES,
    Option.RETAIN_LONG_FULL_DATES,
)


@dataclass(frozen=True)
class TagPattern:
    """A tag or tag range of Table E.1-1: (50XX,XXXX), (60XX,4000), odd groups."""

    group: int
    element: int
    group_mask: int = 0xFFFF
    element_mask: int = 0xFFFF
    odd_groups: bool = False

    def matches(self, tag: int) -> bool:
        group, element = tag >> 16, tag & 0xFFFF
        if self.odd_groups:
            return bool(group & 1)
        return (group & self.group_mask) == self.group and (
            element & self.element_mask
        ) == self.element

    @property
    def exact(self) -> bool:
        return not self.odd_groups and self.group_mask == 0xFFFF and self.element_mask == 0xFFFF

    @property
    def tag(self) -> int:
        return (self.group << 16) | self.element


def parse_tag_pattern(text: str) -> TagPattern:
    text = text.strip().upper()
    if "WHERE GGGG IS ODD" in text:
        return TagPattern(0, 0, 0, 0, odd_groups=True)
    group_text, element_text = text.strip("()").split(",")

    def part(value: str) -> tuple[int, int]:
        mask = int("".join("0" if ch == "X" else "F" for ch in value), 16)
        number = int(value.replace("X", "0"), 16)
        return number, mask

    group, group_mask = part(group_text)
    element, element_mask = part(element_text)
    return TagPattern(group, element, group_mask, element_mask)


@dataclass(frozen=True)
class ProfileRow:
    """One row of Table E.1-1."""

    name: str
    tag_text: str
    pattern: TagPattern
    basic: str
    options: tuple[tuple[Option, str], ...]

    def option_action(self, option: Option) -> str | None:
        for candidate, action in self.options:
            if candidate is option:
                return action
        return None


def _data(name: str) -> str:
    return files("veil.standard").joinpath("data", name).read_text(encoding="utf-8")


@cache
def profile_rows() -> tuple[ProfileRow, ...]:
    """All 621 rows of Table E.1-1 of the shipped edition."""
    rows = []
    for raw in json.loads(_data("confidentiality_profile_attributes.json")):
        options = tuple(
            (option, raw[option.column])
            for option in Option
            if option.column and raw.get(option.column)
        )
        rows.append(
            ProfileRow(
                name=raw["name"],
                tag_text=raw["tag"],
                pattern=parse_tag_pattern(raw["tag"]),
                basic=raw["basicProfile"],
                options=options,
            )
        )
    return tuple(rows)


@dataclass(frozen=True)
class SafePrivate:
    """A row of Table E.3.10-1: an element of a private block that is safe to keep."""

    group: int
    element_low: int  # the low byte (xxEE): the block byte is assigned per file
    creator: str
    vr: str
    meaning: str


@cache
def safe_private_rows() -> tuple[SafePrivate, ...]:
    rows = []
    for raw in csv.DictReader(_data("safe_private_attributes.csv").splitlines()):
        rows.append(
            SafePrivate(
                group=int(raw["group"], 16),
                element_low=int(raw["element"][-2:], 16),
                creator=raw["private_creator"].strip(),
                vr=raw["vr"].strip(),
                meaning=raw["meaning"].strip(),
            )
        )
    return tuple(rows)


@cache
def iod_attribute_types() -> dict[str, dict[str, str]]:
    """SOP Class UID -> {tag hex 'GGGGEEEE' -> strongest top-level type '1'|'2'|'3'}.

    Only for attributes whose Table E.1-1 action is compound; generated from highdicom's
    copy of PS3.3 by scripts/generate_iod_types.py.
    """
    data: dict[str, dict[str, str]] = json.loads(_data("iod_attribute_types.json"))["types"]
    return data
