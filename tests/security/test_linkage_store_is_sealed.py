"""The linkage store is sealed (DESIGN invariant 10): a copy of the database or the spool alone
re-identifies nobody, the node runs with one key only, and links go when they are due.

Before: the database and spool were 0644 and held original names, IDs, accessions and UIDs in
plain text; a node started with another key silently; nothing was ever purged."""

from __future__ import annotations

import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import VEIL
from tests.security.node_harness import instance, node_config, states, store, wait_for
from veil.mapping import Mapper
from veil.node.service import Node


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _links(database: str) -> dict[str, int]:
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            return {
                table: int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() or 0)
                for table in ("link_patient", "link_study", "link_uid")
            }
    finally:
        engine.dispose()


def test_database_spool_and_outputs_are_owner_only(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    node = running_node()
    assert store(node.config.port, instance()) == [0]
    assert wait_for(lambda: states(node) == ["sent"])
    database = tmp_path / "veil-node.db"
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        if path.exists():
            assert _mode(path) == 0o600, path
    spool = node.config.spool
    for folder in [spool, *(p for p in spool.rglob("*") if p.is_dir())]:
        assert _mode(folder) == 0o700, folder
    out = node.config.destinations[0].path
    assert out is not None
    for path in out.rglob("*"):
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_a_node_refuses_a_database_or_spool_others_can_read(tmp_path: Path) -> None:
    config = node_config(tmp_path)
    Node(config).store.close()  # creates the database
    database = tmp_path / "veil-node.db"
    database.chmod(0o644)
    with pytest.raises(Exception, match="readable by other users"):
        Node(config)
    database.chmod(0o600)
    config.spool.mkdir(mode=0o755)
    config.spool.chmod(0o755)
    node = Node(config)
    try:
        with pytest.raises(Exception, match="readable by other users"):
            node.start()
    finally:
        node.stop()


def test_a_node_with_another_key_is_refused(tmp_path: Path) -> None:
    config = node_config(tmp_path)
    Node(config, mapper=Mapper(b"\x01" * 32)).store.close()
    with pytest.raises(Exception, match="fingerprint"):
        Node(config, mapper=Mapper(b"\x02" * 32))


def test_links_older_than_the_retention_period_are_purged(tmp_path: Path) -> None:
    config = node_config(tmp_path, {"linkage": {"retention_days": 0.00001}})  # 0.86 s
    node = Node(config)
    node.start()
    try:
        assert store(config.port, instance()) == [0]
        assert wait_for(lambda: states(node) == ["sent"])
        assert _links(config.database)["link_study"] == 1
    finally:
        node.stop()
    time.sleep(1.0)
    node = Node(config)
    node.start()  # the purge runs at start, then hourly
    try:
        assert wait_for(lambda: set(_links(config.database).values()) == {0}, timeout=10)
        assert states(node) == ["sent"]  # the study's state stays, without links
    finally:
        node.stop()


def test_forget_removes_one_studys_links_state_and_files(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    node = running_node(keep_sent=True)
    assert store(node.config.port, instance(PatientID="P-A")) == [0]
    assert store(node.config.port, instance(PatientID="P-B")) == [0]
    assert wait_for(lambda: states(node) == ["sent", "sent"])
    first, second = node.store.studies.status()
    before = _links(node.config.database)
    (tmp_path / "node.yaml").write_text(
        f"state: {{database: '{node.config.database}', spool: '{node.config.spool}'}}\n"
    )
    result = subprocess.run(
        [*VEIL, "node", "forget", first.study_key, "--config", str(tmp_path / "node.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert [r.study_key for r in node.store.studies.status()] == [second.study_key]
    after = _links(node.config.database)
    assert (after["link_patient"], after["link_study"]) == (1, 1)
    assert after["link_uid"] == before["link_uid"] // 2 > 0  # the other study's links stay
    assert not (node.config.spool / "incoming" / first.study_key).exists()
    assert (node.config.spool / "incoming" / second.study_key).exists()
