"""The forms an identifying value takes in the wild, as literal needles to search for.

Every needle is lower-case text; matching is case-insensitive (the text searched is lowered
too). Each needle carries the kind of boundary its ends need, so that "DOE" does not match
inside "DOEBLING" and an ID "12345" does not match inside "612345", while an ID glued to
letters ("MRN12345") still does: a digit edge only refuses neighbouring digits, a letter edge
refuses neighbouring letters and digits.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache

from veil.audit.findings import Kind
from veil.audit.identifiers import RAW_MIN_BITS, Identifier, is_weak, normalise, strength_bits


class Edge(str, Enum):
    """What may not touch a needle's end for a match to count."""

    WORD = "word"  # no letter or digit
    DIGIT = "digit"  # no digit
    UID = "uid"  # no digit and no dot
    ZEROS = "zeros"  # left edge of a numeric ID: zeros, then no digit ("00" + "4711")
    NONE = "none"  # anything (ideographic text has no word boundaries)


@dataclass(frozen=True)
class Needle:
    """One literal form of one identifier. ``text`` is never shown."""

    ident: Identifier
    text: str = field(repr=False)  # lower case; never shown
    label: str = ""  # the form, e.g. "name reordered (given family)"
    left: Edge = Edge.NONE
    right: Edge = Edge.NONE
    raw: bool = False  # strong enough to search in raw bytes (pixel data, blobs)


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_NAMES = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_ID_SEPARATORS = re.compile(r"[\s\-_./:]+")


def _edge(char: str) -> Edge:
    if char.isdigit():
        return Edge.DIGIT
    if char.isascii() and char.isalpha():
        return Edge.WORD
    if char.isalpha():
        return Edge.WORD if _is_latin(char) else Edge.NONE
    return Edge.NONE


def _is_latin(char: str) -> bool:
    return ord(char) < 0x0250  # Latin-1 supplement and Latin extended: words have boundaries


@dataclass(frozen=True)
class _Form:
    text: str = field(repr=False)
    label: str
    left: Edge
    right: Edge
    raw: bool


def _form(text: str, label: str, *, right: Edge | None = None, raw: bool = True) -> _Form | None:
    """A form, or None when it is too weak to search on its own. ``raw=False`` keeps rarer
    variants out of the raw-byte scan, whose cost grows with the number of needles."""
    text = normalise(text).lower()
    if not text or is_weak(text):
        return None
    strong = strength_bits(text) >= RAW_MIN_BITS
    return _Form(text, label, _edge(text[0]), right or _edge(text[-1]), raw and strong)


def _name_forms(value: str) -> list[_Form | None]:
    out: list[_Form | None] = []
    labels = ("", " (ideographic)", " (phonetic)")
    for index, group in enumerate(value.split("=")[:3]):
        suffix = labels[index]
        parts = [normalise(part) for part in group.split("^")] + [""] * 5
        family, given, middle = parts[0], parts[1], parts[2]
        stored = "^".join(parts[:5]).rstrip("^")
        out.append(_form(stored, "name as stored" + suffix))
        if family and given:
            for sep in (" ", ", ", ",", "_", "^^", "-"):
                out.append(
                    _form(
                        f"{family}{sep}{given}",
                        "name, family first" + suffix,
                        raw=sep in (" ", ", "),
                    )
                )
            for sep in (" ", "_", "^", "-"):
                out.append(
                    _form(
                        f"{given}{sep}{family}",
                        "name reordered (given family)" + suffix,
                        raw=sep == " ",
                    )
                )
            if middle:
                out.append(
                    _form(
                        f"{given} {middle} {family}",
                        "name reordered (given middle family)" + suffix,
                    )
                )
                out.append(
                    _form(f"{family}, {given} {middle}", "name, family first" + suffix, raw=False)
                )
                out.append(
                    _form(
                        f"{given} {middle[0]}. {family}",
                        "name reordered (given initial family)" + suffix,
                        raw=False,
                    )
                )
            for initial in (f"{given[0]}. ", f"{given[0]}.", f"{given[0]} "):
                out.append(
                    _form(f"{initial}{family}", "initial and family name" + suffix, raw=False)
                )
            for initial in (f", {given[0]}.", f" {given[0]}."):
                out.append(
                    _form(f"{family}{initial}", "family name and initial" + suffix, raw=False)
                )
            if not _is_latin(family[0]):
                out.append(_form(f"{family}{given}", "name joined" + suffix))
        if family and given and middle:
            out.append(_form(f"{family}^{given}", "name as stored (family^given)" + suffix))
        # Middle names, prefixes and suffixes alone are too common ("Ann", "Dr") to search.
        for component, label in ((family, "family name alone"), (given, "given name alone")):
            if component and component != stored:
                out.append(_form(component, label + suffix))
    return out


