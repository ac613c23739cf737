"""A send failure says what happened: connection refused, association rejected with its reason,
no answer (timeout), aborted by the peer, no presentation context, a C-STORE status with its
meaning, an HTTP status of a STOW-RS destination, instances a STOW-RS response refuses; and the
reason reaches `veil node status` and the console's study page."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from node_support import SMALL_SERIES, free_port, series_files, storescu, wait_for
from pydicom import dcmread
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage, MRImageStorage

from veil.node.config import Destination, DestinationKind, RetryConfig
from veil.node.senders import OutItem
from veil.node.senders.cstore import CStoreSender
from veil.node.senders.stowrs import StowSender
from veil.node.service import Node
from veil.node.store.states import StudyState

SYNTAXES = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.70"]


def _items(count: int = 2) -> list[OutItem]:
    items = []
    for key, path in enumerate(series_files(SMALL_SERIES[0])[:count]):
        ds = dcmread(path, stop_before_pixels=True)
        items.append(OutItem(key, path, str(ds.StudyInstanceUID), str(ds.SOPInstanceUID)))
    return items


def _cstore(port: int, timeout: float = 10) -> CStoreSender:
    return CStoreSender(
        Destination(
            name="pacs",
            kind=DestinationKind.CSTORE,
            host="127.0.0.1",
            port=port,
            ae_title="PACS",
            associations=1,
            timeout_seconds=timeout,
        )
    )


@pytest.fixture
def servers() -> Iterator[list[Any]]:
    started: list[Any] = []
    yield started
    for server in started:
        server.shutdown()


def _scp(servers: list[Any], handlers: list[Any], contexts: Any = MRImageStorage) -> int:
    ae = AE(ae_title="PACS")
    ae.add_supported_context(contexts, SYNTAXES)
    port = free_port()
    servers.append(ae.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers))
    return port


def test_a_silent_peer_is_a_timeout(servers: list[Any]) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # accepts the TCP connection, never answers the association request
    port = listener.getsockname()[1]
    try:
        result = _cstore(port, timeout=1).send(_items(1))
    finally:
        listener.close()
    assert result.delivered == ()
    assert result.problem == (
        f"pacs: PACS@127.0.0.1:{port}: no answer to the association request from "
        f"127.0.0.1:{port} within 1 s (timeout)"
    )


def test_a_peer_that_closes_at_once_aborted_the_association() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]

    def close_each() -> None:
        for _ in range(2):  # veil's association, then its connection probe
            connection, _ = listener.accept()
            connection.close()

    thread = threading.Thread(target=close_each, daemon=True)
    thread.start()
    try:
        result = _cstore(port).send(_items(1))
    finally:
        listener.close()
    assert (result.problem or "").startswith(
        f"pacs: PACS@127.0.0.1:{port}: association aborted: 127.0.0.1:{port} closed the "
        "connection without accepting it"
    )


def test_an_abort_during_c_store_is_named(servers: list[Any]) -> None:
    def abort(event: Any) -> int:
        event.assoc.abort()
        return 0x0000

    port = _scp(servers, [(evt.EVT_C_STORE, abort)])
    result = _cstore(port).send(_items(2))
    assert result.delivered == ()
    assert result.problem == "pacs: association aborted by the destination during C-STORE"


def test_no_accepted_presentation_context_names_the_class_and_syntax(
    servers: list[Any],
) -> None:
    port = _scp(servers, [], contexts=CTImageStorage)  # a CT-only archive gets MR images
    result = _cstore(port).send(_items(1))
    assert result.delivered == ()
    assert result.problem == (
        f"pacs: PACS@127.0.0.1:{port}: the destination accepted the association but none of "
        "the 1 proposed presentation context(s) (it accepted no presentation context for MR "
        "Image Storage in Explicit VR Little Endian: configure it to accept that SOP class "
        "and transfer syntax)"
    )


def test_a_refusal_status_is_explained(servers: list[Any]) -> None:
    port = _scp(servers, [(evt.EVT_C_STORE, lambda _event: 0xA900)])
    result = _cstore(port).send(_items(1))
    assert result.problem == (
        "pacs: C-STORE refused with status 0xA900 (Data Set Does Not Match SOP Class)"
    )


class _Http(BaseHTTPRequestHandler):
    """A DICOMweb root that answers every STOW-RS with the server's ``reply``."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status, body = self.server.reply  # type: ignore[attr-defined]
        self.send_response(status)
        self.send_header("Content-Type", "application/dicom+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def http_root() -> Iterator[Callable[[int, bytes], str]]:
    started: list[ThreadingHTTPServer] = []

    def start(status: int, body: bytes = b"") -> str:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Http)
        server.reply = (status, body)  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/dicom-web"

    yield start
    for server in started:
        server.shutdown()


