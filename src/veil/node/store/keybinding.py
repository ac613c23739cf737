"""A database sealed under one project key is used with that key only.

The first node to open a database records the fingerprint of its key (`veil key` shows the same
fingerprint); a node with another key is refused before it writes anything. Before this, a
node started with another key silently, and every link already stored became unreadable.
"""

from __future__ import annotations

from sqlalchemy import select

from veil.errors import VeilError
from veil.node.store import models
from veil.node.store.db import Database

FINGERPRINT = "key_fingerprint"


class KeyMismatchError(VeilError):
    """The database was sealed under another project key."""


def recorded_fingerprint(db: Database) -> str | None:
    s = models.settings
    with db.read() as conn:
        value = conn.execute(select(s.c.value).where(s.c.name == FINGERPRINT)).scalar()
    return None if value is None else str(value)


def bind_to_key(db: Database, fingerprint: str) -> None:
    """Record ``fingerprint`` on first use; KeyMismatchError if another one is recorded."""
    recorded = recorded_fingerprint(db)
    if recorded is None:
        with db.write() as conn:
            db.insert_ignoring_duplicates(
                conn, models.settings, [{"name": FINGERPRINT, "value": fingerprint}]
            )
        recorded = recorded_fingerprint(db)
    if recorded != fingerprint:
        raise KeyMismatchError(
            f"state.database: this database is sealed under the project key with fingerprint "
            f"{recorded}, and this node's key has fingerprint {fingerprint}; start the node "
            "with the key it was sealed under (`veil key` shows a key's fingerprint), or give "
            "it another database"
        )
