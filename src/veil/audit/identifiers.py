"""Collecting the identifying values of an input dataset: what the audit searches for.

A value is collected when Table E.1-1 (with the options the output declares it applied, see
``declared_options``) does not keep its attribute, at every nesting level; plus every person
name (PN) and every text value of a private element. Values the profile keeps are never
collected, so kept attributes cannot produce findings; values the engine replaces (pseudonyms,
shifted dates, keyed UIDs) differ from the input's and do not match.

Each value gets a *kind* (what it is) and a *strength*; weak values (too short, too common, the
engine's own dummies) are only checked at their own place, see ``is_weak``.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache

from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as PydicomSequence

from veil.audit.findings import Kind, Severity
from veil.dicom import (
    FILE_META_GROUP,
    STRING_VRS,
    UNDEFINED_LENGTH,
    dictionary_vr,
    is_private,
    is_private_creator,
    names_instance,
    tag_of,
    tag_text,
    text_values,
)
from veil.standard import OPTION_PRECEDENCE, Option, ProfileRow, profile_rows

# Tag -> kind for the patient's own identifiers and the site's; the rest go by VR or option.
_KIND_BY_KEYWORD: dict[str, Kind] = {
    "PatientName": Kind.PATIENT_NAME,
    "OtherPatientNames": Kind.PATIENT_NAME,
    "PatientBirthName": Kind.PATIENT_NAME,
    "PatientMotherBirthName": Kind.PATIENT_NAME,
    "PatientID": Kind.PATIENT_ID,
    "OtherPatientIDs": Kind.PATIENT_ID,
    "MedicalRecordLocator": Kind.PATIENT_ID,
    "AdmissionID": Kind.PATIENT_ID,
    "PatientBirthDate": Kind.BIRTH_DATE,
    "AccessionNumber": Kind.ACCESSION,
    "IssuerOfAccessionNumberSequence": Kind.ACCESSION,
}
_KIND_BY_TAG: dict[int, Kind] = {tag_of(k): kind for k, kind in _KIND_BY_KEYWORD.items()}
_WARNING_KINDS = frozenset({Kind.CHARACTERISTIC, Kind.DESCRIPTOR, Kind.PRIVATE})
# Whole values that identify nobody: placeholders people type and the engine's own dummies.
STOP_WORDS = frozenset(
    " ".join(
        (
            "anonymized anonymised anonymous anon unknown none null nil n/a na removed deleted",
            "empty blank test phantom patient doctor physician operator name first last middle",
            "mid pre dicom yes no original primary secondary derived other mr ct pt nm us head",
            "brain research hospital university department center centre clinic medical",
            "imaging 19000101 19000101000000 000000 000y 0 1",
        )
    ).split()
)
# Numbers and binary values cannot be searched meaningfully as text, and a time of day alone
# identifies no one (see docs/audit.md): values of these VRs are never collected.
_NEVER_SEARCHED = frozenset(
    " ".join(("US SS UL SL FL FD UV SV AT", "OW OF OD OL OV IS DS TM")).split()
)
# The string VRs whose values are collected as text: not numbers in text form (DS, IS), not
# ages (AS: a characteristic, see _kind), not times (never searched), not UIDs (collected
# when they name an instance, see veil.dicom.names_instance).
COLLECTED_TEXT_VRS = STRING_VRS - {"AS", "DS", "IS", "TM", "UI"}
# Minimum estimated information for a value to be searched anywhere in decoded text, and in
# raw bytes; below these a value is only checked at its own place (see docs/audit.md).
TEXT_MIN_BITS = 13.0
RAW_MIN_BITS = 19.0


@dataclass(frozen=True)
class Identifier:
    """One identifying value of the input. ``value`` is never shown, logged or reported."""

    kind: Kind
    source: str  # the input element path, e.g. (0040,0275)[0].(0032,1060)
    tag: int
    vr: str
    value: str = field(repr=False)
    severity: Severity = Severity.ERROR
    # (sequence tag, item index) steps from the top level to the element's dataset
    steps: tuple[tuple[int, int], ...] = ()


# Dictionary VRs whose value bytes read as text (or a sequence pydicom decodes from UN).
_RETYPED_FROM_UN = frozenset(
    {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "SQ", "ST", "TM"}
    | {"UC", "UI", "UR", "UT"}
)


@dataclass(frozen=True)
class _RowIndex:
    exact: dict[int, ProfileRow]
    patterns: tuple[ProfileRow, ...]

    def row(self, tag: int) -> ProfileRow | None:
        found = self.exact.get(tag)
        if found is not None:
            return found
        for candidate in self.patterns:
            if candidate.pattern.matches(tag):
                return candidate
        return None


@cache
def _rows() -> _RowIndex:
    exact: dict[int, ProfileRow] = {}
    patterns: list[ProfileRow] = []
    for row in profile_rows():
        if row.pattern.odd_groups:
            continue
        if row.pattern.exact:
            exact[row.pattern.tag] = row
        else:
            patterns.append(row)
    return _RowIndex(exact, tuple(patterns))


def profile_row(tag: int) -> ProfileRow | None:
    """The Table E.1-1 row for a public tag (None when the table does not list it)."""
    return _rows().row(tag)


def effective_action(row: ProfileRow, options: frozenset[Option]) -> str:
    """The row's action under the given options, by the same precedence as the policy compiler."""
    action = row.basic
    for option in OPTION_PRECEDENCE:
        if option in options:
            action = row.option_action(option) or action
    return action


