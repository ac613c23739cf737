"""The node honours the console's controls: process now, pause and resume a destination.

A real node in this process (receiver, scheduler, workers), a real study sent by DCMTK's
storescu, a folder destination.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from console_support import CORPUS, free_port, node_config

from veil.node import controls
from veil.node.service import Node
from veil.node.store.states import StudyState

pytestmark = pytest.mark.slow


def wait_for(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_process_now_and_a_paused_destination_on_a_running_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VEIL_KEY", "7a" * 32)
    config = node_config(
        tmp_path, host="127.0.0.1", port=free_port(), stable_seconds=3600.0, poll_seconds=0.1
    )
    node = Node(config)
    node.start()
    try:
        controls.pause(node.store, "archive", True, "test")
        files = sorted(p for p in (CORPUS / "dcm_qa/axasc35").iterdir() if p.is_file())
        subprocess.run(
            ["storescu", "-aec", "VEIL", "127.0.0.1", str(config.port), *map(str, files)],
            check=True,
            capture_output=True,
            timeout=60,
        )
        study = node.store.studies.status()[0]
        time.sleep(1.0)
        assert node.store.studies.get(study.id).state is StudyState.RECEIVED  # an hour to wait
        assert controls.process_now(node.store, study.id)

        def state() -> StudyState:
            return node.store.studies.get(study.id).state  # type: ignore[union-attr]

        assert wait_for(
            lambda: (node.store.studies.get(study.id).reason or "").startswith("waiting")
        )
        held = node.store.studies.get(study.id)
        assert held is not None and held.state is StudyState.CHECKED and held.attempts == 0
        assert "archive" in (held.reason or "")
        assert not list((tmp_path / "out").rglob("*.dcm"))  # nothing went to the paused one
        assert wait_for(lambda: len(list((tmp_path / "out2").rglob("*.dcm"))) == len(files))
        controls.pause(node.store, "archive", False, "test")
        assert wait_for(lambda: state() is StudyState.SENT, timeout=30)
        assert len(list((tmp_path / "out").rglob("*.dcm"))) == len(files)
        events = [e.state for e in controls.study_events(node.store, study.id)]
        assert events[:4] == [
            StudyState.RECEIVED,
            StudyState.STABLE,
            StudyState.DEIDENTIFIED,
            StudyState.CHECKED,
        ]
        assert events[-1] is StudyState.SENT
    finally:
        node.stop()
