"""The node as a separate process (`veil serve --config`), for kill -9 and load tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from node_support import TEST_KEY, wait_for
from orthanc_support import Orthanc

VEIL = [sys.executable, "-c", "from veil.cli import main; main()"]


def write_config(
    folder: Path,
    port: int,
    orthanc: Orthanc | None,
    database: str = "node.db",
    stable_seconds: float = 1,
) -> Path:
    config = folder / "node.yaml"
    if orthanc is None:
        destinations = "destinations: [{name: out, type: folder, path: out}]\n"
    else:
        destinations = (
            "destinations:\n"
            f"  - {{name: orthanc, type: cstore, host: 127.0.0.1, port: {orthanc.dicom_port},\n"
            f"     ae_title: {orthanc.ae_title}}}\n"
        )
    config.write_text(
        f"""
node: {{host: 127.0.0.1, port: {port}, stable_seconds: {stable_seconds}, poll_seconds: 0.1,
       workers: 2}}
state: {{database: '{database}', spool: spool}}
{destinations}retry: {{max_attempts: 50, initial_delay_seconds: 0.5, max_delay_seconds: 2}}
web: {{enabled: false}}  # the console has its own tests (tests/console)
""",
        encoding="utf-8",
    )
    return config


def start_node(config: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "VEIL_KEY": TEST_KEY}
    log = (config.parent / "node.log").open("ab")
    process = subprocess.Popen(
        [*VEIL, "serve", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=config.parent,
    )
    assert wait_for(lambda: _port_open(port) or process.poll() is not None, timeout=30)
    assert process.poll() is None, (config.parent / "node.log").read_text()
    return process


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def status(config: Path) -> dict[str, Any]:
    env = {**os.environ, "VEIL_KEY": TEST_KEY}
    out = subprocess.run(
        [*VEIL, "node", "status", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout)
