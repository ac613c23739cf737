"""Bad input over the network: the node fails that transfer cleanly and keeps serving others."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path

from node_support import SMALL_SERIES, series_files, wait_for
from pydicom import Dataset, dcmread
from pydicom.dataelem import RawDataElement
from pydicom.dataset import FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from veil.node.service import Node
from veil.node.store.states import StudyState


def echo_ok(port: int) -> bool:
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="VEIL")
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return bool(status) and status.Status == 0


def store_one(port: int, path: Path, called: str = "VEIL") -> int | None:
    ds = dcmread(path)
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    if not assoc.is_established:
        return None
    status = assoc.send_c_store(ds)
    assoc.release()
    return int(status.Status) if status else None


def test_garbage_bytes_on_the_socket(running_node: Callable[..., Node]) -> None:
    node = running_node()
    port = node.config.port
    for payload in (os.urandom(4096), b"\x01\x00" + b"\xff" * 64, b"GET / HTTP/1.1\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(payload)
            sock.settimeout(1)
            with contextlib.suppress(TimeoutError, ConnectionError):
                sock.recv(1024)  # an A-ABORT/A-ASSOCIATE-RJ or a closed connection
    assert echo_ok(port)
    assert node.store.studies.status() == []


def test_wrong_called_ae_title_is_rejected(running_node: Callable[..., Node]) -> None:
    node = running_node()
    path = series_files(SMALL_SERIES[0])[0]
    assert store_one(node.config.port, path, called="NOT-VEIL") is None
    assert node.store.studies.status() == []
    assert store_one(node.config.port, path) == 0x0000


def test_association_dropped_mid_transfer(running_node: Callable[..., Node]) -> None:
    node = running_node()
    path = series_files(SMALL_SERIES[0])[0]
    ds = dcmread(path)
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", node.config.port, ae_title="VEIL")
    assert assoc.is_established
    context_id = assoc.accepted_contexts[0].context_id
    # A P-DATA-TF carrying the first, not-last fragment of a command; then the peer vanishes.
    fragment = b"\x00" * 40
    pdv = struct.pack(">IBB", len(fragment) + 2, context_id, 0x01) + fragment
    pdu = struct.pack(">BBI", 0x04, 0x00, len(pdv)) + pdv
    raw = assoc.dul.socket.socket
    raw.sendall(pdu)
    raw.shutdown(socket.SHUT_RDWR)
    raw.close()
    assoc.kill()
    assert echo_ok(node.config.port)
    assert node.store.studies.status() == []
    # Others are still served, start to finish.
    files = series_files(SMALL_SERIES[0])
    assert all(store_one(node.config.port, f) == 0 for f in files)
    assert wait_for(lambda: [r.state for r in node.store.studies.status()] == [StudyState.SENT])


def _send(port: int, ds: Dataset) -> int:
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(ds.SOPClassUID, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", port, ae_title="VEIL")
    assert assoc.is_established
    status = assoc.send_c_store(ds)
    assoc.release()
    assert status
    return int(status.Status)


def test_dataset_without_study_uid_gets_a_failure_status(running_node: Callable[..., Node]) -> None:
    node = running_node()
    ds = Dataset()
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID = "X"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    assert _send(node.config.port, ds) == 0xC000
    assert node.store.studies.status() == []
    assert echo_ok(node.config.port)


def test_dataset_with_a_noise_sequence_is_handled_and_the_node_goes_on(
    running_node: Callable[..., Node],
) -> None:
    node = running_node()
    ds = dcmread(series_files(SMALL_SERIES[0])[0])
    # A sequence whose bytes are noise: the header is readable, that element is not.
    noise = b"\xfe\xff\x00\xe0" + b"\x07" * 20
    ds[0x00400275] = RawDataElement(Tag(0x00400275), "SQ", len(noise), noise, 0, False, True)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if _send(node.config.port, ds) == 0:
        # Accepted: the engine removes the element (basic profile) or the study is quarantined;
        # either way it ends in a final state and nothing half-processed leaves the node.
        assert wait_for(
            lambda: (
                [r.state for r in node.store.studies.status()]
                in ([StudyState.SENT], [StudyState.QUARANTINED])
            ),
            timeout=30,
        )
        out = node.config.destinations[0].path
        assert out is not None
        for path in out.rglob("*.dcm"):
            assert 0x00400275 not in dcmread(path)
    assert echo_ok(node.config.port)
