"""Identifiers without a shape of their own, found by the keyword written before them:
"MRN 55120394", "Patient ID: H-0042317", "SSN 123456789", "Fallnummer 12345678", "患者ID 4711".

The identifier must hold at least four digits: after "ID" or "No." a short number is a
series or slice number ("Series No. 5"), not a person's.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from veil.text.spans import PatternClass, Span

_KEYWORDS = (
    r"mrn|mr\s?#|mr\s?(?:no|nr|num|number)\.?|medical\s+record(?:\s+(?:number|no\.?|#))?|"
    r"record\s+(?:number|no\.?|#)|hospital\s+(?:number|no\.?)|unit\s+(?:number|no\.?)|"
    r"patient\s*(?:id|no\.?|nr\.?|number|#)|pat\.?\s?(?:id|no\.?|nr\.?)|pid|"
    r"chart\s*(?:number|no\.?|#)?|acct\.?|account\s*(?:number|no\.?|#)?|"
    r"acc(?:ession)?\.?\s*(?:number|no\.?|nr\.?|#)?|case\s*(?:number|no\.?|#)|"
    r"encounter\s*(?:id|number|no\.?)?|visit\s*(?:id|number|no\.?)|admission\s*(?:id|number|no\.?)|"
    r"ssn|ss\s?#|social\s+security(?:\s+(?:number|no\.?))?|sin|nhs\s*(?:number|no\.?)?|"
    r"insurance\s*(?:id|number|no\.?)|policy\s*(?:number|no\.?)|member\s*id|subscriber\s*id|"
    r"id|"
    r"patientennummer|patienten-?id|pat\.?-nr\.?|fallnummer|fall-nr\.?|aufnahmenummer|"
    r"versichertennummer|krankenversicherungsnummer|steuer-?id|"
    r"n°\s*(?:de\s+)?(?:dossier|patient)|numéro\s+(?:de\s+)?(?:dossier|patient)|ipp|nir|"
    r"bsn|burgerservicenummer|ahv|personnummer|cpr|pesel|codice\s+fiscale|dni|nie|"
    r"número\s+de\s+(?:historia|paciente)|nhc|"
    r"患者\s*id|患者番号|カルテ番号|診察券番号|病历号|病案号|住院号|门诊号|身份证号?|"
    r"マイナンバー|환자\s*번호|등록번호|주민등록번호"
)
_RECORD = re.compile(
    rf"(?i)(?<![^\W_])(?:{_KEYWORDS})(?![^\W\d_])\s*[:=#.\-]?\s*"
    # the ID: an optional letter prefix, then digit groups (with letters) joined by a space,
    # dot, dash or slash ("H-0042317", "1234 5678 9018"), four digits in a row at least
    r"((?=[\w /.-]*\d{4})(?:[A-Za-z]{1,4}[-/]?){0,3}\d[\dA-Za-z]*(?:[ ./-]\d[\dA-Za-z]*)*)(?![\w])"
)


def find_record_numbers(text: str) -> Iterator[Span]:
    for match in _RECORD.finditer(text):
        yield Span(
            match.start(1), match.end(1), PatternClass.RECORD_NUMBER, "number after an ID keyword"
        )
