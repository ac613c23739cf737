"""DICOM receivers (pynetdicom SCPs): C-ECHO and C-STORE for every storage SOP class.

An instance is answered with success only after it is in the spool (fsync + atomic rename)
and registered in the state store; if either fails the sender gets a failure status and
resends. Compressed transfer syntaxes are accepted and stored byte for byte as received.
Callers not on the allow-list (AE title and, if given, address) are rejected at association.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from pydicom import Dataset
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from veil.node.config import AllowedCaller, TlsConfig

log = logging.getLogger("veil.node.receiver")


class StoreStatus(IntEnum):
    """C-STORE response statuses the node uses (PS3.4 B.2.3)."""

    SUCCESS = 0x0000
    OUT_OF_RESOURCES = 0xA700
    CANNOT_UNDERSTAND = 0xC000
    PROCESSING_FAILURE = 0x0110


@dataclass(frozen=True)
class Received:
    """What a store handler gets: the bytes as sent (with file meta) and the parsed header."""

    data: bytes
    dataset: Dataset
    sop_uid: str
    sop_class_uid: str
    calling_ae_title: str


StoreHandler = Callable[[Received], StoreStatus]


def caller_allowed(callers: Sequence[AllowedCaller], ae_title: str, address: str) -> bool:
    if not callers:
        return True
    for caller in callers:
        if caller.ae_title == ae_title.strip() and (not caller.hosts or address in caller.hosts):
            return True
    return False


def ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile=str(tls.certificate), keyfile=str(tls.private_key))
    if tls.ca_certificates is not None:
        context.load_verify_locations(cafile=str(tls.ca_certificates))
    context.verify_mode = ssl.CERT_REQUIRED if tls.require_client_certificate else ssl.CERT_NONE
    return context


class Receiver:
    """One listening AE: a title, a port, an allow-list and a store handler."""

    def __init__(
        self,
        name: str,
        ae_title: str,
        host: str,
        port: int,
        handler: StoreHandler,
        callers: Sequence[AllowedCaller] = (),
        tls: TlsConfig | None = None,
        max_associations: int = 16,
        network_timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.ae_title = ae_title
        self.address = (host, port)
        self.handler = handler
        self.callers = tuple(callers)
        self.tls = tls
        self.ae = AE(ae_title=ae_title)
        self.ae.maximum_associations = max_associations
        self.ae.network_timeout = network_timeout
        self.ae.acse_timeout = 30
        self.ae.dimse_timeout = network_timeout
        self.ae.maximum_pdu_size = 0  # no limit on what we accept
        self.ae.require_called_aet = True
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:  # always set in pynetdicom's list
                self.ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        self.ae.add_supported_context(Verification)
        self.server: ThreadedAssociationServer | None = None

    def start(self) -> None:
        handlers: list[Any] = [
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, lambda _event: 0x0000),
        ]
        self.server = self.ae.start_server(
            self.address,
            block=False,
            evt_handlers=handlers,
            ssl_context=ssl_context(self.tls) if self.tls else None,
        )
        log.info(
            "%s: listening as %s on %s:%d%s",
            self.name,
            self.ae_title,
            *self.address,
            " (TLS)" if self.tls else "",
        )

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server = None
        # Associations still open (a silent peer) would otherwise hold the process for up to
        # the network timeout after a stop.
        for assoc in list(self.ae.active_associations):
            assoc.abort()

    def _on_requested(self, event: Any) -> None:
        assoc = event.assoc
        calling = str(assoc.requestor.primitive.calling_ae_title).strip()
        address = str(assoc.requestor.address)
        if caller_allowed(self.callers, calling, address):
            return
        log.warning(
            "%s: rejected an association from a caller not on the allow-list (calling AE %s)",
            self.name,
            calling,
        )
        # Rejected-permanent, service-user, calling AE title not recognised (PS3.8 9.3.4).
        assoc.acse.send_reject(0x01, 0x01, 0x03)
        assoc.is_rejected = True
        evt.trigger(assoc, evt.EVT_REJECTED, {})
        assoc.kill()

    def _on_store(self, event: Any) -> int:
        request = event.request
        sop_uid = str(request.AffectedSOPInstanceUID or "").strip()
        sop_class = str(request.AffectedSOPClassUID or "").strip()
        calling = str(event.assoc.requestor.ae_title).strip()
        try:
            data = event.encoded_dataset(include_meta=True)
            dataset = event.dataset
            # Touch the header attributes the node needs, so a malformed dataset fails here.
            _ = (
                dataset.get("StudyInstanceUID"),
                dataset.get("PatientID"),
                dataset.get("SOPInstanceUID"),
            )
        except Exception as exc:  # any decoding failure of the peer's bytes
            log.warning(
                "%s: could not decode a dataset (%s); answered failure",
                self.name,
                type(exc).__name__,
            )
            return StoreStatus.CANNOT_UNDERSTAND
        received = Received(data, dataset, sop_uid, sop_class, calling)
        try:
            return self.handler(received)
        except Exception as exc:  # never log the message: database errors quote values
            log.error(
                "%s: storing an instance failed (%s); answered failure",
                self.name,
                type(exc).__name__,
            )
            return StoreStatus.OUT_OF_RESOURCES
