"""The input's identifying values in the forms they take when burned into an image.

Used to pick which text to remove (mode ``sensitive``) and, in every mode, by the verification
that searches the cleaned pixels. Burned-in text is typed by the scanner, not copied from the
header: "24-MAY-02" on the image for 20020524 in the header, "5/25/2011" for 20110525, names
with ``^`` as spaces, and OCR misreads a character here and there. So values are compared in a
normalised form (upper case letters and digits only), dates in many renderings, and long
values fuzzily (a ratio of 0.8 tolerates one misread character in five).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
FUZZY_MIN = 6  # values at least this long are matched fuzzily
FUZZY_RATIO = 0.8

# (keyword, kind): values of the input searched in the pixels.
_NAMES = (
    ("PatientName", "patient-name"),
    ("OtherPatientNames", "patient-name"),
    ("PatientBirthName", "patient-name"),
    ("PatientMotherBirthName", "patient-name"),
    ("ReferringPhysicianName", "physician"),
    ("PerformingPhysicianName", "physician"),
    ("NameOfPhysiciansReadingStudy", "physician"),
    ("OperatorsName", "operator"),
)
_TEXTS = (
    ("PatientID", "patient-id"),
    ("OtherPatientIDs", "patient-id"),
    ("AccessionNumber", "accession"),
    ("StudyID", "study-id"),
    ("InstitutionName", "institution"),
    ("InstitutionAddress", "institution"),
    ("InstitutionalDepartmentName", "institution"),
    ("PatientAddress", "address"),
    ("PatientTelephoneNumbers", "telephone"),
    ("StationName", "station"),
    ("DeviceSerialNumber", "device-serial"),
)
_DATES = (
    ("PatientBirthDate", "birth-date"),
    ("StudyDate", "date"),
    ("SeriesDate", "date"),
    ("AcquisitionDate", "date"),
    ("ContentDate", "date"),
)
_TIMES = (
    ("StudyTime", "time"),
    ("SeriesTime", "time"),
    ("AcquisitionTime", "time"),
    ("ContentTime", "time"),
)
# Placeholders scanners write when nothing was entered: never identifying.
_PLACEHOLDERS = {"", "NONE", "NOINFO", "UNKNOWN", "ANONYMOUS", "ANONYMIZED", "NA", "NULL"}


def norm(text: str) -> str:
    """Upper-case letters and digits only: 'Doe^John' and 'DOE JOHN' meet as 'DOEJOHN'."""
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^0-9A-Za-z]+", text.upper()) if t]


@dataclass(frozen=True)
class Needle:
    """One identifying value, as the normalised forms it may take; ``kind`` names it."""

    kind: str
    forms: tuple[str, ...]
    fuzzy: bool = True  # dates and times are exact: 24-MAY-03 is another day, not a misread


def date_forms(value: str) -> tuple[str, ...]:
    """A DA value (YYYYMMDD) in the renderings scanners burn in, normalised."""
    digits = re.sub(r"\D", "", value)
    if len(digits) != 8:
        return ()
    yyyy, mm, dd = digits[:4], digits[4:6], digits[6:8]
    try:
        month = MONTHS[int(mm) - 1]
    except IndexError:
        return ()
    yy = yyyy[2:]
    m, d = str(int(mm)), str(int(dd))
    forms = set()
    for year in (yyyy, yy):
        for mon in {mm, m}:
            for day in {dd, d}:
                forms.update({f"{year}{mon}{day}", f"{day}{mon}{year}", f"{mon}{day}{year}"})
        for day in {dd, d}:
            forms.update({f"{day}{month}{year}", f"{month}{day}{year}", f"{year}{month}{day}"})
    # Forms shorter than six characters (e.g. "5511") are too short to be evidence alone.
    return tuple(sorted(f for f in forms if len(f) >= 6))


def time_forms(value: str) -> tuple[str, ...]:
    digits = re.sub(r"\D", "", value.split(".")[0])
    if len(digits) < 4:
        return ()
    hh, mm = digits[:2], digits[2:4]
    forms = {f"{hh}{mm}{digits[4:6]}"} if len(digits) >= 6 else set()
    hour12 = int(hh) % 12 or 12
    if len(digits) >= 6:
        forms.add(f"{hour12}{mm}{digits[4:6]}{'PM' if int(hh) >= 12 else 'AM'}")
    return tuple(sorted(f for f in forms if len(f) >= 6))


def _values(ds: Dataset, keyword: str) -> list[str]:
    elem = ds.data_element(keyword) if keyword in ds else None
    if elem is None or elem.value is None or isinstance(elem.value, bytes | bytearray):
        return []
    value = elem.value
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value]
    return [str(value)]  # str, PersonName, numbers


def _name_needles(ds: Dataset) -> list[Needle]:
    needles = []
    for keyword, kind in _NAMES:
        for value in _values(ds, keyword):
            parts = [p for p in re.split(r"[\^=]", value) if norm(p)]
            forms = {norm(value)} | {norm(p) for p in parts}
            forms |= {norm(" ".join(reversed(parts[:2])))} if len(parts) >= 2 else set()
            forms = {f for f in forms if len(f) >= 2} - _PLACEHOLDERS  # an initial is no evidence
            if forms:
                needles.append(Needle(kind, tuple(sorted(forms))))
    return needles


def _text_needles(ds: Dataset) -> list[Needle]:
    needles = []
    for keyword, kind in _TEXTS:
        for value in _values(ds, keyword):
            form = norm(value)
            # One character ("1", a Study ID) is no evidence: OCR reads a lone digit in the
            # texture of anatomy.
            if len(form) >= 2 and form not in _PLACEHOLDERS and not set(form) <= {"0"}:
                needles.append(Needle(kind, (form,)))
    return needles


def _moment_needles(ds: Dataset) -> list[Needle]:
    """Dates and times, in the forms a device prints them (exact: digits are not fuzzy)."""
    needles = []
    for table, forms_of in ((_DATES, date_forms), (_TIMES, time_forms)):
        for keyword, kind in table:
            for value in _values(ds, keyword):
                forms = forms_of(value)
                if forms:
                    needles.append(Needle(kind, forms, fuzzy=False))
    return needles


def collect(ds: Dataset) -> tuple[Needle, ...]:
    """The input's identifying values (read before de-identification), as needles."""
    needles = _name_needles(ds) + _text_needles(ds) + _moment_needles(ds)
    return tuple(dict.fromkeys(needles))


