"""Opening the state database: URL forms, SQLite pragmas, migrations, the writer lock.

SQLite by default (WAL, one writer at a time inside the process), PostgreSQL by URL
(`postgresql://user@host:port/db`). Every part of the store (studies, linkage, returns)
writes through `Database.write()`, reads through `Database.read()`, and never sees the
engine's pool or dialect beyond `insert_ignoring_duplicates`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, OperationalError

from veil.errors import VeilError
from veil.node.store.files import private_database_file
from veil.node.store.migrations import migrate
from veil.node.store.sealing import Sealer

T = TypeVar("T")

# Rows per statement in bulk inserts and IN (...) lists: well under SQLite's 32,766 bound
# parameters and PostgreSQL's 65,535, whatever the number of columns.
CHUNK = 500


class StoreError(VeilError):
    """The state database cannot be opened or used."""


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` use psycopg 3 (the driver veil depends on)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False},
        pool_size=16,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL is crash-safe for the process (kill -9); the spool, fsynced before each
        # answer, is the source of truth and is re-registered at start.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # Deleted rows (forgotten or purged links) are overwritten on disk, not left in free
        # pages where a copy of the file would still show them.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    return engine


class Database:
    """One engine, migrated to the latest schema, with the write discipline of its dialect."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        # SQLite allows one writer; serialising writers in-process avoids busy errors.
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None

    @classmethod
    def open(cls, url: str, sealer: Sealer | None = None) -> Database:
        """Connect and migrate; a StoreError names the setting (never the password).

        A SQLite file is created owner-only and refused when others can reach it
        (`veil.node.store.files`); ``sealer`` lets a migration seal an older database.
        """
        url = normalise_url(url)
        try:
            if url.startswith("sqlite"):
                private_database_file(url)
                engine = _sqlite_engine(url)
            else:
                engine = create_engine(url, pool_size=16, max_overflow=16, pool_pre_ping=True)
            database = cls(engine)
            try:
                migrate(engine, sealer)
            except BaseException:
                engine.dispose()  # an open connection would keep the WAL from checkpointing
                raise
            if database.dialect == "sqlite":
                # Write the WAL into the main file now: after a migration that sealed older
                # rows, the file itself must no longer hold them (secure_delete zeroes the
                # freed pages, but only in the WAL until a checkpoint).
                with engine.connect() as conn:
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        except ArgumentError:
            raise StoreError(
                "state.database: not a database URL (sqlite:///FILE or "
                "postgresql://USER@HOST:PORT/DB)"
            ) from None
        except OperationalError as exc:
            raise StoreError(
                f"state.database: cannot open the database ({type(exc.orig).__name__})"
            ) from None
        return database

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One transaction, committed on leaving (rolled back on an exception)."""
        if self._write_lock is None:
            with self.engine.begin() as conn:
                yield conn
            return
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def insert_ignoring_duplicates(
        self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]]
    ) -> None:
        """INSERT ... ON CONFLICT DO NOTHING, in chunks: idempotent writes after a crash."""
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        for chunk in chunks(rows):
            conn.execute(dialect.insert(table).on_conflict_do_nothing(), list(chunk))
