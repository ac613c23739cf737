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
    LOOKS_LIKE_NAME = "looks-like-name"  # free-text heuristic, not a value of the input
    LOOKS_LIKE_DATE = "looks-like-date"  # free-text heuristic, not a value of the input
    LOOKS_LIKE_CONTACT = "looks-like-contact"  # an e-mail address in free text
    AUDIT_INCOMPLETE = "audit-incomplete"  # the audit itself failed: fail closed


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
