"""Keyed, deterministic mapping of UIDs, pseudonyms and date offsets.

Every function here is a pure function of (secret key, input value): no state is
shared between processes, batches or machines, so they agree without talking
(DESIGN invariant 6). HMAC-SHA256 with a domain label per kind of value keeps
the mappings of different kinds unrelated even for equal inputs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

UID_ROOT = "2.25."
# 10 years back at most, 1 year at least: far enough to hide the real dates, close
# enough that shifted dates stay plausible for age-normative processing.
MIN_OFFSET_DAYS = 365
MAX_OFFSET_DAYS = 3652


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


@dataclass(frozen=True)
class Mapper:
    """Maps identifiers under one secret key; safe to pickle to worker processes."""

    key: bytes = field(repr=False)
    lookup: dict[str, LookupEntry] = field(default_factory=dict, repr=False)

    def digest(self, domain: str, value: str) -> bytes:
        message = domain.encode("ascii") + b"\x00" + value.encode("utf-8", "surrogateescape")
        return hmac.new(self.key, message, hashlib.sha256).digest()

    def uid(self, original: str) -> str:
        """A UID under 2.25 (a UUID in integer form, RFC 9562 version 8) for ``original``."""
        raw = bytearray(self.digest("uid", original.strip().rstrip("\x00"))[:16])
        raw[6] = (raw[6] & 0x0F) | 0x80  # version 8: custom, hash-based
        raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
        return UID_ROOT + str(int.from_bytes(raw, "big"))

    def patient_pseudonym(self, patient_id: str) -> str:
        """The pseudonym that replaces PatientID (and PatientName), from the lookup table first."""
        entry = self.lookup.get(patient_id.strip())
        if entry is not None:
            return entry.pseudonym
        return "VEIL" + self.token("patient", patient_id.strip(), 12)

    def token(self, domain: str, value: str, length: int) -> str:
        """An upper-case base32 token of ``length`` characters (at most 52)."""
        text = base64.b32encode(self.digest(domain, value)).decode("ascii").rstrip("=")
        return text[:length]

    def date_offset_days(self, patient_id: str) -> int:
        """Days to subtract from every date of this patient (same for all their studies)."""
        entry = self.lookup.get(patient_id.strip())
        if entry is not None and entry.date_offset_days is not None:
            return entry.date_offset_days
        span = MAX_OFFSET_DAYS - MIN_OFFSET_DAYS + 1
        number = int.from_bytes(self.digest("date-offset", patient_id.strip())[:8], "big")
        return MIN_OFFSET_DAYS + number % span

    def hashed_value(self, domain: str, value: str, max_length: int) -> str:
        """A keyed hash of a value, for the ``hash`` override action."""
        return self.token(domain, value, max(1, min(max_length, 52)))

    def fingerprint(self) -> str:
        """A short public fingerprint of the key (safe to show and log)."""
        return hashlib.sha256(b"veil-key-fingerprint\x00" + self.key).hexdigest()[:16]
