"""Helpers for the node tests: free ports, small corpus studies, storescu, waiting."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from veil.node import controls
from veil.node.config import Destination, DestinationKind, NodeConfig, parse_config
from veil.node.store import Store
from veil.node.store.states import StudyState

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
TEST_KEY = "5e" * 32
# Two small real studies: uncompressed Siemens MR and the same scanner's JPEG Lossless.
SMALL_SERIES = ("dcm_qa/axasc35", "dcm_qa/AxAsc36mb2a_jpeg")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def series_files(relative: str) -> list[Path]:
    folder = CORPUS / relative
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name != "LICENSE")


def storescu(
    port: int,
    files: list[Path],
    ae_title: str = "VEIL",
    calling: str = "SCANNER",
    check: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """DCMTK's storescu, proposing each file's own transfer syntax (+ uncompressed fallbacks)."""
    command = [
        "storescu",
        "-xs",
        "-aet",
        calling,
        "-aec",
        ae_title,
        "127.0.0.1",
        str(port),
        *map(str, files),
    ]
    # -xs proposes the compressed syntax of the files; with no match storescu converts.
    return subprocess.run(command, capture_output=True, text=True, check=check, timeout=timeout)


needs_dcmtk = pytest.mark.skipif(shutil.which("storescu") is None, reason="DCMTK not installed")


def wait_for(condition: Callable[[], bool], timeout: float = 60.0, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def process_received(store: Store) -> int:
    """Process every study still waiting for its quiet time now (the console's "process now").

    For tests whose sender has finished (storescu returned: every instance was acknowledged,
    so registered): the study is processed whole, once, however long a loaded machine made the
    sender stall between instances. A short ``stable_seconds`` instead lets a stalled sender's
    study go out in parts (correct, see test_stalled_sender.py, but not what those tests check).
    """
    studies = store.studies.in_states([StudyState.RECEIVED])
    for study in studies:
        controls.process_now(store, study.id)
    return len(studies)


def node_config(tmp_path: Path, **changes: object) -> NodeConfig:
    """Built-in defaults in ``tmp_path`` with a free port and a short stability time."""
    base = parse_config({}, "test", tmp_path)
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": free_port(),
        "stable_seconds": 0.5,
        "poll_seconds": 0.1,
    }
    values.update(changes)
    return replace(base, **values)  # type: ignore[arg-type]


def folder_destination(path: Path) -> Destination:
    return Destination(name="folder", kind=DestinationKind.FOLDER, path=path)