_OPTION_BY_CODE = {option.code: option for option in Option}


def declared_options(output: Dataset) -> frozenset[Option]:
    """The options an output says it applied, from (0012,0064) (CID 7050 codes).

    Only the standard's named options count: a policy's own overrides are not declared, so an
    override that keeps an identifying attribute is always caught.
    """
    options: set[Option] = set()
    for item in output.get("DeidentificationMethodCodeSequence", None) or []:
        option = _OPTION_BY_CODE.get(str(item.get("CodeValue", "") or "").strip())
        if option is not None and option is not Option.BASIC:
            options.add(option)
    return frozenset(options)


def _kind(tag: int, vr: str, row: ProfileRow) -> Kind:
    known = _KIND_BY_TAG.get(tag)
    if known is not None:
        return known
    options = dict(row.options)
    keyword = keyword_for_tag(tag) or ""
    if options.get(Option.RETAIN_INSTITUTION_IDENTITY) == "K":
        return Kind.INSTITUTION
    if options.get(Option.RETAIN_PATIENT_CHARACTERISTICS) == "K":
        return Kind.CHARACTERISTIC
    if vr in ("DA", "DT"):
        return Kind.DATE
    if vr == "UI":
        return Kind.UID
    if vr == "PN":
        return (
            Kind.PHYSICIAN
            if ("Physician" in keyword or "Operator" in keyword)
            else Kind.PERSON_NAME
        )
    if re.search("Address|Telephone|Phone|Mail", keyword):
        return Kind.CONTACT
    if options.get(Option.RETAIN_DEVICE_IDENTITY) == "K":
        return Kind.DEVICE
    if options.get(Option.CLEAN_DESCRIPTORS) == "C":
        return Kind.DESCRIPTOR
    return Kind.OTHER


@lru_cache(maxsize=4096)
def strength_bits(value: str) -> float:
    """A rough estimate of how much a value narrows things down: about log2 of the alphabet
    per letter or digit (case ignored); punctuation and spaces count one bit."""
    bits = 0.0
    for char in value:
        if char.isascii() and char.isalpha():
            bits += math.log2(26)
        elif char.isdigit():
            bits += math.log2(10)
        elif char.isalpha():  # accented Latin, kana, hangul, ideographs
            bits += 8.0
        elif not char.isspace():
            bits += 1.0
    return bits


def normalise(value: str) -> str:
    return " ".join(value.replace("\x00", " ").split())


@lru_cache(maxsize=4096)
def is_weak(value: str) -> bool:
    """True when a value is too short or too common to search anywhere but its own place."""
    text = normalise(value).strip("^ ").lower()
    if not text or text in STOP_WORDS:
        return True
    alnum = sum(ch.isalnum() for ch in text)
    return alnum < 3 or strength_bits(text) < TEXT_MIN_BITS


def _private_text(walk: _Walk, raw: object, vr: str) -> list[str]:
    """Text of a private element: its values for text VRs (not codes: CS values are terms of
    the vendor's vocabulary); for UN/OB only printable text. Vendors pack several values
    into one string, so each is judged on its own."""
    if vr == "CS":
        return []
    if vr in COLLECTED_TEXT_VRS:
        return walk.cheap_values(raw)
    value = getattr(raw, "value", None)
    if vr in ("UN", "OB") and isinstance(value, bytes | bytearray) and 3 <= len(value) <= 1024:
        text = bytes(value).rstrip(b"\x00 ")
        if text and all(32 <= b < 127 for b in text):
            return [part.strip() for part in text.decode("ascii").split("\\") if part.strip()]
    return []


@dataclass(frozen=True)
class Collected:
    """What an input gives the audit: its identifiers, and the elements that a declared option
    keeps (path -> lowered value), whose own values are therefore not findings."""

    identifiers: list[Identifier]
    option_kept: dict[str, str]


def collect(original: Dataset, options: frozenset[Option] = frozenset()) -> list[Identifier]:
    """Every identifying value of ``original`` that the profile (with ``options``) does not keep."""
    return collect_all(original, options).identifiers


