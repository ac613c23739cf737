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
    text = text.strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError(
            f"{origin}: the key must be {KEY_BYTES * 2} hexadecimal characters; "
            "create a new one with `veil key create PATH`"
        ) from None
    if len(key) < 16:
        raise KeyFileError(f"{origin}: the key is too short ({len(key)} bytes, need at least 16)")
    return key


def create_key_file(path: Path) -> None:
    """Write a new random key with owner-only permissions, refusing to replace one."""
    path.parent.mkdir(parents=True, exist_ok=True)
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
    if os.environ.get(KEY_ENV):
        key = _parse_key(os.environ[KEY_ENV], f"environment variable {KEY_ENV}")
        return key, KeySource(f"environment variable {KEY_ENV}", None, False)
    if os.environ.get(KEY_FILE_ENV):
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


def read_lookup_table(path: Path) -> dict[str, LookupEntry]:
    """Read a CSV with columns PatientID, pseudonym[, date_offset_days].

    Header names are matched case-insensitively; errors name the line, never the value.
    """
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise LookupTableError(f"{path}: cannot open ({exc.strerror})") from None
    entries: dict[str, LookupEntry] = {}
    with handle:
        reader = csv.DictReader(handle)
        fields = {name.strip().lower(): name for name in reader.fieldnames or []}
        id_col = fields.get("patientid") or fields.get("patient_id") or fields.get("original")
        ps_col = (
            fields.get("pseudonym") or fields.get("subject_id") or fields.get("trial_subject_id")
        )
        off_col = fields.get("date_offset_days") or fields.get("date_offset")
        if not id_col or not ps_col:
            raise LookupTableError(
                f"{path}: line 1: the header needs columns 'PatientID' and 'pseudonym' "
                "(and optionally 'date_offset_days')"
            )
        for line, row in enumerate(reader, start=2):
            original = (row.get(id_col) or "").strip()
            pseudonym = (row.get(ps_col) or "").strip()
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
            if original in entries:
                raise LookupTableError(f"{path}: line {line}: this PatientID is listed twice")
            entries[original] = LookupEntry(pseudonym, offset)
    return entries


def load_mapper(key_path: Path | None = None, lookup_path: Path | None = None) -> Mapper:
    key, _ = resolve_key(key_path)
    lookup = read_lookup_table(lookup_path) if lookup_path else {}
    return Mapper(key, lookup)
