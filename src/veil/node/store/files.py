"""The SQLite database file is the linkage store: it is created owner-only, and a database
(or its -wal/-shm) that other users can read or write is refused.

SQLite creates the -wal and -shm files with the database file's permissions, so a database
created 0600 stays private. A PostgreSQL database is protected by its server's roles instead
(see docs/security.md).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from veil.errors import VeilError


class DatabaseExposedError(VeilError):
    """The database file can be read or written by other users."""


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for PostgreSQL or an in-memory database)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _exposure(mode: int) -> str | None:
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "writable"
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        return "readable"
    return None


def private_database_file(url: str) -> None:
    """Create the SQLite file owner-only if it is new; refuse one that others can reach."""
    path = sqlite_path(url)
    if path is None or os.name != "posix":
        return
    if not path.exists():
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            pass
        except OSError:
            return  # SQLite reports the folder problem itself, with its own message
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        try:
            how = _exposure(candidate.stat().st_mode)
        except FileNotFoundError:
            continue
        if how is not None:
            raise DatabaseExposedError(
                f"state.database: {candidate} is {how} by other users, and the database holds "
                f"the link from pseudonyms to patients; run `chmod 600 {path}*` (and consider "
                "who may have copied it)"
            )
    folder = path.resolve().parent
    if _exposure(folder.stat().st_mode) == "writable":
        raise DatabaseExposedError(
            f"state.database: {path} is in a folder other users can write ({folder}), so they "
            "could replace it; move it or run `chmod go-w` on the folder"
        )
