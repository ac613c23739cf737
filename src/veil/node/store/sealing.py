"""Sealing the linkage store: original values encrypted, lookups by keyed digest.

The node's database holds the only link from pseudonyms back to patients. Stolen without the
project key, it must reveal nothing: so every original value (PatientID, name, birth date,
accession, original UIDs) is stored only as an AES-256-GCM ciphertext, and every lookup by an
original value (a study or instance received again) goes through an HMAC-SHA256 digest.

Both keys are derived from the project key with HKDF-SHA256 and a label of their own, so they
are unrelated to each other and to the mapping's HMAC (DESIGN invariant 10). Each ciphertext is
bound to its row by the AEAD's associated data (table and pseudonymous key): a blob copied onto
another row does not open. The database records the project key's fingerprint; a node started
with another key is refused (its links would be unreadable, and new ones mixed with old).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from veil.errors import VeilError

SEAL_LABEL = b"veil linkage store: AES-256-GCM seal, v1"
DIGEST_LABEL = b"veil linkage store: lookup digests, v1"
VERSION = b"\x01"  # first byte of every sealed value
NONCE_BYTES = 12
DIGEST_HEX = 64  # digest column width


class SealError(VeilError):
    """A sealed value does not open under this key (another key, or the row was altered)."""


def _derive(project_key: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(project_key)


def key_fingerprint(project_key: bytes) -> str:
    """The project key's public fingerprint (the same `veil key` shows)."""
    return hashlib.sha256(b"veil-key-fingerprint\x00" + project_key).hexdigest()[:16]


def normalised_name(name: str) -> str:
    """A person name for comparison: first component group, upper case, trailing '^' gone."""
    first = name.split("=", 1)[0] or name
    text = unicodedata.normalize("NFKC", first).upper().strip()
    parts = [part.strip() for part in text.split("^")]
    while parts and not parts[-1]:
        parts.pop()
    return "^".join(parts)


class Sealer:
    """Seals and opens linkage values and computes lookup digests under one project key."""

    def __init__(self, project_key: bytes) -> None:
        self._aead = AESGCM(_derive(project_key, SEAL_LABEL))
        self._digest_key = _derive(project_key, DIGEST_LABEL)
        self.fingerprint = key_fingerprint(project_key)

    def seal(self, context: str, values: dict[str, str]) -> bytes:
        """AES-GCM of ``values`` (JSON) with a fresh nonce, bound to ``context``."""
        nonce = os.urandom(NONCE_BYTES)
        plain = json.dumps(values, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return VERSION + nonce + self._aead.encrypt(nonce, plain, context.encode("utf-8"))

    def open(self, context: str, blob: bytes) -> dict[str, str]:
        if not blob or blob[:1] != VERSION:
            raise SealError("a linkage value is not sealed in a form this veil knows")
        nonce, sealed = blob[1 : 1 + NONCE_BYTES], blob[1 + NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(nonce, sealed, context.encode("utf-8"))
        except InvalidTag:
            raise SealError(
                "a linkage value does not open under this key (another key, or the row was altered)"
            ) from None
        values = json.loads(plain.decode("utf-8"))
        return {str(k): str(v) for k, v in values.items()}

    def digest(self, domain: str, value: str) -> str:
        """HMAC-SHA256 (hex) of ``value`` under the digest key, in its own ``domain``."""
        message = domain.encode("ascii") + b"\x00" + value.encode("utf-8", "surrogateescape")
        return hmac.new(self._digest_key, message, hashlib.sha256).hexdigest()

    def uid_digest(self, uid: str) -> str:
        return self.digest("uid", uid.strip().rstrip("\x00").strip())

    def identity_digests(self, name: str, birth_date: str) -> tuple[str | None, str | None]:
        """Digests of a patient's name and birth date for conflict checks (None: not given)."""
        name_text = normalised_name(name)
        birth = birth_date.strip()
        return (
            self.digest("patient-name", name_text) if name_text else None,
            self.digest("birth-date", birth) if birth else None,
        )
