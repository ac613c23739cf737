"""The C-STORE sender against a real storage SCP (pynetdicom on a free localhost port):
what it delivers, what it reports when the peer refuses, and that it never crashes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from node_support import SMALL_SERIES, free_port, series_files
from pydicom import dcmread
from pynetdicom import AE, evt
from pynetdicom.sop_class import MRImageStorage

from veil.node.config import Destination, DestinationKind
from veil.node.senders import OutItem
from veil.node.senders.cstore import CStoreSender

# The SCP accepts what the two series are stored as: explicit little endian and JPEG Lossless.
SYNTAXES = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.70"]


class Scp:
    """A storage SCP that remembers what it stored; ``answer`` picks the status per SOP UID."""

    def __init__(self, answer: Callable[[str], int] = lambda _uid: 0x0000) -> None:
        self.stored: dict[str, bytes] = {}
        self.answer = answer
        self.port = free_port()
        ae = AE(ae_title="PACS")
        ae.require_called_aet = True  # a PACS that answers to its own AE title only
        ae.add_supported_context(MRImageStorage, SYNTAXES)
        handlers = [(evt.EVT_C_STORE, self._on_store)]
        self.server = ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=handlers)

    def _on_store(self, event: Any) -> int:
        ds = event.dataset
        uid = str(ds.SOPInstanceUID)
        status = self.answer(uid)
        if status in (0x0000, 0xB000):
            self.stored[uid] = bytes(ds.PixelData)
        return status

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def scp() -> Iterator[Callable[..., Scp]]:
    started: list[Scp] = []

    def start(**kwargs: Any) -> Scp:
        server = Scp(**kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def _items(count: int = 3) -> list[OutItem]:
    paths = [p for series in SMALL_SERIES for p in series_files(series)[:count]]
    items = []
    for key, path in enumerate(paths):
        ds = dcmread(path, stop_before_pixels=True)
        items.append(OutItem(key, path, str(ds.StudyInstanceUID), str(ds.SOPInstanceUID)))
    return items


def _sender(port: int, associations: int = 1, ae_title: str = "PACS") -> CStoreSender:
    return CStoreSender(
        Destination(
            name="pacs",
            kind=DestinationKind.CSTORE,
            host="127.0.0.1",
            port=port,
            ae_title=ae_title,
            associations=associations,
            timeout_seconds=10,
        )
    )


@pytest.mark.parametrize("associations", [1, 2])
def test_every_file_is_delivered_as_stored(scp: Callable[..., Scp], associations: int) -> None:
    server = scp()
    items = _items()
    result = _sender(server.port, associations).send(items)
    assert (result.problem, sorted(result.delivered)) == (None, [i.key for i in items])
    assert set(server.stored) == {i.sop_uid for i in items}
    for item in items:  # pixel data arrives byte for byte, compressed or not
        assert server.stored[item.sop_uid] == bytes(dcmread(item.path).PixelData)


def test_a_warning_status_counts_as_stored(scp: Callable[..., Scp]) -> None:
    server = scp(answer=lambda _uid: 0xB000)  # coercion of data elements: stored
    items = _items(1)
    assert _sender(server.port).send(items).delivered == tuple(i.key for i in items)


def test_a_refusal_stops_the_batch_and_names_the_destination_and_status(
    scp: Callable[..., Scp],
) -> None:
    items = _items()
    refused = items[2].sop_uid
    server = scp(answer=lambda uid: 0xA700 if uid == refused else 0x0000)
    result = _sender(server.port).send(items)
    assert result.delivered == (0, 1)  # the ones acknowledged before the refusal
    assert result.problem == "pacs: C-STORE refused with status 0xA700 (Refused: Out of Resources)"
    assert refused not in server.stored


def test_a_peer_that_is_not_there_or_refuses_the_association(scp: Callable[..., Scp]) -> None:
    port = free_port()
    nobody = _sender(port).send(_items(1))
    assert nobody.delivered == ()
    assert (nobody.problem or "").startswith(
        f"pacs: PACS@127.0.0.1:{port}: connection refused by 127.0.0.1:{port}"
    )
    server = scp()
    wrong_title = _sender(server.port, ae_title="OTHER").send(_items(1))
    assert wrong_title.delivered == ()
    assert wrong_title.problem == (
        f"pacs: OTHER@127.0.0.1:{server.port}: association rejected (rejected permanent, by "
        "the service user: Called AE title not recognised); check ae_title and "
        "calling_ae_title, and that the destination knows veil"
    )
    assert server.stored == {}


def test_an_unreadable_output_is_reported_not_raised(
    scp: Callable[..., Scp], tmp_path: Path
) -> None:
    server = scp()
    broken = tmp_path / "broken.dcm"
    broken.write_bytes(b"not DICOM at all")
    items = [*_items(1), OutItem(99, broken, "2.25.1", "2.25.2")]
    result = _sender(server.port).send(items)
    assert result.delivered == ()
    assert result.problem == "pacs: an output file is unreadable"