def _fuzzy_in(form: str, text: str) -> bool:
    size = len(form)
    if size > len(text) + 1:
        return SequenceMatcher(None, form, text).ratio() >= FUZZY_RATIO and len(text) >= size - 1
    for width in (size - 1, size, size + 1):
        for start in range(0, max(len(text) - width, 0) + 1):
            window = text[start : start + width]
            if SequenceMatcher(None, form, window).ratio() >= FUZZY_RATIO:
                return True
    return False


def _token_run(form: str, words: list[str]) -> bool:
    """``form`` equals one word or a run of consecutive words (exact, for short values)."""
    for start in range(len(words)):
        joined = ""
        for word in words[start:]:
            joined += word
            if joined == form:
                return True
            if len(joined) >= len(form):
                break
    return False


def match(text: str, needles: tuple[Needle, ...]) -> list[str]:
    """The kinds of identifying value that ``text`` shows (empty: none)."""
    words = tokens(text)
    flat = "".join(words)
    kinds = []
    for needle in needles:
        for form in needle.forms:
            if len(form) < FUZZY_MIN or (form.isdigit() and len(form) < 8):
                # Short values and numbers: only as whole words (a patient ID "204" inside
                # "2048" is chance, not evidence), and exactly; long digit runs fuzzily.
                hit = _token_run(form, words)
            else:
                hit = form in flat or (needle.fuzzy and _fuzzy_in(form, flat))
            if hit:
                kinds.append(needle.kind)
                break
    return kinds
