"""Person names found by their context rather than as values of the input: after a title
("Dr. Hans Müller", "Prof. Tanaka"), before a degree ("Jane Roe, MD"), after a label
("Referring physician: Smith"), with a Japanese, Chinese or Korean honorific ("山田先生",
"王医生", "김민준 선생님").

A name written the DICOM way ("DOE^JOHN") is not taken as a shape of its own: Siemens writes
its exam tree into study descriptions so ("Head^Brain", "Research^Project"): in the corpus,
every caret-separated pair in free text (40 elements) is one of those. The input's own
names are found in that form as its values (``veil.text.forms``).

Titles are matched in their written case only: in upper case alone "MR", "DR" and "MS" are
imaging terms (magnetic resonance, digital radiography, multiple sclerosis), so "MR BRAIN" is
not a name; upper-case titles count with their period ("DR. SMITH").
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from veil.text.spans import PatternClass, Span

_TITLES = (
    "Dr|Drs|Dres|Prof|Professor|Mr|Mrs|Ms|Miss|Mx|Sir|Dame|Herr|Frau|Hr|Fr|Mme|Mlle|Monsieur|"
    "Madame|Pr|Sr|Sra|Srta|Dña|Don|Dott|Dott\\.ssa|Sig|Sig\\.ra|Dhr|Mevr|Doctor|Doktor|Docteur|"
    "Doutor|Doutora|Dottore|Dottoressa|med|rer\\. ?nat"
)
_UPPER_TITLES = "DR|PROF|MR|MRS|MS|MISS|HERR|FRAU|MME|MLLE"
_PARTICLE = r"(?:van|von|de|der|den|da|di|del|della|du|le|la|ter|ten|zu|y|bin|al|el)"
# A name word: capitalised or upper case, any script with letter case; initials allowed.
_CAP = r"(?:[^\W\d_a-z]\.|[^\W\d_a-z][^\W\d_]*(?:['’-][^\W\d_]+)*)"
_NAME = rf"{_CAP}(?:\s+(?:{_PARTICLE}\s+)*{_CAP}){{0,2}}"
_DEGREES = (
    r"M\.D\.|MD|D\.O\.|DO|Ph\.D\.|PhD|RN|R\.N\.|RT|RT\(R\)|MBBS|MBChB|FRCR|FRCPC|FRCS|DMD|DDS|"
    r"MSc|BSc|Dr\.\s?med\.|Dr\.\s?med|Dr\.\s?rer\.\s?nat\."
)
_CJK_NAME = r"[\u4e00-\u9fff\u3005]{1,4}"
_CJK_HONORIFICS = "先生|様|さま|さん|氏|医師|医生|医师|教授|大夫|主任|君"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        # A title ends with its period or a space: "MrDataRoles" (a vendor's enum) is no name.
        re.compile(
            rf"(?<![\w])(?:(?:(?:{_TITLES})(?:\.\s*|\s+)|(?:{_UPPER_TITLES})\.\s*))+({_NAME})"
        ),
        "name after a title",
    ),
    (re.compile(rf"(?<![\w])({_NAME}),\s*(?:{_DEGREES})(?![\w])"), "name before a degree"),
    (
        re.compile(
            rf"(?i:\b(?:patient(?:'s)?\s+name|patient|referring\s+physician|referred\s+by|"
            rf"physician|doctor|performed\s+by|performing\s+physician|operator|technologist|"
            rf"radiologist|read\s+by|reported\s+by|dictated\s+by|signed\s+by|requested\s+by|"
            rf"ordered\s+by|attending|surgeon|arzt|ärztin|médecin|patiente?|paciente|medico)"
            rf"\s*[:=]\s*)({_NAME}(?:,\s*{_CAP})?)"
        ),
        "name after a label",
    ),
    (
        re.compile(rf"({_CJK_NAME})\s?(?:{_CJK_HONORIFICS})"),
        "name with an honorific (CJK)",
    ),
    (
        re.compile(rf"(?<![\w])({_CAP})\s?(?:{_CJK_HONORIFICS})"),
        "name with an honorific (CJK)",
    ),
    (
        re.compile(
            r"([\uac00-\ud7a3]{2,4})\s?(?:선생님|님|씨|교수님?|의사|원장님?|환자)(?![\uac00-\ud7a3])"
        ),
        "name with an honorific (Korean)",
    ),
)


def find_names(text: str) -> Iterator[Span]:
    for pattern, label in _PATTERNS:
        for match in pattern.finditer(text):
            name = match.group(1)
            if name[:1].isupper() or not name[:1].isascii():  # CJK has no case
                yield Span(match.start(1), match.end(1), PatternClass.NAME, label)
