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

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from stdnum.be import nn as be_nn
from stdnum.br import cpf as br_cpf
from stdnum.ca import sin as ca_sin
from stdnum.ch import ssn as ch_ssn
from stdnum.cn import ric as cn_ric
from stdnum.dk import cpr as dk_cpr
from stdnum.es import dni as es_dni
from stdnum.es import nie as es_nie
from stdnum.fi import hetu as fi_hetu
from stdnum.fr import nir as fr_nir
from stdnum.gb import nhs as gb_nhs
from stdnum.in_ import aadhaar as in_aadhaar
from stdnum.it import codicefiscale as it_codicefiscale
from stdnum.kr import rrn as kr_rrn
from stdnum.se import personnummer as se_personnummer
from stdnum.us import ssn as us_ssn

from veil.text.spans import PatternClass, Span


@dataclass(frozen=True)
class _Shape:
    label: str
    pattern: re.Pattern[str]
    valid: Callable[[str], bool] | None  # None: the shape alone is enough


_D = r"(?<![\w.])"  # no letter, digit or dot before
_E = r"(?![\w])"  # no letter or digit after
_SHAPES: tuple[_Shape, ...] = (
    _Shape("SSN-like (NNN-NN-NNNN)", re.compile(rf"{_D}\d{{3}}-\d{{2}}-\d{{4}}{_E}"), None),
    _Shape("US SSN", re.compile(rf"{_D}\d{{3}} \d{{2}} \d{{4}}{_E}"), us_ssn.is_valid),
    _Shape("UK NHS number", re.compile(rf"{_D}\d{{3}}[ -]\d{{3}}[ -]\d{{4}}{_E}"), gb_nhs.is_valid),
    _Shape("Canadian SIN", re.compile(rf"{_D}\d{{3}}[ -]\d{{3}}[ -]\d{{3}}{_E}"), ca_sin.is_valid),
    _Shape(
        "French NIR",
        re.compile(
            rf"{_D}[12] ?\d{{2}} ?\d{{2}} ?(?:\d{{2}}|2A|2B) ?\d{{3}} ?\d{{3}} ?\d{{2}}{_E}"
        ),
        fr_nir.is_valid,
    ),
    _Shape(
        "Swiss AHV number", re.compile(rf"{_D}756\.\d{{4}}\.\d{{4}}\.\d{{2}}{_E}"), ch_ssn.is_valid
    ),
    _Shape(
        "Swedish personnummer",
        re.compile(rf"{_D}(?:\d{{2}})?\d{{6}}[-+]\d{{4}}{_E}"),
        se_personnummer.is_valid,
    ),
    _Shape("Danish CPR", re.compile(rf"{_D}\d{{6}}-\d{{4}}{_E}"), dk_cpr.is_valid),
    _Shape(
        "Finnish HETU", re.compile(rf"{_D}\d{{6}}[-+A-FU-Y]\d{{3}}[0-9A-Y]{_E}"), fi_hetu.is_valid
    ),
    _Shape(
        "Italian codice fiscale",
        re.compile(rf"(?i){_D}[A-Z]{{6}}\d{{2}}[A-Z]\d{{2}}[A-Z]\d{{3}}[A-Z]{_E}"),
        it_codicefiscale.is_valid,
    ),
    _Shape("Spanish DNI/NIE", re.compile(rf"{_D}[XYZ]?\d{{7,8}}-?[A-Z]{_E}"), es_dni.is_valid),
    _Shape("Spanish NIE", re.compile(rf"{_D}[XYZ]-?\d{{7}}-?[A-Z]{_E}"), es_nie.is_valid),
    _Shape("Chinese resident ID", re.compile(rf"{_D}\d{{17}}[\dXx]{_E}"), cn_ric.is_valid),
    _Shape("Korean RRN", re.compile(rf"{_D}\d{{6}}-\d{{7}}{_E}"), kr_rrn.is_valid),
    _Shape(
        "Belgian national number",
        re.compile(rf"{_D}\d{{2}}\.\d{{2}}\.\d{{2}}-\d{{3}}\.\d{{2}}{_E}"),
        be_nn.is_valid,
    ),
    _Shape(
        "Brazilian CPF", re.compile(rf"{_D}\d{{3}}\.\d{{3}}\.\d{{3}}-\d{{2}}{_E}"), br_cpf.is_valid
    ),
    _Shape("Indian Aadhaar", re.compile(rf"{_D}\d{{4}} \d{{4}} \d{{4}}{_E}"), in_aadhaar.is_valid),
)


def _valid(shape: _Shape, text: str) -> bool:
    if shape.valid is None:
        return True
    try:
        return bool(shape.valid(text))
    except Exception:  # a validator that cannot parse the text: not this country's ID
        return False


def find_national_ids(text: str) -> Iterator[Span]:
    if sum(ch.isdigit() for ch in text) < 7:  # the shortest shape (codice fiscale) has 7
        return
    for shape in _SHAPES:
        for match in shape.pattern.finditer(text):
            if _valid(shape, match.group(0)):
                yield Span(match.start(), match.end(), PatternClass.NATIONAL_ID, shape.label)
