"""Figures for the security limits (docs/security.md), for this checkout or another one.

    .venv/bin/python benchmarks/security.py                       # this checkout
    .venv/bin/python benchmarks/security.py --src ../old/src      # another veil (before/after)

Prints, one line each:
- `veil deid` on a ~400 KB zip bomb and gzip bomb (384 MiB of zeros): exit code, peak RSS,
  CPU seconds;
- the node receiving one instance of --instance-mib MiB (200 by default): growth of the node
  process's peak RSS while receiving (processing is held back with stable_seconds);
- lockout: with 16 idle TCP connections open from another loopback address, the seconds until
  an allowed caller's C-ECHO succeeds (capped at --cap seconds).

Every figure is the child process's own (wait4 / VmHWM), not wall time, except the lockout,
which is a time by nature (measured on loopback; noisy when the machine is busy).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
import zlib
from contextlib import ExitStack
from pathlib import Path

KEY = "5e" * 32
ZEROS_MIB = 384


def _env(src: str | None) -> dict[str, str]:
    env = {**os.environ, "VEIL_KEY": KEY}
    if src:
        env["PYTHONPATH"] = src
    return env


def _run(args: list[str], env: dict[str, str], timeout: float = 300) -> tuple[int, float, float]:
    """Exit code, the child's own peak RSS (VmHWM, MiB) and CPU seconds of `veil ARGS`."""
    from tests.security.support import LAUNCHER

    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile("r") as peak:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, *args],
            stdout=out,
            stderr=out,
            env={**env, "VEIL_TEST_HWM": peak.name},
        )
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        timer.cancel()
        kib = int(peak.read().strip() or 0)
    return os.waitstatus_to_exitcode(status), kib / 1024, usage.ru_utime + usage.ru_stime


def bombs(folder: Path, env: dict[str, str]) -> None:
    chunk = b"\0" * (1 << 20)
    with (
        zipfile.ZipFile(folder / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("bomb.dcm", "w", force_zip64=True) as handle,
    ):
        for _ in range(ZEROS_MIB):
            handle.write(chunk)
    engine = zlib.compressobj(9, zlib.DEFLATED, 31)
    with (folder / "bomb.dcm.gz").open("wb") as handle:
        for _ in range(ZEROS_MIB):
            handle.write(engine.compress(chunk))
        handle.write(engine.flush())
    for name in ("bomb.zip", "bomb.dcm.gz"):
        size = (folder / name).stat().st_size
        code, rss, cpu = _run(["deid", str(folder / name), "--out", str(folder / f"out-{name}"),
                               "-q", "-j", "1"], env)  # fmt: skip
        print(f"bomb {name} ({size >> 10} KiB -> {ZEROS_MIB} MiB): exit {code}, "
              f"peak RSS {rss:.0f} MiB, CPU {cpu:.2f} s")  # fmt: skip


def _serve(folder: Path, env: dict[str, str], port: int, node: str) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "node.yaml").write_text(
        f"node: {{host: 127.0.0.1, port: {port}, poll_seconds: 0.1{node}}}\n"
        "state: {database: node.db, spool: spool}\n"
        "destinations: [{name: out, type: folder, path: out}]\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "veil", "serve", "--config", str(folder / "node.yaml")],
        stdout=subprocess.DEVNULL, stderr=(folder / "node.log").open("wb"), env=env, cwd=folder,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the node did not start: " + (folder / "node.log").read_text())


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def large_instance(folder: Path, env: dict[str, str], mib: int) -> None:
    from pydicom.uid import generate_uid
    from pynetdicom import AE
    from pynetdicom import _config as pynetdicom_config
    from tests.security.node_harness import instance

    ds = instance()
    ds.add_new(0x00290010, "LO", "VEIL TEST")
    ds.add_new(0x00291010, "OB", b"\0" * (mib << 20))
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    path = folder / "large.dcm"
    ds.save_as(path, enforce_file_format=True)
    del ds
    port = _port()
    node = _serve(folder / "node-large", env, port, ", stable_seconds: 3600")
    try:
        time.sleep(1)
        before = _hwm(node.pid)
        pynetdicom_config.STORE_SEND_CHUNKED_DATASET = True
        ae = AE(ae_title="SCANNER")
        ae.add_requested_context("1.2.840.10008.5.1.4.1.1.4", "1.2.840.10008.1.2.1")
        assoc = ae.associate("127.0.0.1", port, ae_title="VEIL")
        status = assoc.send_c_store(path)
        assoc.release()
        after = _hwm(node.pid)
        grown = (after - before) >> 10
        print(
            f"node receiving one {mib} MiB instance: status 0x{int(status.Status):04X}, "
            f"peak RSS {before >> 10} -> {after >> 10} MiB (+{grown} MiB)"
        )
    finally:
        node.terminate()
        node.wait(30)


def lockout(folder: Path, env: dict[str, str], cap: float) -> None:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    port = _port()
    node = _serve(folder / "node-idle", env, port, "")
    try:
        with ExitStack() as stack:
            for _ in range(16):
                sock = socket.create_connection(
                    ("127.0.0.1", port), source_address=("127.0.0.2", 0)
                )
                stack.enter_context(sock)
            time.sleep(0.5)
            started = time.monotonic()
            while time.monotonic() - started < cap:
                ae = AE(ae_title="SCANNER")
                ae.add_requested_context(Verification)
                ae.acse_timeout = 5
                assoc = ae.associate("127.0.0.1", port, ae_title="VEIL")
                if assoc.is_established:
                    assoc.release()
                    break
                time.sleep(0.5)
            waited = time.monotonic() - started
        shown = f"{waited:.1f} s" if waited < cap else f"more than {cap:.0f} s"
        print(f"lockout with 16 idle connections from another address: an allowed caller "
              f"waited {shown}")  # fmt: skip
    finally:
        node.terminate()
        node.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", help="the src folder of another veil checkout to measure")
    parser.add_argument("--instance-mib", type=int, default=200)
    parser.add_argument("--cap", type=float, default=60.0)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    env = _env(args.src)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bombs(folder, env)
        large_instance(folder, env, args.instance_mib)
        lockout(folder, env, args.cap)


if __name__ == "__main__":
    main()
