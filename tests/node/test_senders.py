"""Destinations that fail: the study is retried with backoff, then marked failed with a reason
that names the destination (never an identifier)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from node_support import SMALL_SERIES, free_port, needs_dcmtk, series_files, storescu, wait_for

from veil.node.config import Destination, DestinationKind, RetryConfig
from veil.node.service import Node
from veil.node.store.states import StudyState

RETRY = RetryConfig(max_attempts=2, initial_delay_seconds=0.1, max_delay_seconds=0.2)


@needs_dcmtk
@pytest.mark.parametrize("kind", [DestinationKind.STOWRS, DestinationKind.FOLDER])
def test_failing_destination_ends_failed_with_its_name(
    running_node: Callable[..., Node], tmp_path: Path, kind: DestinationKind
) -> None:
    if kind is DestinationKind.STOWRS:
        destination = Destination(
            name="web",
            kind=kind,
            timeout_seconds=2,
            url=f"http://127.0.0.1:{free_port()}/dicom-web",
        )
    else:
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the destination folder should be", encoding="utf-8")
        destination = Destination(name="copy", kind=kind, path=blocker)
    node = running_node(destinations=(destination,), retry=RETRY)
    storescu(node.config.port, series_files(SMALL_SERIES[0]))
    assert wait_for(
        lambda: [r.state for r in node.store.studies.status()] == [StudyState.FAILED], timeout=20
    ), [(r.state, r.attempts, r.next_attempt_at) for r in node.store.studies.status()]
    (row,) = node.store.studies.status()
    assert row.attempts == 2
    assert (row.reason or "").startswith(destination.name)
    # Still in the spool, ready for `veil node retry`.
    assert list((node.config.spool / "out").rglob("*.dcm"))
