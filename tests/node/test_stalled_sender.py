"""A sender that stalls mid-study longer than `stable_seconds` (a loaded PACS, a slow link): the
node sends what it has, then the late instances reopen the study and are sent too. Nothing is
dropped and nothing is sent twice (counted at a real C-STORE destination).

The node's default quiet time is 10 s; here 0.5 s, and the sender waits until the first part
has been sent: the same situation, made certain instead of hoped for."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from node_support import SMALL_SERIES, free_port, series_files, wait_for
from pydicom import dcmread
from pynetdicom import AE, evt
from pynetdicom.sop_class import MRImageStorage

from veil.node import controls
from veil.node.config import Destination, DestinationKind
from veil.node.service import Node
from veil.node.store.states import StudyState

SYNTAXES = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.4.70"]


@pytest.fixture
def counting_pacs() -> Iterator[tuple[int, Counter[str]]]:
    """A storage SCP that counts every C-STORE per SOP Instance UID."""
    received: Counter[str] = Counter()

    def on_store(event: Any) -> int:
        received[str(event.dataset.SOPInstanceUID)] += 1
        return 0x0000

    ae = AE(ae_title="PACS")
    ae.add_supported_context(MRImageStorage, SYNTAXES)
    port = free_port()
    server = ae.start_server(
        ("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)]
    )
    yield port, received
    server.shutdown()


def test_late_instances_of_a_sent_study_are_sent_once_and_nothing_twice(
    running_node: Callable[..., Node], counting_pacs: tuple[int, Counter[str]]
) -> None:
    port, received = counting_pacs
    pacs = Destination(
        name="pacs", kind=DestinationKind.CSTORE, host="127.0.0.1", port=port, ae_title="PACS"
    )
    node = running_node(destinations=(pacs,), stable_seconds=0.5)
    first, late = (series_files(s) for s in SMALL_SERIES)  # one study, two series
    scanner = AE(ae_title="SCANNER")
    for path in first + late:
        meta = dcmread(path, stop_before_pixels=True).file_meta
        scanner.add_requested_context(meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID)
    assoc = scanner.associate("127.0.0.1", node.config.port, ae_title="VEIL")
    assert assoc.is_established
    try:
        for path in first:
            assert assoc.send_c_store(path).Status == 0x0000
        # The sender stalls; the node finds the study quiet and sends what it has.
        assert wait_for(
            lambda: (
                [(r.state, r.sent_count) for r in node.store.studies.status()]
                == [(StudyState.SENT, len(first))]
            ),
            timeout=60,
        ), node.store.studies.status()
        assert sum(received.values()) == len(first)
        for path in late:  # the rest, on the same association
            assert assoc.send_c_store(path).Status == 0x0000
    finally:
        assoc.release()
    total = len(first) + len(late)
    assert wait_for(lambda: sum(received.values()) == total, timeout=60), received
    assert wait_for(
        lambda: (
            [(r.state, r.sent_count) for r in node.store.studies.status()]
            == [(StudyState.SENT, total)]
        )
    )
    assert len(received) == total and set(received.values()) == {1}  # each once, none twice
    (row,) = node.store.studies.status()
    sent = [e.state for e in controls.study_events(node.store, row.id)].count(StudyState.SENT)
    assert sent == 2  # went out in two parts, under one de-identified study
