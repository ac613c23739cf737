"""No caller can hold the node: idle connections, byte-by-byte drips, oversized PDUs and
instances are bounded, and callers at other addresses keep getting in.

Measured before (loopback, defaults): 16 idle TCP connections locked every caller out for
30-40 s; 16 associations dripping one byte every 20 s held the node for 95 s despite a 60 s
network timeout; a 200 MB instance took the node's memory over 1 GB."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from pydicom import Dataset
from pynetdicom import AE
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from tests.security.node_harness import ServedNode, instance, node_config, wait_for
from veil.node.service import Node

ATTACKER = "127.0.0.2"  # another loopback address: the attacker's machine


@contextmanager
def idle_connections(port: int, count: int, source: str) -> Iterator[list[socket.socket]]:
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
            stack.enter_context(sock)
            sockets.append(sock)
        time.sleep(0.5)  # let the node accept them all
        yield sockets


def echo(port: int) -> bool:
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(Verification)
    ae.acse_timeout = 5
    assoc = ae.associate("127.0.0.1", port, ae_title="VEIL")
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return bool(status) and status.Status == 0x0000


def closed_by_peer(sock: socket.socket, within: float) -> float | None:
    """Seconds until the node closed ``sock`` (None if it did not within ``within``)."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < within:
        try:
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except OSError:
            return time.monotonic() - started
    return None


def test_idle_connections_from_one_address_do_not_lock_out_another(
    running_node: Callable[..., Node],
) -> None:
    node = running_node()
    with idle_connections(node.config.port, 16, ATTACKER):
        started = time.monotonic()
        assert echo(node.config.port), "an allowed caller was locked out by idle connections"
        assert time.monotonic() - started < 5


def test_idle_connections_are_dropped_after_the_request_timeout(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    node = running_node(node_config(tmp_path, {"node": {"association_request_timeout_seconds": 2}}))
    with idle_connections(node.config.port, 10, "127.0.0.1") as sockets:
        # The caller's own address is full: it waits for the idle ones to be dropped.
        times = [closed_by_peer(sock, within=8) for sock in sockets]
    assert all(t is not None and t < 5 for t in times), times
    assert echo(node.config.port)


def test_a_byte_by_byte_drip_is_cut_at_the_pdu_deadline(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    node = running_node(node_config(tmp_path, {"node": {"network_timeout_seconds": 3}}))
    # An A-ASSOCIATE-RQ header announcing 1,000 bytes, then one byte every half second.
    with idle_connections(node.config.port, 4, ATTACKER) as sockets:
        for sock in sockets:
            sock.sendall(struct.pack(">BBL", 0x01, 0, 1000))
        started = time.monotonic()
        alive = list(sockets)
        while alive and time.monotonic() - started < 10:
            for sock in list(alive):
                try:
                    sock.sendall(b"\0")
                except OSError:
                    alive.remove(sock)
            time.sleep(0.5)
            assert echo(node.config.port)  # others get in all along
        held = time.monotonic() - started
    assert not alive, f"{len(alive)} dripping connection(s) still open after {held:.0f} s"
    assert held < 8


def test_a_pdu_longer_than_the_node_accepts_closes_the_connection(
    running_node: Callable[..., Node],
) -> None:
    node = running_node()
    with idle_connections(node.config.port, 1, ATTACKER) as (sock,):
        sock.sendall(struct.pack(">BBL", 0x01, 0, 100 * 1024 * 1024))  # 100 MiB announced
        assert closed_by_peer(sock, within=3) is not None


def _big(size: int) -> Dataset:
    ds = instance()
    ds.add_new(0x00291010, "OB", b"\0" * size)  # a large private value before the pixels
    ds.add_new(0x00290010, "LO", "VEIL TEST")
    return ds


def test_an_instance_over_the_size_limit_is_refused_and_leaves_nothing(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    node = running_node(node_config(tmp_path, {"node": {"max_instance_size": "1 MB"}}))
    ds = _big(3 * 1000 * 1000)
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", node.config.port, ae_title="VEIL")
    assert assoc.is_established
    status = assoc.send_c_store(ds)
    assert not status or status.Status != 0x0000  # aborted: no success for it
    assert wait_for(lambda: not assoc.is_alive(), timeout=10)
    assert list((node.config.spool / "tmp").iterdir()) == []
    assert node.store.studies.status() == []
    small = instance()
    assoc = ae.associate("127.0.0.1", node.config.port, ae_title="VEIL")
    assert assoc.is_established
    assert assoc.send_c_store(small).Status == 0x0000
    assoc.release()


@pytest.mark.slow
def test_a_large_instance_is_streamed_to_the_spool_not_held_in_memory(
    served_node: Callable[..., ServedNode], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 96 * 1024 * 1024
    path = tmp_path / "large.dcm"
    _big(size).save_as(path, enforce_file_format=True)
    node = served_node({"stable_seconds": 3600})  # receive only: no processing yet
    echo(node.port)
    before = node.peak_rss_kib()
    monkeypatch.setattr(pynetdicom_config, "STORE_SEND_CHUNKED_DATASET", True)  # from the file
    ae = AE(ae_title="SCANNER")
    ds = _big(0)
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", node.port, ae_title="VEIL")
    assert assoc.is_established
    status = assoc.send_c_store(path)
    assoc.release()
    assert status.Status == 0x0000
    grown_mib = (node.peak_rss_kib() - before) / 1024
    assert grown_mib < 48, f"receiving {size >> 20} MiB raised the node's peak by {grown_mib:.0f}"
