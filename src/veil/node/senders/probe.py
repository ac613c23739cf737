"""Connection tests for a destination, without sending any data.

- C-STORE: a DICOM C-ECHO (Verification) with the destination's AE titles.
- STOW-RS: a QIDO-RS search for one study (``GET {url}/studies?limit=1``) with the
  destination's credentials: it proves the DICOMweb root answers and accepts them, and
  stores nothing at the destination (a test instance would be a stray study in a real PACS).
- Folder: the folder exists (or can be created) and is writable.

Each answer says what happened in a few words and never quotes what the peer sent.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from veil.node.config import Destination, DestinationKind
from veil.node.senders import failures

log = logging.getLogger("veil.node.senders.probe")

TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    seconds: float


def probe(destination: Destination, timeout: float = TIMEOUT_SECONDS) -> ProbeResult:
    start = time.perf_counter()
    if destination.kind is DestinationKind.CSTORE:
        ok, detail = _echo(destination, timeout)
    elif destination.kind is DestinationKind.STOWRS:
        ok, detail = _qido(destination, timeout)
    else:
        ok, detail = _folder(destination)
    return ProbeResult(ok, detail, time.perf_counter() - start)


def _echo(destination: Destination, timeout: float) -> tuple[bool, str]:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    ae = AE(ae_title=destination.calling_ae_title)
    ae.add_requested_context(Verification)
    ae.acse_timeout = timeout
    ae.dimse_timeout = timeout
    ae.network_timeout = timeout
    ae.connection_timeout = timeout
    started = time.perf_counter()
    try:
        assoc = ae.associate(destination.host, destination.port, ae_title=destination.ae_title)
    except Exception as exc:  # pynetdicom raises on bad addresses
        return False, f"C-ECHO: cannot connect ({type(exc).__name__})"
    if not assoc.is_established:
        why = failures.not_established(
            assoc,
            destination.host,
            destination.port,
            timeout,
            time.perf_counter() - started,
            [(str(Verification), "1.2.840.10008.1.2")],
        )
        return False, f"C-ECHO: {why}"
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    code = getattr(status, "Status", None) if status else None
    if code == 0x0000:
        return True, "C-ECHO succeeded"
    if code is None:
        return False, "C-ECHO: no answer within the timeout"
    return False, f"C-ECHO: status 0x{int(code):04X}"


def _qido(destination: Destination, timeout: float) -> tuple[bool, str]:
    import requests

    auth = None
    if destination.username is not None:
        auth = (destination.username, destination.password or "")
    try:
        response = requests.get(
            f"{destination.url}/studies",
            params={"limit": "1"},
            headers={"Accept": "application/dicom+json"},
            auth=auth,
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        return False, f"DICOMweb: cannot connect ({type(exc).__name__})"
    if response.status_code in (200, 204):
        return True, f"DICOMweb answered (HTTP {response.status_code})"
    if response.status_code in (401, 403):
        return False, f"DICOMweb: credentials refused (HTTP {response.status_code})"
    return False, f"DICOMweb: HTTP {response.status_code}"


def _folder(destination: Destination) -> tuple[bool, str]:
    path = destination.path
    if path is None:
        return False, "folder: no path configured"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return False, f"folder: cannot create it ({exc.strerror})"
    if not os.access(path, os.W_OK | os.X_OK):
        return False, "folder: not writable by the node's user"
    return True, "folder exists and is writable"
