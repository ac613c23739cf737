"""Keyed, deterministic mapping of UIDs, pseudonyms and date offsets.

Every function here is a pure function of (secret key, input value): no state is
shared between processes, batches or machines, so they agree without talking
(DESIGN invariant 6). HMAC-SHA256 with a domain label per kind of value keeps
the mappings of different kinds unrelated even for equal inputs.

Who a dataset is about (its *patient key*) is decided once, by `patient_key`:

- PatientID alone, when there is no Issuer of Patient ID: the HMAC input is the PatientID
  under the domains ``patient`` and ``date-offset`` (unchanged since the first release, so
  pseudonyms and offsets of such data stay what they were);
- Issuer of Patient ID + PatientID when an issuer is given: the HMAC input is
  ``issuer NUL PatientID`` under the domains ``patient-issuer`` and ``date-offset-issuer``, so
  one MRN from two hospitals gives two pseudonyms;
- the StudyInstanceUID (else the SOPInstanceUID) when the PatientID is empty or a
  placeholder (``0``, ``UNKNOWN``, only zeros or punctuation, ...): the HMAC input is that UID
  under ``patient-study`` and ``date-offset-study``. Such a study is its own subject: two
  unknown patients never share a pseudonym or a date offset.

Values are stripped of surrounding spaces and trailing NUL padding first. The domains keep the
three kinds apart, so no PatientID can be chosen to collide with an issuer or a study key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

UID_ROOT = "2.25."
# 10 years back at most, 1 year at least: far enough to hide the real dates, close
# enough that shifted dates stay plausible for age-normative processing.
MIN_OFFSET_DAYS = 365
MAX_OFFSET_DAYS = 3652

# PatientIDs that name nobody: scanners and PACS fill these in when the real ID is unknown.
# Compared after stripping and upper-casing; an ID of only zeros or only punctuation is a
# placeholder too (see `is_placeholder_id`). The node's configuration can replace this list.
DEFAULT_PLACEHOLDER_IDS: frozenset[str] = frozenset(
    {
        "ANON",
        "ANONYMOUS",
        "ANONYMIZED",
        "ANONYMISED",
        "EMERGENCY",
        "NA",
        "N/A",
        "NONE",
        "NOID",
        "NO ID",
        "NULL",
        "PATIENT",
        "TEST",
        "UNK",
        "UNKNOWN",
        "X",
    }
)


def _clean(value: str) -> str:
    return value.strip().rstrip("\x00").strip()


def is_placeholder_id(patient_id: str, placeholders: frozenset[str]) -> bool:
    """Whether ``patient_id`` names nobody in particular (empty, ``0``, ``UNKNOWN``, ``---``)."""
    text = _clean(patient_id).upper()
    if not text or text in placeholders:
        return True
    # "0", "0000000", "-", "***": no letter and no non-zero digit.
    return not any(c.isalnum() and c != "0" for c in text)


class _Getter(Protocol):
    def get(self, key: str, default: object = ...) -> object: ...


@dataclass(frozen=True)
class Patient:
    """The values that say who a dataset is about (top level of the dataset)."""

    patient_id: str
    issuer: str = ""
    study_uid: str = ""
    instance_uid: str = ""

    @classmethod
    def of(cls, ds: _Getter) -> Patient:
        """From a pydicom Dataset (or any mapping of keywords to values)."""

        def text(keyword: str) -> str:
            value = ds.get(keyword, "")
            return "" if value is None else str(value)

        return cls(
            text("PatientID"),
            text("IssuerOfPatientID"),
            text("StudyInstanceUID"),
            text("SOPInstanceUID"),
        )


class PatientKeyKind(str, Enum):
    """How the patient key was formed; each kind has its own HMAC domains."""

    PATIENT_ID = "patient"
    ISSUER_AND_ID = "patient-issuer"
    STUDY = "patient-study"


@dataclass(frozen=True)
class PatientKey:
    kind: PatientKeyKind
    value: str = field(repr=False)

    @property
    def offset_domain(self) -> str:
        return {
            PatientKeyKind.PATIENT_ID: "date-offset",
            PatientKeyKind.ISSUER_AND_ID: "date-offset-issuer",
            PatientKeyKind.STUDY: "date-offset-study",
        }[self.kind]


def patient_key(
    patient: Patient, placeholders: frozenset[str] = DEFAULT_PLACEHOLDER_IDS
) -> PatientKey:
    """The one rule that decides which datasets belong to the same patient (module docstring)."""
    patient_id = _clean(patient.patient_id)
    if is_placeholder_id(patient_id, placeholders):
        return PatientKey(
            PatientKeyKind.STUDY, _clean(patient.study_uid) or _clean(patient.instance_uid)
        )
    issuer = _clean(patient.issuer)
    if issuer:
        return PatientKey(PatientKeyKind.ISSUER_AND_ID, f"{issuer}\x00{patient_id}")
    return PatientKey(PatientKeyKind.PATIENT_ID, patient_id)


def stand_in_uid(data: bytes) -> str:
    """What an instance without any SOP Instance UID is keyed by: a digest of its bytes.

    `veil deid` keys the output's UID on it and `veil audit` pairs by it, so both must
    compute it the same way: here, once.
    """
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class LookupEntry:
    """A row of a user-given lookup table: a trial subject ID and an optional date offset."""

    pseudonym: str
    date_offset_days: int | None = None


# Lookup rows by (Issuer of Patient ID, PatientID); an empty issuer matches any issuer.
LookupTable = Mapping[tuple[str, str], LookupEntry]


@dataclass(frozen=True)
class Mapper:
    """Maps identifiers under one secret key; safe to pickle to worker processes."""

    key: bytes = field(repr=False)
    lookup: LookupTable = field(default_factory=dict, repr=False)
    placeholders: frozenset[str] = DEFAULT_PLACEHOLDER_IDS

    def digest(self, domain: str, value: str) -> bytes:
        message = domain.encode("ascii") + b"\x00" + value.encode("utf-8", "surrogateescape")
        return hmac.new(self.key, message, hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """A UID under 2.25 (a UUID in integer form, RFC 9562 version 8) for ``original``."""
        raw = bytearray(self.digest("uid", original.strip().rstrip("\x00"))[:16])
        raw[6] = (raw[6] & 0x0F) | 0x80  # version 8: custom, hash-based
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
        return UID_ROOT + str(int.from_bytes(raw, "big"))

    def patient_key(self, patient: Patient) -> PatientKey:
        return patient_key(patient, self.placeholders)

    def _lookup(self, patient: Patient, key: PatientKey) -> LookupEntry | None:
        if key.kind is PatientKeyKind.STUDY or not self.lookup:
            return None
        patient_id, issuer = _clean(patient.patient_id), _clean(patient.issuer)
        return self.lookup.get((issuer, patient_id)) or self.lookup.get(("", patient_id))

    def patient_pseudonym(self, patient: Patient) -> str:
        """The pseudonym that replaces PatientID (and PatientName), from the lookup table first."""
        key = self.patient_key(patient)
        entry = self._lookup(patient, key)
        if entry is not None:
            return entry.pseudonym
        return "VEIL" + self.token(key.kind.value, key.value, 12)

    def token(self, domain: str, value: str, length: int) -> str:
        """An upper-case base32 token of ``length`` characters (at most 52)."""
        text = base64.b32encode(self.digest(domain, value)).decode("ascii").rstrip("=")
        return text[:length]

    def date_offset_days(self, patient: Patient) -> int:
        """Days to subtract from every date of this patient (same for all their studies)."""
        key = self.patient_key(patient)
        entry = self._lookup(patient, key)
        if entry is not None and entry.date_offset_days is not None:
            return entry.date_offset_days
        span = MAX_OFFSET_DAYS - MIN_OFFSET_DAYS + 1
        number = int.from_bytes(self.digest(key.offset_domain, key.value)[:8], "big")
        return MIN_OFFSET_DAYS + number % span

    def hashed_value(self, domain: str, value: str, max_length: int) -> str:
        """A keyed hash of a value, for the ``hash`` override action."""
        return self.token(domain, value, max(1, min(max_length, 52)))

    def fingerprint(self) -> str:
        """A short public fingerprint of the key (safe to show and log)."""
        return hashlib.sha256(b"veil-key-fingerprint\x00" + self.key).hexdigest()[:16]
