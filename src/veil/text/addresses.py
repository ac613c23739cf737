"""Street addresses written in free text.

A street address is found by its street type: a house number, one to four words and a
street suffix of the USPS list ("1261 Leawood Street", "4 PRIVET DR"), optionally followed by
a unit, a city, a state and a ZIP code; the European forms put the number after the street
("Hauptstraße 12", "Kerkstraat 5", "12 rue de la Paix", "Via Roma 3"); Japanese, Chinese and
Korean addresses end in their administrative or street units. ``usaddress`` (a CRF parser of
US addresses) was measured as a detector and not kept: on free text it labels ordinary
protocol text as a street address ("FLAIR AX 5mm 20 slices" -> AddressNumber 20, StreetName
slices), see benchmarks/midib/RESULTS section "pattern classes".
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from veil.text.spans import PatternClass, Span

# Street types written out: any case. Abbreviations: title case ("St", "Dr.") or upper case
# with a period ("ST."): in upper case alone they are imaging terms (CT, DR, ST).
_WORDS = [
    "street",
    "avenue",
    "road",
    "boulevard",
    "lane",
    "drive",
    "court",
    "place",
    "terrace",
    "parkway",
    "circle",
    "highway",
    "square",
    "trail",
    "route",
    "alley",
    "plaza",
    "crescent",
    "grove",
    "gardens",
    "mews",
    "wharf",
    "way",
]
_ABBREVIATIONS = [
    "st",
    "ave",
    "av",
    "rd",
    "blvd",
    "ln",
    "dr",
    "ct",
    "pl",
    "ter",
    "pkwy",
    "cir",
    "hwy",
    "sq",
    "trl",
    "rte",
]


def _any_case(word: str) -> str:
    return f"(?:{word}|{word.upper()}|{word.capitalize()})"


_SUFFIX = (
    "(?:"
    + "|".join(
        [_any_case(w) for w in _WORDS]
        + [rf"{a.capitalize()}\.?|{a.upper()}\." for a in _ABBREVIATIONS]
    )
    + ")"
)
_NAME_WORD = r"[^\W\d_][\w'.-]{2,}"  # street names: words of three letters or more
_UNIT = r"(?:,?\s+(?:[Aa]pt|APT|[Ss]uite|SUITE|[Uu]nit|UNIT|[Ff]loor|[Rr]oom|#)\.?\s*#?\s*[\w-]+)?"
_CITY = (
    r"(?:,\s*[^\W\d_][\w'.-]*(?:\s+[^\W\d_][\w'.-]*){0,3})?"
    r"(?:,?\s+[A-Z]{2})?(?:,?\s+\d{5}(?:-\d{4})?)?(?![\w])"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            rf"(?<![\w.,])\d{{1,6}}[A-Za-z]?(?:\s+[NSEW]\.?)?(?:\s+{_NAME_WORD}){{1,4}}?\s+"
            rf"{_SUFFIX}(?![\w])(?:\s+(?:NW|NE|SW|SE|[NSEW])\.?(?![\w]))?{_UNIT}{_CITY}"
        ),
        "street address (number, street, suffix)",
    ),
    (
        re.compile(
            r"(?i)(?<![\w])[^\W\d_][\w.-]*(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|"
            r"damm|ufer|straat|laan|plein|gracht|gatan|vägen|väg|gade|vej|veien|vei)"
            r"\s+\d{1,4}[a-z]?(?![\w])(?:,?\s+\d{4,5}\s+[^\W\d_][\w-]+)?"
        ),
        "street address (street, number)",
    ),
    (
        re.compile(
            r"(?i)(?<![\w])\d{1,4}(?:\s?(?:bis|ter))?,?\s+(?:rue|avenue|boulevard|bd|chemin|"
            r"allée|impasse|quai|place|cours)\s+(?:(?:de|du|des|la|le|l'|d')\s*)*[^\W\d_][\w'-]*"
            r"(?:\s+[^\W\d_][\w'-]*){0,3}"
        ),
        "street address (French form)",
    ),
    (
        re.compile(
            r"(?<![\w])(?:Calle|C/|Avenida|Avda\.|Via|Viale|Piazza|Corso|Rua|Praça|Carrer)\s+"
            r"(?:(?:de|del|della|di|da|do|dos)\s+)*[^\W\d_][\w'-]*(?:\s+[^\W\d_][\w'-]*){0,3},?"
            r"\s*(?:n\.?\s*|nº\s*)?\d{1,4}(?![\w])"
        ),
        "street address (Spanish, Italian, Portuguese form)",
    ),
    (
        re.compile(
            r"[\u4e00-\u9fff]{1,4}[都道府県][\u4e00-\u9fff\u3040-\u30ff]{1,8}?[市区町村郡]"
            r"[\u4e00-\u9fff\u3040-\u30ff]*(?:\d+|[一二三四五六七八九十]+)?(?:丁目)?"
            r"(?:[\d\-－]+(?:番地?|号)?)*"
        ),
        "address (Japanese form)",
    ),
    (
        re.compile(r"\d+丁目[\d\-－]+(?:番地?)?(?:\d+号?)?"),
        "address (Japanese block and number)",
    ),
    (
        re.compile(
            r"(?:[\u4e00-\u9fff]{1,6}[省市区县])*[\u4e00-\u9fff]{1,8}(?:路|街|大道|巷|胡同)"
            r"\d+(?:号|號)"
        ),
        "address (Chinese form)",
    ),
    (
        re.compile(
            r"(?:[\uac00-\ud7a3]{1,8}(?:특별시|광역시|특별자치시|도|시)\s)?"
            r"(?:[\uac00-\ud7a3]{1,6}(?:구|군|시)\s)?"
            r"[\uac00-\ud7a3]{1,10}(?:로|길)\s?\d+(?:-\d+)?(?:번길)?"
        ),
        "address (Korean road-name form)",
    ),
)


def find_addresses(text: str) -> Iterator[Span]:
    for pattern, label in _PATTERNS:
        for match in pattern.finditer(text):
            yield Span(match.start(), match.end(), PatternClass.STREET_ADDRESS, label)
