"""E-mail addresses, URLs and telephone numbers in free text.

Telephone numbers are recognised by Google's libphonenumber (the ``phonenumbers`` package:
offline, maintained, every country's numbering plan), on candidates a cheap regular
expression picks first: the matcher costs about 1 ms per call and region, and most free text
holds no run of seven digits at all. A number written after a telephone keyword ("Tel",
"Fax", "電話") is removed even when no numbering plan accepts it.
E-mail addresses and URLs have a syntax simple enough for one expression each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from veil.text.spans import PatternClass, Span

_EMAIL = re.compile(
    r"[\w.%+'-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}",
)
_URL = re.compile(r"(?i)\b(?:(?:https?|ftp|file)://|www\.)[^\s<>\"'\\]+")
# Seven to fifteen digits (E.164 allows fifteen) with the separators people write.
_PHONE_CANDIDATE = re.compile(r"(?<![\w.])\+?\(?\d[\d \t().\-/]{5,22}\d(?![\w])")
_PHONE_KEYWORD = re.compile(
    r"(?i)(?:\b(?:tel|telephone|phone|ph|fax|mobile|mob|cell|tél|téléphone|telefon|handy|"
    r"teléfono|telefono|contact)\b\.?|☎|電話|电话|전화|携帯)"
    r"\s*(?:no\.?|nr\.?|number|#)?\s*[:.=]?\s*(\+?\(?\d[\d \t().\-/]{4,22}\d)"
)
# Where a national number has no country code, the numbering plans tried, in this order.
REGIONS = ("US", "GB", "DE", "FR", "NL", "IT", "ES", "CH", "SE", "JP", "CN", "KR", "IN", "BR", "AU")


def find_emails(text: str) -> Iterator[Span]:
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        yield Span(match.start(), match.end(), PatternClass.EMAIL, "e-mail address")


def find_urls(text: str) -> Iterator[Span]:
    for match in _URL.finditer(text):
        yield Span(match.start(), match.end(), PatternClass.URL, "URL")


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


_DECIMAL = re.compile(r"(?<![\d.])\d+\.\d+(?![\d.])")
_DOTTED = re.compile(r"\(?\d{2,4}\)?(?:\.\d{2,4}){2,3}")
_GROUPED = re.compile(r"\d[ \t\-/()]+\d")


def _written_like_a_phone(candidate: str) -> bool:
    """A number people write as a phone: an international prefix, an area code in brackets,
    or digit groups joined by spaces, dashes or slashes (or dots, "030.1234.5678"). Bare digit
    runs and lists of decimals are a vendor's numbers ("921244389", "0.3 0.5 4 50 0.002")."""
    if _DOTTED.fullmatch(candidate.strip()):
        return True
    if _DECIMAL.search(candidate):
        return False
    return candidate.lstrip().startswith(("+", "(")) or bool(_GROUPED.search(candidate))


def find_phones(text: str, regions: tuple[str, ...] = REGIONS) -> Iterator[Span]:
    for match in _PHONE_KEYWORD.finditer(text):
        if _digits(match.group(1)) >= 6:
            yield Span(
                match.start(1), match.end(1), PatternClass.PHONE, "number after a phone keyword"
            )
    for match in _PHONE_CANDIDATE.finditer(text):
        candidate = match.group(0)
        if not 7 <= _digits(candidate) <= 15 or not _written_like_a_phone(candidate):
            continue
        import phonenumbers  # on first candidate: importing it costs a process about 60 ms

        for region in regions:
            found = False
            for number in phonenumbers.PhoneNumberMatcher(
                candidate, region, leniency=phonenumbers.Leniency.VALID
            ):
                found = True
                start = match.start() + number.start
                yield Span(
                    start, start + len(number.raw_string), PatternClass.PHONE, "telephone number"
                )
            if found or candidate.lstrip("(").startswith("+"):
                break  # an international number is the same in every region