def _stow(url: str) -> StowSender:
    return StowSender(
        Destination(name="web", kind=DestinationKind.STOWRS, url=url, timeout_seconds=5)
    )


def test_stowrs_failures_say_the_http_status_or_the_network_error(
    http_root: Callable[[int, bytes], str],
) -> None:
    busy = _stow(http_root(503)).send(_items(1))
    assert busy.problem == "web: STOW-RS failed (HTTP 503 Service Unavailable)"
    wrong_root = _stow(http_root(404)).send(_items(1))
    assert wrong_root.problem == (
        "web: STOW-RS failed (HTTP 404 Not Found; check the DICOMweb root URL)"
    )
    port = free_port()
    nobody = _stow(f"http://127.0.0.1:{port}/dicom-web").send(_items(1))
    assert nobody.problem == (
        f"web: STOW-RS failed (connection refused by 127.0.0.1:{port} (nothing listens there))"
    )


def test_instances_a_stowrs_response_refuses_are_not_counted_delivered(
    http_root: Callable[[int, bytes], str],
) -> None:
    items = _items(2)
    refused = {
        "00081198": {
            "vr": "SQ",
            "Value": [
                {
                    "00081155": {"vr": "UI", "Value": [items[1].sop_uid]},
                    "00081197": {"vr": "US", "Value": [0xA700]},
                }
            ],
        }
    }
    result = _stow(http_root(202, json.dumps(refused).encode())).send(items)
    assert result.delivered == (items[0].key,)
    assert result.problem == (
        "web: STOW-RS: the destination refused 1 of 2 instance(s) (0xA700 (Refused: Out of "
        "Resources))"
    )


def test_the_reason_reaches_status_and_the_console(
    running_node: Callable[..., Node], tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there
    destination = Destination(
        name="pacs", kind=DestinationKind.CSTORE, host="127.0.0.1", port=port, ae_title="PACS"
    )
    node = running_node(
        destinations=(destination,),
        retry=RetryConfig(max_attempts=1, initial_delay_seconds=0.1, max_delay_seconds=0.1),
    )
    storescu(node.config.port, series_files(SMALL_SERIES[0])[:2])
    assert wait_for(lambda: [r.state for r in node.store.studies.status()] == [StudyState.FAILED])
    (row,) = node.store.studies.status()
    expected = f"pacs: PACS@127.0.0.1:{port}: connection refused by 127.0.0.1:{port}"
    assert (row.reason or "").startswith(expected)
    config = tmp_path / "node.yaml"
    config.write_text(
        f"state: {{database: '{node.config.database.removeprefix('sqlite:///')}'}}\n"
        f"destinations: [{{name: pacs, type: cstore, host: 127.0.0.1, port: {port}}}]\n"
    )
    from veil.cli.node import command

    shown = CliRunner().invoke(command, ["status", "--config", str(config)])
    assert expected in shown.output, shown.output
    from veil.console import nodeview

    detail = nodeview.study_detail(node.store, node.config, row.study_key)
    assert detail is not None and expected in (detail.summary.reason or "")
