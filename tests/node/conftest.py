"""Fixtures for the node tests: the test key in the environment and a running node."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from node_support import TEST_KEY, node_config
from orthanc_support import Orthanc, orthanc_available, start_orthanc
from postgres_support import Postgres, postgres_available, start_postgres

from veil.node.config import NodeConfig
from veil.node.service import Node
from veil.node.study_deid import DeidFunction


@pytest.fixture(autouse=True)
def _veil_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEIL_KEY", TEST_KEY)


@pytest.fixture
def running_node(tmp_path: Path) -> Iterator[Callable[..., Node]]:
    """Start nodes in this process (stopped at the end); keyword arguments change the config."""
    started: list[Node] = []

    def start(
        config: NodeConfig | None = None, deid: DeidFunction | None = None, **changes: object
    ) -> Node:
        node = Node(config or node_config(tmp_path, **changes), deid=deid)
        node.start()
        started.append(node)
        return node

    yield start
    for node in started:
        if not node._stop.is_set():
            node.stop()


@pytest.fixture
def orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    """A real Orthanc with its DICOMweb plugin, on loopback, storing under tmp_path."""
    if not orthanc_available():
        pytest.skip("Orthanc (Debian package orthanc) is not installed")
    server = start_orthanc(tmp_path / "orthanc", dicomweb=True)
    yield server
    server.stop()


@pytest.fixture
def home_orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    """A second Orthanc: the home PACS for the return path."""
    if not orthanc_available():
        pytest.skip("Orthanc (Debian package orthanc) is not installed")
    server = start_orthanc(tmp_path / "home-orthanc", ae_title="HOMEPACS")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One local PostgreSQL for the session (initdb/pg_ctl in a temporary folder)."""
    if not postgres_available():
        pytest.skip("PostgreSQL 15 server binaries (Debian postgresql-15) are not installed")
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same state-store tests on SQLite (default) and PostgreSQL (by URL)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    server: Postgres = request.getfixturevalue("postgres")
    name = "t" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    return server.fresh_database(name)