def collect_all(original: Dataset, options: frozenset[Option] = frozenset()) -> Collected:
    walk = _Walk(options, codecs_of(original))
    found = list(walk.walk(original, "", ()))
    kept = walk.kept
    kept_text = "\x00".join(kept)
    device_text = "\x00".join(value for value, keys in kept.items() if keys & _DEVICE_NAMING)
    identifiers = [
        ident for ident in found if not _shown_by_profile(ident, kept, kept_text, device_text)
    ]
    return Collected(identifiers, walk.option_kept)


def codecs_of(ds: Dataset) -> list[str]:
    """The Python codecs of a dataset's Specific Character Set (pydicom's default if none)."""
    declared = ds.get("SpecificCharacterSet", None)
    values = (
        [str(v) for v in declared]
        if isinstance(declared, list | MultiValue)
        else [str(declared or "")]
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns about unknown terms, quoting them
            return list(convert_encodings(values))
    except Exception:  # an unknown character set: pydicom's own default
        return ["iso8859"]


# Attributes that name equipment and that the profile keeps: a site that is named after its
# scanner's maker (InstitutionName "TOSHIBA", "GE MEDICAL SYSTEMS") shows nothing more when
# that string is found in the output, because Manufacturer says it anyway.
_DEVICE_NAMING = frozenset(
    {
        "Manufacturer",
        "ManufacturerModelName",
        "SoftwareVersions",
        "SecondaryCaptureDeviceManufacturer",
        "SecondaryCaptureDeviceManufacturerModelName",
        "SecondaryCaptureDeviceSoftwareVersions",
    }
)


def _shown_by_profile(
    ident: Identifier, kept: dict[str, set[str]], kept_text: str, device_text: str
) -> bool:
    """True when the value is also the value of an attribute the profile keeps, so finding it
    proves nothing: any such warning-level value (private text equal to a kept software
    version), and site or device values equal to a kept equipment name. Values about a person
    (names, IDs, dates, UIDs) are never excused this way."""
    value = normalise(ident.value).lower()
    keywords = kept.get(value)
    if ident.severity is Severity.WARNING and (keywords or value in kept_text):
        return True  # e.g. private "SIGNA" next to the kept model name "SIGNA Pioneer"
    if ident.kind is Kind.UID:
        return bool(keywords)  # an "instance" UID that the input also uses as a class UID
    return ident.kind in (Kind.INSTITUTION, Kind.DEVICE, Kind.OTHER) and value in device_text


@dataclass
class _Walk:
    """One walk over an input: what to keep, and the values the profile keeps (for excuses)."""

    options: frozenset[Option]
    codecs: list[str]
    kept: dict[str, set[str]] = field(default_factory=dict)
    option_kept: dict[str, str] = field(default_factory=dict)

    def cheap_values(self, raw: object) -> list[str]:
        """A value's text straight from its bytes, without pydicom's per-element conversion
        (most elements of an input are only looked at, and converting them all costs more
        than the rest of the audit)."""
        value = getattr(raw, "value", None)
        if not isinstance(raw, RawDataElement) or not isinstance(value, bytes | bytearray):
            return text_values(value)
        if len(self.codecs) == 1:
            text = bytes(value).decode(self.codecs[0], "replace")
        else:
            text = decode_bytes(bytes(value), self.codecs, set())
        return [part.strip(" \x00") for part in text.split("\\") if part.strip(" \x00")]

    def note_kept(self, tag: int, vr: str, raw: object) -> None:
        if (vr in COLLECTED_TEXT_VRS or vr == "UI") and vr != "PN":
            keyword = keyword_for_tag(tag) or tag_text(tag)
            for value in self.cheap_values(raw):
                self.kept.setdefault(normalise(value).lower(), set()).add(keyword)

    def walk(self, ds: Dataset, where: str, steps: Steps) -> Iterator[Identifier]:
        """Every identifier of ``ds`` and the datasets nested in it."""
        for tag in list(ds.keys()):
            if tag & 0xFFFF == 0 or tag >> 16 == FILE_META_GROUP:
                continue  # group lengths, and the file meta (veil writes its own)
            raw = ds.get_item(tag)
            vr = _searched_vr(tag, raw)
            if vr is None:
                continue
            path = where + tag_text(tag)
            items = _nested(ds, tag, raw, vr)
            if items is not None:
                for index, item in enumerate(items):
                    if isinstance(item, Dataset):
                        yield from self.walk(item, f"{path}[{index}].", (*steps, (tag, index)))
            elif is_private(tag):
                yield from self._private(tag, vr, raw, path, steps)
            else:
                row = profile_row(tag)
                if row is None:
                    yield from self._unlisted(tag, vr, raw, path, steps)
                else:
                    yield from self._listed(row, tag, vr, raw, path, steps)

    def _private(
        self, tag: int, vr: str, raw: object, path: str, steps: Steps
    ) -> Iterator[Identifier]:
        if is_private_creator(tag):
            return  # private creator strings name a vendor, not a person
        if vr == "PN":
            for value in self.cheap_values(raw):
                yield Identifier(Kind.PERSON_NAME, path, tag, vr, value, steps=steps)
            return
        if vr in ("DA", "DT", "TM") and Option.RETAIN_LONG_FULL_DATES in self.options:
            return  # the output declares that it keeps the real dates
        for value in _private_text(self, raw, vr):
            yield Identifier(Kind.PRIVATE, path, tag, vr, value, Severity.WARNING, steps)

    def _unlisted(
        self, tag: int, vr: str, raw: object, path: str, steps: Steps
    ) -> Iterator[Identifier]:
        """A public attribute Table E.1-1 does not list: names and instance UIDs only."""
        if vr == "PN":
            for value in self.cheap_values(raw):
                yield Identifier(Kind.PERSON_NAME, path, tag, vr, value, steps=steps)
        elif vr == "UI" and Option.RETAIN_UIDS not in self.options:
            for value in self.cheap_values(raw):
                if names_instance(tag, value):
                    yield Identifier(Kind.UID, path, tag, vr, value, steps=steps)
                else:
                    self.kept.setdefault(value.lower(), set()).add(keyword_for_tag(tag) or "UID")
        else:
            self.note_kept(tag, vr, raw)

    def _listed(
        self, row: ProfileRow, tag: int, vr: str, raw: object, path: str, steps: Steps
    ) -> Iterator[Identifier]:
        """A public attribute of Table E.1-1: collected unless the profile keeps it."""
        options = self.options
        action = effective_action(row, options)
        if action == "K":
            self.note_kept(tag, vr, raw)
            if row.basic != "K":  # kept because the output declares an option
                self.option_kept[path] = "\\".join(self.cheap_values(raw)).lower()
            return
        if action == "C" and vr not in ("DA", "DT", "PN", "UI"):
            # Cleaned in place (descriptors, structured text): the cleaned text legitimately
            # keeps most of the original; the identifiers inside it are collected elsewhere.
            self.note_kept(tag, vr, raw)
            return
        if vr in ("OB", "UN") or (vr == "UI" and Option.RETAIN_UIDS in options):
            return
        kind = _kind(tag, vr, row)
        severity = Severity.WARNING if kind in _WARNING_KINDS else Severity.ERROR
        for value in self.cheap_values(raw):
            if kind is Kind.UID and not names_instance(tag, value):
                continue
            yield Identifier(kind, path, tag, vr, value, severity, steps)


Steps = tuple[tuple[int, int], ...]  # (sequence tag, item index) from the top level


def _searched_vr(tag: int, raw: object) -> str | None:
    """The VR to search an element as, or None when it is never searched."""
    vr = getattr(raw, "VR", None) or dictionary_vr(tag)
    public = not is_private(tag)
    if vr == "UN" and public and dictionary_vr(tag) in _RETYPED_FROM_UN:
        # A public element the file stores as UN (e.g. after a trip through an implicit VR or
        # a node that did not know it): its bytes are its value as its dictionary VR encodes
        # it, so search it as that, or a name or ID stored so goes unseen.
        vr = dictionary_vr(tag)
    if vr in _NEVER_SEARCHED or (vr in ("OB", "UN") and public):
        return None  # decided before converting: converting big numeric arrays is slow
    return str(vr)


def _nested(ds: Dataset, tag: int, raw: object, vr: str) -> list[object] | None:
    """The items of a sequence (or of a UN of undefined length that pydicom reads as one);
    None when the element is not one. An undecodable sequence has no items to collect."""
    if vr != "SQ" and not (vr == "UN" and getattr(raw, "length", 0) == UNDEFINED_LENGTH):
        return None
    try:
        items = ds[tag].value
    except Exception:  # an undecodable sequence of the input: nothing to collect
        return []
    if vr != "SQ" and not isinstance(items, PydicomSequence | list):
        return None
    return list(items or [])


_PRIORITY = {kind: index for index, kind in enumerate(Kind)}


def dedupe(identifiers: Iterable[Identifier]) -> list[Identifier]:
    """One identifier per value, named by its most telling kind (errors before warnings, then
    the order of ``Kind``); its first source path names it in findings."""
    best: dict[str, Identifier] = {}
    for ident in identifiers:
        key = normalise(ident.value).lower()
        current = best.get(key)
        if current is None or (ident.severity is Severity.ERROR, -_PRIORITY[ident.kind]) > (
            current.severity is Severity.ERROR,
            -_PRIORITY[current.kind],
        ):
            best[key] = ident
    return list(best.values())
