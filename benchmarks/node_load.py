"""The node's throughput: instances per second from C-STORE received to sent, 2,000 instances.

    python benchmarks/node_load.py                 # reference path, then fast path, once each
    python benchmarks/node_load.py --repeat 3      # interleaved, median of 3

Starts `veil serve` as a subprocess on a free port (SQLite state, a folder destination, the
audit on), sends 8 studies of 250 small MR instances with 8 concurrent DCMTK storescu, and
times until every study is sent. The reference path is chosen with VEIL_ENGINE=reference;
the fast path is the default. Needs storescu (Debian dcmtk).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

KEY = "ab" * 32  # a public benchmark key
SENDERS = 8
PER_SENDER = 250
VEIL = [sys.executable, "-c", "from veil.cli import main; main()"]


def _study(folder: Path, index: int) -> list[str]:
    folder.mkdir(parents=True)
    study, series = generate_uid(), generate_uid()
    pixels = (np.arange(256, dtype=np.uint16).reshape(16, 16) * (index + 1)).tobytes()
    files = []
    for number in range(PER_SENDER):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SOPClassUID = MRImageStorage
        ds.PatientName = f"Loadtest^Patient{index}"
        ds.PatientID = f"LOAD{index:04d}"
        ds.PatientBirthDate = "19700101"
        ds.StudyDate = "20240101"
        ds.AccessionNumber = f"ACC{index:06d}"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality, ds.Manufacturer = "MR", "SIEMENS"
        ds.InstanceNumber = number + 1
        ds.Rows = ds.Columns = 16
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = pixels
        path = folder / f"{number:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(str(path))
    return files


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_once(inputs: list[list[str]], engine: str) -> tuple[float, float]:
    """(received/s, received-to-sent/s) for one node run with ``engine``."""
    work = Path(tempfile.mkdtemp(prefix="veil-node-bench-"))
    port = _free_port()
    config = work / "node.yaml"
    config.write_text(
        f"node: {{host: 127.0.0.1, port: {port}, stable_seconds: 1, poll_seconds: 0.1, "
        "workers: 2}\nstate: {database: 'node.db', spool: spool}\n"
        "destinations: [{name: out, type: folder, path: out}]\n"
        "retry: {max_attempts: 50, initial_delay_seconds: 0.5, max_delay_seconds: 2}\n"
        "web: {enabled: false}\n",  # the console is not what is measured
        encoding="utf-8",
    )
    env = {**os.environ, "VEIL_KEY": KEY, "VEIL_ENGINE": engine}
    log = (work / "node.log").open("ab")
    node = subprocess.Popen(
        [*VEIL, "serve", "--config", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=work,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        started = time.monotonic()
        senders = [
            subprocess.Popen(
                ["storescu", "-aet", f"SENDER{i}", "-aec", "VEIL", "127.0.0.1", str(port), *files],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for i, files in enumerate(inputs)
        ]
        for sender in senders:
            sender.wait(timeout=600)
        received = time.monotonic() - started
        total = sum(len(files) for files in inputs)
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            # The folder destination writes each instance when it is sent.
            if sum(1 for _ in (work / "out").rglob("*.dcm")) >= total:
                break
            time.sleep(0.5)
        else:
            raise SystemExit(f"node did not send all {total} instances in time; see {work}")
        sent = time.monotonic() - started
        return total / received, total / sent
    finally:
        node.terminate()
        node.wait(timeout=30)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> dict[str, tuple[float, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    if shutil.which("storescu") is None:
        raise SystemExit("storescu not found (Debian package dcmtk)")
    source = Path(tempfile.mkdtemp(prefix="veil-node-input-"))
    try:
        inputs = [_study(source / str(i), i) for i in range(SENDERS)]
        runs: dict[str, list[tuple[float, float]]] = {"reference": [], "auto": []}
        for _ in range(args.repeat):
            for engine in runs:  # interleaved
                runs[engine].append(run_once(inputs, engine))
        result = {
            engine: (
                statistics.median(r[0] for r in values),
                statistics.median(r[1] for r in values),
            )
            for engine, values in runs.items()
        }
        for engine, (received, sent) in result.items():
            label = "before (reference path)" if engine == "reference" else "after (fast path)"
            print(
                f"node {label}: {SENDERS * PER_SENDER} instances, received {received:.0f}/s, "
                f"received to sent {sent:.0f}/s"
            )
        return result
    finally:
        shutil.rmtree(source, ignore_errors=True)


if __name__ == "__main__":
    main()
