"""DICOM receivers (pynetdicom SCPs): C-ECHO and C-STORE for every storage SOP class.

A received dataset is streamed by pynetdicom straight into a file in the spool's tmp folder
(`veil.node.intake.SpoolFile`, bounded by `max_instance_size`), so an instance never sits in
memory whole. Before the store handler sees it, its header is read (pixel data and large values
deferred) and checked:

- the SOP Instance, Study, Series and SOP Class UIDs must be valid UIDs (digits and dots, at
  most 64 characters, no empty component): anything else is refused with INVALID_UID, whatever
  the policy, because such a value could end up in a path or be sent on unchanged;
- the dataset's SOP Instance UID must equal the command's Affected SOP Instance UID
  (SOP_UID_MISMATCH otherwise: three instances sent under one Affected UID must not overwrite
  each other).

An instance is answered with success only after the handler has put it in the spool (fsync +
atomic rename) and registered it; if either fails the sender gets a failure status and resends.
Compressed transfer syntaxes are accepted and stored byte for byte as received. Callers not on
the allow-list (AE title and, if given, address) are rejected at association; `veil.node.intake`
bounds connections, time and bytes per caller. Nothing received is ever logged.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from pydicom import Dataset, dcmread
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from veil.node.config import AllowedCaller, IntakeLimits, TlsConfig
from veil.node.intake import (
    MAX_PDU_BYTES,
    Intake,
    IntakeServer,
    guarded_tls_context,
    install_streaming,
)
from veil.node.uids import valid_uid

log = logging.getLogger("veil.node.receiver")

# Values read from the header; anything longer is deferred (never loaded) while checking it.
HEADER_DEFER_BYTES = 64 * 1024


class StoreStatus(IntEnum):
    """C-STORE response statuses the node uses (PS3.4 B.2.3; 0xCxxx: cannot understand)."""

    SUCCESS = 0x0000
    OUT_OF_RESOURCES = 0xA700
    CANNOT_UNDERSTAND = 0xC000
    INVALID_UID = 0xC001  # a UID the node must use is not a valid UID
    SOP_UID_MISMATCH = 0xC002  # the dataset is not the instance the command announced
    PROCESSING_FAILURE = 0x0110


@dataclass(frozen=True)
class Received:
    """What a store handler gets: the received file in the spool's tmp folder (Part 10, as
    sent) and its checked header. The handler moves the file; what it leaves is deleted."""

    path: Path
    dataset: Dataset  # the header only: pixel data not read, large values deferred
    sop_uid: str
    study_uid: str
    sop_class_uid: str
    calling_ae_title: str


StoreHandler = Callable[[Received], StoreStatus]


def caller_allowed(callers: Sequence[AllowedCaller], ae_title: str, address: str) -> bool:
    if not callers:
        return True
    return any(caller.matches(ae_title, address) for caller in callers)


def ssl_context(tls: TlsConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certfile=str(tls.certificate), keyfile=str(tls.private_key))
    if tls.ca_certificates is not None:
        context.load_verify_locations(cafile=str(tls.ca_certificates))
    context.verify_mode = ssl.CERT_REQUIRED if tls.require_client_certificate else ssl.CERT_NONE
    return guarded_tls_context(context)


def _text(value: object) -> str:
    return str(value or "").strip().rstrip("\x00").strip()


def _printable(value: str) -> str:
    """An AE title fit for a log line (no control characters, no line breaks)."""
    return "".join(c if c.isprintable() and c.isascii() else "?" for c in value)[:16]


class Receiver:
    """One listening AE: a title, a port, an allow-list, limits and a store handler."""

    def __init__(
        self,
        name: str,
        ae_title: str,
        host: str,
        port: int,
        handler: StoreHandler,
        callers: Sequence[AllowedCaller] = (),
        tls: TlsConfig | None = None,
        limits: IntakeLimits | None = None,
        tmp_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.ae_title = ae_title
        self.address = (host, port)
        self.handler = handler
        self.callers = tuple(callers)
        self.tls = tls
        self.limits = limits = limits or IntakeLimits()
        self.tmp_dir = tmp_dir
        self.ae = AE(ae_title=ae_title)
        # pynetdicom counts idle connections against this; veil counts requested associations
        # itself (`_on_requested`) and bounds connections in the server.
        self.ae.maximum_associations = limits.max_connections
        self.ae.network_timeout = limits.network_timeout_seconds
        self.ae.acse_timeout = limits.association_request_timeout_seconds
        self.ae.dimse_timeout = limits.network_timeout_seconds
        self.ae.maximum_pdu_size = MAX_PDU_BYTES
        self.ae.require_called_aet = True
        for context in AllStoragePresentationContexts:
            if context.abstract_syntax is not None:  # always set in pynetdicom's list
                self.ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        self.ae.add_supported_context(Verification)
        self.server: IntakeServer | None = None

    def start(self) -> None:
        if self.tmp_dir is None:
            raise ValueError("a receiver needs the spool's tmp folder to receive into")
        install_streaming()
        handlers: list[Any] = [
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_C_ECHO, lambda _event: 0x0000),
        ]
        intake = Intake(self.name, self.limits, self.callers, self.tmp_dir)
        server = self.ae.make_server(
            self.address,
            evt_handlers=handlers,
            ssl_context=ssl_context(self.tls) if self.tls else None,
            server_class=IntakeServer,
            intake=intake,
        )
        assert isinstance(server, IntakeServer)
        self.server = server
        # What AE.start_server(block=False) does, with our server class.
        self.ae._servers.append(server)
        threading.Thread(
            target=server.serve_forever, name=f"veil-{self.name}-accept", daemon=True
        ).start()
        log.info(
            "%s: listening as %s on %s:%d%s",
            self.name,
            self.ae_title,
            *self.address,
            " (TLS)" if self.tls else "",
        )

    def stop(self) -> None:
        # Associations still open (a silent peer) would otherwise hold the process for up to
        # the network timeout after a stop.
        for assoc in list(self.ae.active_associations):
            if assoc.is_established:
                assoc.abort()
            else:  # no association yet to abort (an A-ABORT would be an invalid event)
                assoc.kill()
        if self.server is not None:
            self.server.shutdown()
            self.server = None

    def _on_requested(self, event: Any) -> None:
        assoc = event.assoc
        calling = str(assoc.requestor.primitive.calling_ae_title).strip()
        address = str(assoc.requestor.address)
        if not caller_allowed(self.callers, calling, address):
            log.warning(
                "%s: rejected an association from %s (calling AE %s): not on the allow-list",
                self.name,
                address,
                _printable(calling),
            )
            # Rejected-permanent, service-user, calling AE title not recognised (PS3.8 9.3.4).
            self._reject(assoc, (0x01, 0x01, 0x03))
            return
        # Only associations that were requested count against the limit: a flood of idle
        # connections cannot keep allowed callers out (they are bounded per address instead).
        requested = [
            other
            for other in self.ae.active_associations
            if other.is_acceptor
            and other is not assoc
            and other.requestor.primitive is not None
            and not (other.is_rejected or other.is_aborted or other.is_released)
        ]
        if len(requested) >= self.limits.max_associations:
            log.warning(
                "%s: rejected an association: %d are active (node.max_associations)",
                self.name,
                len(requested),
            )
            # Rejected-transient, service-provider (presentation), local limit exceeded.
            self._reject(assoc, (0x02, 0x03, 0x02))

    @staticmethod
    def _reject(assoc: Any, reason: tuple[int, int, int]) -> None:
        assoc.acse.send_reject(*reason)
        assoc.is_rejected = True
        evt.trigger(assoc, evt.EVT_REJECTED, {})
        assoc.kill()

    def _on_store(self, event: Any) -> int:
        request = event.request
        try:
            path = Path(event.dataset_path)
        except AttributeError:
            return StoreStatus.CANNOT_UNDERSTAND
        if not path.is_file():  # the spool could not take it (see intake.SpoolFile)
            log.error("%s: a received instance is not in the spool; answered failure", self.name)
            return StoreStatus.OUT_OF_RESOURCES
        try:
            status, received = self._check(request, path, event)
            if received is None:
                return status
            try:
                return self.handler(received)
            except Exception as exc:  # never log the message: database errors quote values
                log.error(
                    "%s: storing an instance failed (%s); answered failure",
                    self.name,
                    type(exc).__name__,
                )
                return StoreStatus.OUT_OF_RESOURCES
        finally:
            path.unlink(missing_ok=True)  # whatever the handler did not take

    def _check(self, request: Any, path: Path, event: Any) -> tuple[StoreStatus, Received | None]:
        affected = _text(request.AffectedSOPInstanceUID)
        sop_class = _text(request.AffectedSOPClassUID)
        try:
            header = dcmread(
                path, stop_before_pixels=True, force=True, defer_size=HEADER_DEFER_BYTES
            )
            study_uid = _text(header.get("StudyInstanceUID", ""))
            dataset_sop = _text(header.get("SOPInstanceUID", ""))
            series_uid = _text(header.get("SeriesInstanceUID", ""))
            _ = (header.get("PatientID"), header.get("IssuerOfPatientID"))
        except Exception as exc:  # any decoding failure of the peer's bytes
            log.warning(
                "%s: could not decode a dataset (%s); answered failure",
                self.name,
                type(exc).__name__,
            )
            return StoreStatus.CANNOT_UNDERSTAND, None
        if not study_uid or not dataset_sop:
            log.warning(
                "%s: an instance without StudyInstanceUID or SOPInstanceUID refused", self.name
            )
            return StoreStatus.CANNOT_UNDERSTAND, None
        invalid = [
            name
            for name, value in (
                ("Affected SOP Instance UID", affected),
                ("SOP Class UID", sop_class),
                ("Study Instance UID", study_uid),
                ("SOP Instance UID", dataset_sop),
                ("Series Instance UID", series_uid),
            )
            if (value or name != "Series Instance UID") and not valid_uid(value)
        ]
        if invalid:
            log.warning(
                "%s: refused an instance whose %s is not a valid UID (digits and dots, at "
                "most 64 characters)",
                self.name,
                " and ".join(invalid),
            )
            return StoreStatus.INVALID_UID, None
        if dataset_sop != affected:
            log.warning(
                "%s: refused an instance whose SOP Instance UID is not the command's "
                "Affected SOP Instance UID",
                self.name,
            )
            return StoreStatus.SOP_UID_MISMATCH, None
        calling = str(event.assoc.requestor.ae_title).strip()
        return StoreStatus.SUCCESS, Received(path, header, affected, study_uid, sop_class, calling)