def _date_forms(value: str) -> list[_Form | None]:
    text = value.strip()
    try:
        date = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return _plain_forms(value)
    y, m, d = f"{date.year:04d}", f"{date.month:02d}", f"{date.day:02d}"
    mi, di = str(date.month), str(date.day)
    mon, month = _MONTHS[date.month - 1], _MONTH_NAMES[date.month - 1]
    out: list[_Form | None] = [
        # A compact date may be followed by a time (a DT value): only the left edge counts.
        _form(f"{y}{m}{d}", "date as stored (YYYYMMDD)", right=Edge.NONE),
    ]
    for sep in ("-", "/", "."):
        main = sep != "."  # the raw scan looks for the common written forms only
        out.append(_form(f"{y}{sep}{m}{sep}{d}", f"date YYYY{sep}MM{sep}DD format", raw=main))
        for dd, mm, padded in ((d, m, True), (di, mi, False)):
            out.append(
                _form(
                    f"{dd}{sep}{mm}{sep}{y}", f"date DD{sep}MM{sep}YYYY format", raw=main and padded
                )
            )
            out.append(
                _form(
                    f"{mm}{sep}{dd}{sep}{y}", f"date MM{sep}DD{sep}YYYY format", raw=main and padded
                )
            )
    for name in (mon, month):
        for dd in (d, di):
            for form in (
                f"{dd} {name} {y}",
                f"{dd}-{name}-{y}",
                f"{name} {dd}, {y}",
                f"{name} {dd} {y}",
            ):
                out.append(_form(form, "date with month name", raw=False))
    return out


def _id_forms(value: str) -> list[_Form | None]:
    stored = normalise(value)
    out = [_form(stored, "ID as stored")]
    bare = _ID_SEPARATORS.sub("", stored)
    if bare != stored:
        out.append(_form(bare, "ID without separators"))
    for candidate in (stored, bare):
        unpadded = candidate.lstrip("0")
        if unpadded != candidate and unpadded:
            out.append(_form(unpadded, "ID without leading zeros"))
    # A numeric ID may be written with (more) leading zeros: "0004711" is "4711".
    return [
        _Form(f.text, f.label, Edge.ZEROS, f.right, f.raw) if f and f.text.isdigit() else f
        for f in out
    ]


def _plain_forms(value: str) -> list[_Form | None]:
    stored = normalise(value)
    out = [_form(stored, "value as stored")]
    if "\\" in stored:  # a multi-valued string read as one: each value alone
        out += [_form(part, "one of its values") for part in stored.split("\\")]
    return out


@lru_cache(maxsize=8192)
def _forms(style: str, value: str) -> tuple[_Form, ...]:
    """The forms of one value, cached: the files of a series share most of their values."""
    if style == "uid":
        text = value.strip().rstrip("\x00")
        return (_Form(text, "UID as stored", Edge.UID, Edge.UID, True),) if text else ()
    if is_weak(value):
        return ()
    maker = {"name": _name_forms, "date": _date_forms, "id": _id_forms}.get(style, _plain_forms)
    unique: dict[str, _Form] = {}
    for form in maker(value):
        if form is not None and form.text not in unique:
            unique[form.text] = form
    for form in list(unique.values()):
        # Systems that cannot store accents write "Brannstrom" or "Braennstroem".
        for folded, how in (
            (_fold(form.text), "without accents"),
            (_transliterate(form.text), "transliterated"),
        ):
            if folded != form.text and folded not in unique:
                variant = _form(folded, f"{form.label}, {how}", right=form.right, raw=form.raw)
                if variant is not None:
                    unique[folded] = variant
    return tuple(unique.values())


_TRANSLITERATION = str.maketrans(
    {
        "ä": "ae",
        "ö": "oe",
        "ü": "ue",
        "ß": "ss",
        "å": "aa",
        "ø": "oe",
        "æ": "ae",
        "œ": "oe",
        "þ": "th",
        "ð": "d",
        "ł": "l",
    }
)


def _fold(text: str) -> str:
    """Latin letters without their accents ("brännström" -> "brannstrom")."""
    if text.isascii() or not all(_is_latin(ch) or not ch.isalpha() for ch in text):
        return text
    decomposed = unicodedata.normalize(
        "NFKD", text.translate({ord("ø"): "o", ord("ł"): "l", ord("æ"): "ae", ord("ß"): "ss"})
    )
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _transliterate(text: str) -> str:
    """German and Nordic spellings without special letters ("brännström" -> "braennstroem")."""
    if text.isascii() or not all(_is_latin(ch) or not ch.isalpha() for ch in text):
        return text
    return _fold(text.translate(_TRANSLITERATION))


def _style(ident: Identifier) -> str:
    if ident.kind is Kind.UID:
        return "uid"
    if ident.vr == "PN":
        return "name"
    if ident.vr in ("DA", "DT"):
        return "date"
    if ident.kind in (Kind.PATIENT_ID, Kind.ACCESSION, Kind.CONTACT, Kind.DEVICE):
        return "id"
    return "plain"


def needles_for(ident: Identifier) -> list[Needle]:
    """All searchable forms of one identifier (none when the value is too weak to search)."""
    return [
        Needle(ident, form.text, form.label, form.left, form.right, form.raw)
        for form in _forms(_style(ident), ident.value)
    ]


@dataclass(frozen=True)
class SearchForm:
    """One searchable form of a value, without the identifier it came from (the fast path
    memoises these per value: values repeat across a study)."""

    text: str = field(repr=False)  # lower case; never shown
    left: Edge
    right: Edge
    raw: bool


@lru_cache(maxsize=16384)
def search_forms(kind: Kind, vr: str, value: str) -> tuple[SearchForm, ...]:
    """The forms ``needles_for`` gives an identifier of this kind, VR and value."""
    probe = Identifier(kind, "", 0, vr, value)
    return tuple(
        SearchForm(form.text, form.left, form.right, form.raw)
        for form in _forms(_style(probe), value)
    )
