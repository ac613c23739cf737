"""What a policy says: a base profile, options, overrides and destination requirements."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from veil.pixels.settings import PixelSettings
from veil.standard import Option


class Action(str, Enum):
    """What happens to one attribute. The first seven are PS3.15's codes; the rest are veil's."""

    KEEP = "K"
    REMOVE = "X"
    EMPTY = "Z"
    DUMMY = "D"
    UID = "U"
    CLEAN = "C"
    REPLACE = "replace"  # a fixed value given in the policy
    HASH = "hash"  # a keyed hash of the value (same value -> same hash under one key)
    SHIFT = "shift"  # dates and date-times moved back by the patient's offset; times kept
    PSEUDONYM = "pseudonym"  # the patient pseudonym (PatientID, PatientName)
    SET = "set"  # a fixed value given in the policy, added when the attribute is absent
    DERIVE_AGE = "derive-age"  # keep PatientAge, derive it from birth date + study date if absent


@dataclass(frozen=True)
class Choice:
    """A compound code of Table E.1-1 ("X/Z/D", "X/Z/U*"): the engine picks one of ``actions``
    per attribute, by the attribute's type in the object's IOD (see veil.engine.handlers)."""

    code: str  # as the table writes it, shown by `veil explain`
    actions: tuple[Action, ...]

    @property
    def value(self) -> str:
        return self.code


def parse_action(code: str) -> Action | Choice:
    """A Table E.1-1 cell ("X", "X/Z/U*") as an Action, or a Choice among several."""
    if "/" not in code:
        return Action(code)
    return Choice(code, tuple(Action(part.rstrip("*")) for part in code.split("/")))


# The words a policy file may use for an override action.
OVERRIDE_WORDS: dict[str, Action] = {
    "keep": Action.KEEP,
    "remove": Action.REMOVE,
    "empty": Action.EMPTY,
    "dummy": Action.DUMMY,
    "replace": Action.REPLACE,
    "set": Action.SET,
    "hash": Action.HASH,
    "shift": Action.SHIFT,
    "uid": Action.UID,
    "clean": Action.CLEAN,
    "pseudonym": Action.PSEUDONYM,
}


@dataclass(frozen=True)
class PrivateSelector:
    """A private element named by its creator: stable across files, unlike its element number."""

    creator: str
    group: int | None = None  # None: any odd group carrying this creator
    element: int | None = None  # the low byte (0x00-0xFF); None: the whole block

    def describe(self) -> str:
        group = f"{self.group:04X}" if self.group is not None else "gggg"
        element = f"xx{self.element:02X}" if self.element is not None else "xxxx"
        return f'private "{self.creator}" ({group},{element})'


@dataclass(frozen=True)
class Override:
    """One per-attribute override of the policy file."""

    action: Action
    tag: int | None = None  # a public attribute (or exact private tag)
    private: PrivateSelector | None = None
    value: str | None = None  # for REPLACE and SET
    line: int = 0  # line in the policy file, for explanations and errors
    label: str = ""  # how the file named it, for explanations


class Layout(str, Enum):
    """How `veil deid` names its output files (a policy may choose; --layout wins)."""

    MIRROR = "mirror"  # the input tree, file names kept
    HIERARCHY = "hierarchy"  # patient/study/series/instance.dcm, named by pseudonyms


@dataclass(frozen=True)
class RequirementRef:
    """A destination profile a policy names: a built-in name, or a YAML file (resolved
    against the policy file's folder), with its line for errors."""

    name: str
    line: int = 0


@dataclass(frozen=True)
class Policy:
    name: str
    source: str  # "built-in basic" or the file path
    options: frozenset[Option] = frozenset()
    overrides: tuple[Override, ...] = ()
    requirements: tuple[RequirementRef, ...] = ()  # merged with `--for` when compiled
    description: str = ""
    layout: Layout | None = None  # the output layout this policy asks for, if any
    meta: dict[str, str] = field(default_factory=dict)
    pixels: PixelSettings = field(default_factory=PixelSettings)  # burned-in text
