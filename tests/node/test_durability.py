"""kill -9 at any moment: nothing received is lost, nothing is duplicated at the destination."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from node_process import start_node, status, write_config
from node_support import free_port, needs_dcmtk, series_files, wait_for
from orthanc_support import Orthanc

STUDIES = ("dcm_qa_ge/05_3D_Ax_T1_MP_RAGE_R22", "dcm_qa/axasc35", "dcm_qa/AxAsc36mb2a_jpeg")


def storescu_async(port: int, files: list[Path]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "storescu",
            "-xs",
            "-aet",
            "SCANNER",
            "-aec",
            "VEIL",
            "127.0.0.1",
            str(port),
            *map(str, files),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill9(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.slow
@needs_dcmtk
def test_kill_9_while_receiving_and_while_sending_loses_and_duplicates_nothing(
    tmp_path: Path, orthanc: Orthanc, database_url: str
) -> None:
    port = free_port()
    config = write_config(tmp_path, port, orthanc, database_url)
    files = [f for s in STUDIES for f in series_files(s)]
    node = start_node(config, port)
    try:
        # 1. SIGKILL while storescu is sending: some instances were answered, some not.
        sender = storescu_async(port, files)
        spool = tmp_path / "spool" / "incoming"
        assert wait_for(lambda: len(list(spool.rglob("*.dcm"))) >= 40, timeout=60, step=0.02)
        kill9(node)
        print(f"killed while receiving: {len(list(spool.rglob('*.dcm')))} spooled")
        sender.wait(timeout=60)
        assert sender.returncode != 0  # the sender saw the node go away

        # 2. Restart; the sender sends the study again (what a PACS does after a failure).
        node = start_node(config, port)
        resend = storescu_async(port, files)
        assert resend.wait(timeout=120) == 0

        # 3. SIGKILL again while the node is forwarding to Orthanc.
        assert wait_for(lambda: len(orthanc.instances()) > 0, timeout=120, step=0.05)
        kill9(node)
        at_kill = len(orthanc.instances())
        # The kill must land while forwarding, or this phase tests nothing.
        assert 0 < at_kill < len(files), f"Orthanc held {at_kill}/{len(files)} at the kill"
        print(f"killed while forwarding: Orthanc held {at_kill}/{len(files)} instances")
        node = start_node(config, port)

        def settled() -> bool:
            studies = status(config)["studies"]
            return bool(studies) and all(s["state"] == "sent" for s in studies)

        assert wait_for(settled, timeout=180, step=1.0), status(config)
        studies = status(config)["studies"]
        assert sum(s["instances"] for s in studies) == len(files)
        # Orthanc holds every instance exactly once (same de-identified UIDs on resend).
        assert len(orthanc.instances()) == len(files)
    finally:
        if node.poll() is None:
            node.terminate()
            node.wait(timeout=30)
