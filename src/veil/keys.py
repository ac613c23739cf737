"""Finding, creating and reading the secret key; and the user's lookup table.

The key is 32 random bytes stored as hex in a file only its owner can read, or
given in the VEIL_KEY environment variable (hex). It is never printed: `veil key`
shows where it is and its fingerprint.
"""

from __future__ import annotations

import csv
import os
import secrets
import stat
import string
from dataclasses import dataclass
from pathlib import Path

from veil.errors import KeyFileError, LookupTableError
from veil.mapping import LookupEntry, Mapper

KEY_ENV = "VEIL_KEY"
KEY_FILE_ENV = "VEIL_KEY_FILE"
KEY_BYTES = 32


@dataclass(frozen=True)
class KeySource:
    """Where a key came from, for `veil key` (never the key itself)."""

    description: str
    path: Path | None
    created: bool


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "veil"


def default_key_path() -> Path:
    return config_dir() / "key"


def _parse_key(text: str, origin: str) -> bytes:
    """Exactly 64 hexadecimal characters (32 bytes); anything else is refused, never padded."""
    text = text.strip()
    if not text:
        raise KeyFileError(
            f"{origin}: the key is empty; set it to {KEY_BYTES * 2} hexadecimal characters "
            "(`veil key create PATH` makes a key file) or unset it to use the key file"
        )
    if len(text) != KEY_BYTES * 2 or not all(c in string.hexdigits for c in text):
        raise KeyFileError(
            f"{origin}: the key must be exactly {KEY_BYTES * 2} hexadecimal characters "
            f"({KEY_BYTES} random bytes), not {len(text)} characters of this form; "
            "create a new one with `veil key create PATH`"
        )
    return bytes.fromhex(text)


def _refuse_shared_folder(path: Path) -> None:
    """A key in a folder others can write can be swapped for theirs: refuse it."""
    if os.name != "posix":
        return
    # Both the folder named and, through a symbolic link, the folder the file really is in.
    for folder in dict.fromkeys((path.absolute().parent, path.resolve().parent)):
        try:
            mode = folder.stat().st_mode
        except OSError:
            continue  # the key file itself will then fail to open, with its own message
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise KeyFileError(
                f"{path}: the key file is in a folder others can write ({folder}); "
                f"move it to a folder only you can write, or run `chmod go-w {folder}`"
            )


def create_key_file(path: Path) -> None:
    """Write a new random key with owner-only permissions, refusing to replace one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    _refuse_shared_folder(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise KeyFileError(
            f"{path}: a key already exists here; veil never replaces a key"
        ) from None
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(KEY_BYTES) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(
            f"{path}: no key file here; create one with `veil key create PATH`"
        ) from None
    if os.name == "posix" and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path}: the key file is readable by others; run `chmod 600 {path}`")
    _refuse_shared_folder(path)
    try:
        return _parse_key(path.read_text(encoding="ascii"), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: cannot read the key file ({type(exc).__name__})") from None


def resolve_key(path: Path | None = None, create: bool = True) -> tuple[bytes, KeySource]:
    """The key from an explicit file, VEIL_KEY, VEIL_KEY_FILE, or the default file.

    The default file is created on first use, so a newcomer needs no setup step.
    """
    if path is not None:
        return read_key_file(path), KeySource(f"file {path}", path, False)
    # Set but empty is a mistake (an unset variable in a script), not a request for the
    # default key: falling back would silently pseudonymise under another key.
    if KEY_ENV in os.environ:
        key = _parse_key(os.environ[KEY_ENV], f"environment variable {KEY_ENV}")
        return key, KeySource(f"environment variable {KEY_ENV}", None, False)
    if KEY_FILE_ENV in os.environ:
        if not os.environ[KEY_FILE_ENV].strip():
            raise KeyFileError(
                f"environment variable {KEY_FILE_ENV} is empty; set it to a key file or unset it"
            )
        env_path = Path(os.environ[KEY_FILE_ENV])
        return read_key_file(env_path), KeySource(
            f"file {env_path} ({KEY_FILE_ENV})", env_path, False
        )
    default = default_key_path()
    created = False
    if not default.exists():
        if not create:
            raise KeyFileError(f"{default}: no key yet; it is created on first `veil deid`")
        create_key_file(default)
        created = True
    return read_key_file(default), KeySource(f"file {default}", default, created)


def read_lookup_table(path: Path) -> dict[tuple[str, str], LookupEntry]:
    """Read a CSV with columns PatientID, pseudonym[, date_offset_days][, IssuerOfPatientID].

    Rows are keyed by (issuer, PatientID); a row without an issuer matches that PatientID from
    any issuer. Header names are matched case-insensitively; errors name the line, never the
    value.
    """
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise LookupTableError(f"{path}: cannot open ({exc.strerror})") from None
    entries: dict[tuple[str, str], LookupEntry] = {}
    with handle:
        reader = csv.DictReader(handle)
        fields = {name.strip().lower(): name for name in reader.fieldnames or []}
        id_col = fields.get("patientid") or fields.get("patient_id") or fields.get("original")
        ps_col = (
            fields.get("pseudonym") or fields.get("subject_id") or fields.get("trial_subject_id")
        )
        off_col = fields.get("date_offset_days") or fields.get("date_offset")
        issuer_col = fields.get("issuerofpatientid") or fields.get("issuer")
        if not id_col or not ps_col:
            raise LookupTableError(
                f"{path}: line 1: the header needs columns 'PatientID' and 'pseudonym' "
                "(and optionally 'date_offset_days' and 'IssuerOfPatientID')"
            )
        for line, row in enumerate(reader, start=2):
            original = (row.get(id_col) or "").strip()
            pseudonym = (row.get(ps_col) or "").strip()
            issuer = (row.get(issuer_col) or "").strip() if issuer_col else ""
            if not original or not pseudonym:
                raise LookupTableError(
                    f"{path}: line {line}: PatientID and pseudonym must not be empty"
                )
            if len(pseudonym) > 64:
                raise LookupTableError(f"{path}: line {line}: pseudonym longer than 64 characters")
            offset: int | None = None
            raw_offset = (row.get(off_col) or "").strip() if off_col else ""
            if raw_offset:
                try:
                    offset = int(raw_offset)
                except ValueError:
                    raise LookupTableError(
                        f"{path}: line {line}: date_offset_days must be a whole number of days"
                    ) from None
            if (issuer, original) in entries:
                raise LookupTableError(f"{path}: line {line}: this PatientID is listed twice")
            entries[(issuer, original)] = LookupEntry(pseudonym, offset)
    return entries


def load_mapper(
    key_path: Path | None = None,
    lookup_path: Path | None = None,
    placeholders: frozenset[str] | None = None,
) -> Mapper:
    """The mapper of a command or node; ``placeholders`` replaces the default placeholder IDs."""
    key, _ = resolve_key(key_path)
    lookup = read_lookup_table(lookup_path) if lookup_path else {}
    if placeholders is None:
        return Mapper(key, lookup)
    return Mapper(key, lookup, frozenset(p.strip().upper() for p in placeholders))
