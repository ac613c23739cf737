"""Fixtures for the console tests.

Accounts are hashed with real argon2id (about 0.1 s each), so the seeded store with one user per
role is built once per session and copied (one SQLite file) for each test.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_support import Seeded, console_app, make_users, seed
from sqlalchemy import text

from veil.console.roles import Role
from veil.node.store import Store


class Console:
    def __init__(self, app: Any, store: Store, seeded: Seeded, users: dict[Role, str]) -> None:
        self.app = app
        self.store = store
        self.seeded = seeded
        self.users = users


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Seeded, Any]:
    folder = tmp_path_factory.mktemp("console-template")
    _app, store = console_app(folder)
    seeded = seed(store)
    users = make_users(store)
    with store.db.read() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    store.close()
    return folder / "veil-node.db", seeded, users


@pytest.fixture
def console(tmp_path: Path, seeded_template: tuple[Path, Seeded, Any]) -> Iterator[Console]:
    database, seeded, users = seeded_template
    shutil.copyfile(database, tmp_path / "veil-node.db")
    (tmp_path / "veil-node.db").chmod(0o600)  # the store refuses a database others can read
    app, store = console_app(tmp_path)
    yield Console(app, store, seeded, users)
    store.close()
