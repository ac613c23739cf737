"""A veil node on loopback for the attack tests: in this process, or as `veil serve` in its own.

Free ports, temporary folders, bounded waits; every node started here is stopped by its fixture.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydicom import Dataset, dcmread
from pydicom.uid import generate_uid

from tests.conftest import CORPUS, TEST_KEY
from veil.node.config import NodeConfig, parse_config

SIEMENS = CORPUS / "dcm_qa" / "axasc35"
VEIL = [sys.executable, "-m", "veil"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 30.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def series(count: int | None = None) -> list[Path]:
    files = sorted(p for p in SIEMENS.iterdir() if p.is_file() and p.name != "LICENSE")
    return files[:count] if count else files


def instance(**values: Any) -> Dataset:
    """A real MR instance with fresh UIDs (a new study) and the given attribute values."""
    ds = dcmread(series(1)[0])
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def store(port: int, *datasets: Dataset, ae_title: str = "VEIL") -> list[int]:
    """C-STORE each dataset on one association (from pynetdicom, as a scanner would)."""
    from pynetdicom import AE

    ae = AE(ae_title="SCANNER")
    for ds in datasets:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title=ae_title)
    assert assoc.is_established
    try:
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


def states(node: Any) -> list[str]:
    return [row.state.value for row in node.store.studies.status()]


def node_config(
    tmp_path: Path, yaml: dict[str, Any] | None = None, **changes: object
) -> NodeConfig:
    """Built-in defaults in ``tmp_path`` (with the settings of ``yaml``, as a node.yaml would
    give them), a free port and short waits; keyword arguments replace fields."""
    base = parse_config(yaml or {}, "test", tmp_path)
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": free_port(),
        "stable_seconds": 0.3,
        "poll_seconds": 0.1,
    }
    values.update(changes)
    return replace(base, **values)  # type: ignore[arg-type]


@dataclass
class ServedNode:
    """`veil serve --config` in its own process, with its log."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def log(self) -> str:
        return (self.folder / "node.log").read_text(errors="replace")

    def peak_rss_kib(self) -> int:
        """VmHWM: the most resident memory the node process has used so far."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM")

    def status(self) -> dict[str, Any]:
        result = subprocess.run(
            [*VEIL, "node", "status", "--json", "--config", str(self.folder / "node.yaml")],
            capture_output=True,
            text=True,
            env={**os.environ, "VEIL_KEY": TEST_KEY},
            timeout=60,
            check=True,
        )
        return dict(json.loads(result.stdout))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def serve(
    folder: Path, node: dict[str, Any] | None = None, extra: dict[str, Any] | None = None
) -> ServedNode:
    """Start `veil serve` with a folder destination in ``folder``; wait until it listens.

    ``node`` adds to (or replaces) the node: section, ``extra`` adds top-level sections.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config: dict[str, Any] = {
        "node": {"host": "127.0.0.1", "port": port, "stable_seconds": 0.5, "poll_seconds": 0.1}
        | (node or {}),
        "state": {"database": "node.db", "spool": "spool"},
        "destinations": [{"name": "out", "type": "folder", "path": "out"}],
    } | (extra or {})
    (folder / "node.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    log = (folder / "node.log").open("ab")
    process = subprocess.Popen(
        [*VEIL, "serve", "--config", str(folder / "node.yaml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "VEIL_KEY": TEST_KEY},
        cwd=folder,
    )
    served = ServedNode(folder, port, process)
    if not wait_for(lambda: _listening(port) or process.poll() is not None, timeout=30):
        served.stop()
        raise AssertionError("the node did not start listening:\n" + served.log)
    if process.poll() is not None:
        raise AssertionError("the node exited:\n" + served.log)
    return served


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
