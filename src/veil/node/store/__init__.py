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

from veil.node.store.db import Database, StoreError, normalise_url
from veil.node.store.linkage import LinkageStore, PatientLink, StudyLink, UidLink
from veil.node.store.returns import ReturnRow, Returns
from veil.node.store.states import (
    IllegalTransition,
    InstanceState,
    ReturnState,
    StudyState,
)
from veil.node.store.studies import Deidentified, InstanceRow, Studies, StudyRow


class Store:
    """The node's database, by concern. Thread-safe: share one per process."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.studies = Studies(db)
        self.returns = Returns(db)
        self.linkage = LinkageStore(db)

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to ``url`` and migrate it to the latest schema (StoreError if it cannot)."""
        return cls(Database.open(url))

    def close(self) -> None:
        self.db.close()


__all__ = [
    "Database",
    "Deidentified",
    "IllegalTransition",
    "InstanceRow",
    "InstanceState",
    "LinkageStore",
    "PatientLink",
    "ReturnRow",
    "ReturnState",
    "Returns",
    "Store",
    "StoreError",
    "Studies",
    "StudyLink",
    "StudyRow",
    "StudyState",
    "UidLink",
    "normalise_url",
]
