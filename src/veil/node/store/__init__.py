"""The node's state store: studies, instances, deliveries, returned results and the linkage.

One database (SQLite by default, PostgreSQL by URL), one object per concern::

    store = Store.open("sqlite:///veil-node.db")     # connects and migrates
    store.studies    # Studies:      registration, the study/instance machine, deliveries
    store.returns    # Returns:      the returned-result machine
    store.linkage    # LinkageStore: original <-> pseudonym, for results coming home
    store.close()

Every state change is a named method (`studies.quarantine`, `returns.forwarded`, ...) that
checks its step against the entity's transition table in `states` before a conditional update,
so an illegal step raises `IllegalTransition` and a lost race returns False. Rows come back as
frozen dataclasses (`StudyRow`, `InstanceRow`, `ReturnRow`, `PatientLink`, ...), never as
SQLAlchemy rows. A new concern (e.g. console accounts) gets its own module with a class
taking the `Database`, its tables in `models`, a numbered migration in `migrations`, and an
attribute here.
"""

from __future__ import annotations

from veil.errors import VeilError
from veil.node.store.db import Database, StoreError, normalise_url
from veil.node.store.keybinding import KeyMismatchError, bind_to_key
from veil.node.store.linkage import LinkageStore, PatientLink, StudyLink, UidLink
from veil.node.store.returns import ReturnRow, Returns
from veil.node.store.sealing import Sealer
from veil.node.store.states import (
    IllegalTransition,
    InstanceState,
    ReturnState,
    StudyState,
)
from veil.node.store.studies import (
    Arrival,
    Deidentified,
    Incoming,
    InstanceRow,
    Registration,
    Studies,
    StudyIdentities,
    StudyRow,
)


class Store:
    """The node's database, by concern. Thread-safe: share one per process.

    With a `Sealer` (the node has the project key) every part can use original values: they
    are digested for lookups and sealed for the linkage. Without one (`veil node status`,
    `retry`, `forget`), only what needs no original works, and the rest says so.
    """

    def __init__(self, db: Database, sealer: Sealer | None = None) -> None:
        self.db = db
        self.sealer = sealer
        self.studies = Studies(db, sealer)
        self.returns = Returns(db, sealer)
        self.linkage = LinkageStore(db, sealer)

    @classmethod
    def open(cls, url: str, sealer: Sealer | None = None) -> Store:
        """Connect to ``url`` and migrate it to the latest schema (StoreError if it cannot).

        With ``sealer`` the database is bound to the project key: the first node records the
        key's fingerprint, and a node with another key is refused (KeyMismatchError).
        """
        store = cls(Database.open(url, sealer), sealer)
        if sealer is not None:
            try:
                bind_to_key(store.db, sealer.fingerprint)
            except VeilError:
                store.close()
                raise
        return store

    def close(self) -> None:
        self.db.close()


__all__ = [
    "Arrival",
    "Database",
    "Deidentified",
    "IllegalTransition",
    "Incoming",
    "InstanceRow",
    "InstanceState",
    "KeyMismatchError",
    "LinkageStore",
    "PatientLink",
    "Registration",
    "ReturnRow",
    "ReturnState",
    "Returns",
    "Sealer",
    "Store",
    "StoreError",
    "Studies",
    "StudyIdentities",
    "StudyLink",
    "StudyRow",
    "StudyState",
    "UidLink",
    "normalise_url",
]
