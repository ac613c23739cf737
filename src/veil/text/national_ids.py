"""National identification numbers written in free text: SSN-like and other countries' IDs.

Candidates are picked by each number's written shape and confirmed by ``python-stdnum``'s
validator for that country (check digits, valid date parts, reserved ranges), so that a
run of digits of the right length is not taken for an ID by chance. The US SSN shape
NNN-NN-NNNN is taken as SSN-like on its shape alone: test and made-up SSNs (123-45-6789)
fail the validator but identify a record all the same, and no other value in DICOM free text
is written that way. Numbers without any shape of their own (nine or eleven bare digits) are
only found after a keyword, see ``record_numbers``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from veil.text.spans import PatternClass, Span


@dataclass(frozen=True)
class _Shape:
    label: str
    pattern: re.Pattern[str]
    # The python-stdnum module whose is_valid confirms it ("us.ssn"); None: the shape alone
    # is enough. Imported on first use: most free text never has a candidate, and importing
    # every country's validator up front costs a worker process about 50 ms.
    validator: str | None


_D = r"(?<![\w.])"  # no letter, digit or dot before
_E = r"(?![\w])"  # no letter or digit after
_SHAPES: tuple[_Shape, ...] = (
    _Shape("SSN-like (NNN-NN-NNNN)", re.compile(rf"{_D}\d{{3}}-\d{{2}}-\d{{4}}{_E}"), None),
    _Shape("US SSN", re.compile(rf"{_D}\d{{3}} \d{{2}} \d{{4}}{_E}"), "us.ssn"),
    _Shape("UK NHS number", re.compile(rf"{_D}\d{{3}}[ -]\d{{3}}[ -]\d{{4}}{_E}"), "gb.nhs"),
    _Shape("Canadian SIN", re.compile(rf"{_D}\d{{3}}[ -]\d{{3}}[ -]\d{{3}}{_E}"), "ca.sin"),
    _Shape(
        "French NIR",
        re.compile(
            rf"{_D}[12] ?\d{{2}} ?\d{{2}} ?(?:\d{{2}}|2A|2B) ?\d{{3}} ?\d{{3}} ?\d{{2}}{_E}"
        ),
        "fr.nir",
    ),
    _Shape("Swiss AHV number", re.compile(rf"{_D}756\.\d{{4}}\.\d{{4}}\.\d{{2}}{_E}"), "ch.ssn"),
    _Shape(
        "Swedish personnummer",
        re.compile(rf"{_D}(?:\d{{2}})?\d{{6}}[-+]\d{{4}}{_E}"),
        "se.personnummer",
    ),
    _Shape("Danish CPR", re.compile(rf"{_D}\d{{6}}-\d{{4}}{_E}"), "dk.cpr"),
    _Shape("Finnish HETU", re.compile(rf"{_D}\d{{6}}[-+A-FU-Y]\d{{3}}[0-9A-Y]{_E}"), "fi.hetu"),
    _Shape(
        "Italian codice fiscale",
        re.compile(rf"(?i){_D}[A-Z]{{6}}\d{{2}}[A-Z]\d{{2}}[A-Z]\d{{3}}[A-Z]{_E}"),
        "it.codicefiscale",
    ),
    _Shape("Spanish DNI/NIE", re.compile(rf"{_D}[XYZ]?\d{{7,8}}-?[A-Z]{_E}"), "es.dni"),
    _Shape("Spanish NIE", re.compile(rf"{_D}[XYZ]-?\d{{7}}-?[A-Z]{_E}"), "es.nie"),
    _Shape("Chinese resident ID", re.compile(rf"{_D}\d{{17}}[\dXx]{_E}"), "cn.ric"),
    _Shape("Korean RRN", re.compile(rf"{_D}\d{{6}}-\d{{7}}{_E}"), "kr.rrn"),
    _Shape(
        "Belgian national number",
        re.compile(rf"{_D}\d{{2}}\.\d{{2}}\.\d{{2}}-\d{{3}}\.\d{{2}}{_E}"),
        "be.nn",
    ),
    _Shape("Brazilian CPF", re.compile(rf"{_D}\d{{3}}\.\d{{3}}\.\d{{3}}-\d{{2}}{_E}"), "br.cpf"),
    _Shape("Indian Aadhaar", re.compile(rf"{_D}\d{{4}} \d{{4}} \d{{4}}{_E}"), "in_.aadhaar"),
)


@cache
def _validator(name: str) -> object:
    return importlib.import_module(f"stdnum.{name}")


def _valid(shape: _Shape, text: str) -> bool:
    if shape.validator is None:
        return True
    try:
        return bool(_validator(shape.validator).is_valid(text))  # type: ignore[attr-defined]
    except Exception:  # a validator that cannot parse the text: not this country's ID
        return False


def find_national_ids(text: str) -> Iterator[Span]:
    if sum(ch.isdigit() for ch in text) < 7:  # the shortest shape (codice fiscale) has 7
        return
    for shape in _SHAPES:
        for match in shape.pattern.finditer(text):
            if _valid(shape, match.group(0)):
                yield Span(match.start(), match.end(), PatternClass.NATIONAL_ID, shape.label)
