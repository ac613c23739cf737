"""The findings model: what the audit reports, never the value it matched."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Severity(str, Enum):
    """Errors quarantine a file; warnings are reported for a human to look at."""

    ERROR = "error"
    WARNING = "warning"


class Kind(str, Enum):
    """What kind of identifier of the input was found (or looks present) in the output."""

    PATIENT_NAME = "patient-name"
    PATIENT_ID = "patient-id"
    BIRTH_DATE = "birth-date"
    ACCESSION = "accession"
    INSTITUTION = "institution"
    PHYSICIAN = "physician"
    PERSON_NAME = "person-name"  # any other person name attribute (PN) of the input
    DATE = "date"  # a date of the input the profile removes or shifts
    UID = "uid"
    DEVICE = "device"  # station name, serial numbers: identify the site
    CONTACT = "contact"  # addresses, telephone numbers, e-mail
    CHARACTERISTIC = "patient-characteristic"  # age, sex, size, weight: quasi-identifiers
    DESCRIPTOR = "descriptor"  # free-text descriptions the profile removes
    PRIVATE = "private-value"  # text of a private element of the input
    OTHER = "other-identifying-attribute"
    # Identifying text found by its shape in free text (veil.text patterns), not as a value
    # of the input: errors, like the input's own identifiers.
    LOOKS_LIKE_NAME = "looks-like-name"  # after a title or label, or DICOM-style (DOE^JOHN)
    LOOKS_LIKE_DATE = "looks-like-date"
    LOOKS_LIKE_PHONE = "looks-like-phone"
    LOOKS_LIKE_EMAIL = "looks-like-email"
    LOOKS_LIKE_URL = "looks-like-url"
    LOOKS_LIKE_NATIONAL_ID = "looks-like-national-id"  # SSN-like and other national IDs
    LOOKS_LIKE_ADDRESS = "looks-like-address"
    LOOKS_LIKE_RECORD_NUMBER = "looks-like-record-number"  # digits after an ID keyword
    AUDIT_INCOMPLETE = "audit-incomplete"  # the audit itself failed: fail closed
    BURNED_IN_TEXT = "burned-in-text"  # pixels may carry text (ultrasound, screens, cines)
    # Without the originals (veil.audit.standalone): judged from the output and the tables.
    NOT_REMOVED = "not-removed"  # Table E.1-1 removes it; it has a value
    UNSAFE_PRIVATE = "unsafe-private"  # private elements outside the safe private list
    ORIGINAL_UID = "original-uid"  # an instance UID under a maker's or site's root
    NOT_DECLARED = "not-declared"  # Patient Identity Removed / De-identification Method
    BURNED_IN = "burned-in"  # declared burned-in text, or a class that usually has it


@dataclass(frozen=True)
class Finding:
    """One place in one output file where something identifying was found.

    ``path`` is an element path such as ``(0040,0275)[0].(0032,1060)``, or ``bytes@OFFSET``
    (optionally after the element the offset lies in) for hits in raw bytes. ``source`` is the
    path of the input element the matched value came from (empty for heuristic findings).
    No field ever holds the matched value.
    """

    file: str
    path: str
    kind: Kind
    form: str
    severity: Severity
    source: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "file": self.file,
            "path": self.path,
            "kind": self.kind.value,
            "form": self.form,
            "severity": self.severity.value,
            "source": self.source,
        }

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR
