"""What went wrong when sending, in words an operator can act on.

"association not accepted" for every failure sent operators to the wrong place. Each failure is
named here from what the network and the peer said: the TCP connection refused, no answer
within the timeout, the association rejected (with the standard's result, source and reason),
aborted, a C-STORE status with its meaning, an HTTP status with its standard phrase. Only
fixed tables and numbers are used, never text the peer sent (it could carry anything).
"""

from __future__ import annotations

import errno
import http
import socket
import time
from collections.abc import Sequence
from typing import Any

from pydicom.uid import UID
from pynetdicom.status import GENERAL_STATUS, STORAGE_SERVICE_CLASS_STATUS

# Ranges of C-STORE statuses (PS3.4 B.2.3) whose codes the peer chooses within the range.
_STATUS_RANGES = {
    0xA700: "Refused: Out of Resources",
    0xA900: "Error: Data Set Does Not Match SOP Class",
    0xC000: "Error: Cannot Understand",
}


def status_meaning(code: int) -> str:
    """``0xA700 (Refused: Out of Resources)``: a C-STORE status and what the standard says."""
    known = STORAGE_SERVICE_CLASS_STATUS.get(code) or GENERAL_STATUS.get(code)
    text = known[1] if known else _STATUS_RANGES.get(code & 0xFF00, "")
    return f"0x{code:04X} ({text})" if text else f"0x{code:04X}"


def _lower(text: Any) -> str:
    return str(text or "").strip().lower()


def rejected(assoc: Any) -> str:
    """An A-ASSOCIATE-RJ in words: pynetdicom's names for the standard's codes (PS3.8 7.1.1)."""
    primitive = assoc.acceptor.primitive
    if primitive is None:
        return "association rejected"
    result, source = _lower(primitive.result_str), _lower(primitive.source_str)
    reason = str(primitive.reason_str or "").strip()  # "Called AE title not recognised"
    words = ", ".join(part for part in (result, f"by the {source}" if source else "") if part)
    hint = ""
    if "ae title" in reason.lower():
        hint = "; check ae_title and calling_ae_title, and that the destination knows veil"
    elif "limit" in reason.lower() or "congestion" in reason.lower():
        hint = "; the destination is busy: veil retries later"
    return f"association rejected ({words}: {reason or 'no reason given'}){hint}"


PROBE_SECONDS = 5.0  # a second connection, to tell why the first failed: kept short


def connect_problem(host: str, port: int, timeout: float) -> str | None:
    """Why a TCP connection to ``host:port`` fails, or None when it opens (then the failure
    came later, from the DICOM peer). ``timeout`` is the one the failed attempt had; the probe
    waits at most PROBE_SECONDS of it (a host that drops packets would hold a worker again)."""
    try:
        with socket.create_connection((host, port), timeout=min(timeout, PROBE_SECONDS)):
            return None
    except ConnectionRefusedError:
        return (
            f"connection refused by {host}:{port} (nothing listens there: check the host, "
            "the port and that the destination is running)"
        )
    except TimeoutError:
        return (
            f"no TCP connection to {host}:{port} within {timeout:g} s (timeout: the host is "
            "down or a firewall drops the packets)"
        )
    except socket.gaierror:
        return f"the host name {host} does not resolve"
    except OSError as exc:
        name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
        return f"cannot connect to {host}:{port} ({exc.strerror or name})"


def not_established(
    assoc: Any,
    host: str,
    port: int,
    timeout: float,
    elapsed: float,
    proposed: Sequence[tuple[str, str]] = (),
) -> str:
    """Why ``ae.associate`` gave no association: rejected, refused, timed out, aborted, or
    accepted without any of the ``proposed`` (SOP class, transfer syntax) contexts."""
    if assoc.is_rejected:
        return rejected(assoc)
    answer = assoc.acceptor.primitive
    if answer is not None and answer.result == 0x00 and not assoc.accepted_contexts:
        # pynetdicom aborts an association on which nothing can be sent.
        sop_class, syntax = proposed[0] if proposed else ("", "")
        example = f" ({no_context(sop_class, syntax)})" if proposed else ""
        return (
            f"the destination accepted the association but none of the {len(proposed)} "
            f"proposed presentation context(s){example}"
        )
    problem = connect_problem(host, port, timeout)
    if problem is not None:
        return problem
    if elapsed >= timeout * 0.9:
        return (
            f"no answer to the association request from {host}:{port} within {timeout:g} s "
            "(timeout)"
        )
    return (
        f"association aborted: {host}:{port} closed the connection without accepting it (is "
        "it a DICOM service, and does it accept veil's address and TLS settings?)"
    )


def no_context(sop_class: str, syntax: str) -> str:
    """An association without an accepted context for an output's class and transfer syntax."""
    return (
        f"it accepted no presentation context for {UID(sop_class).name} in "
        f"{UID(syntax).name}: configure it to accept that SOP class and transfer syntax"
    )


def store_lost(assoc: Any, elapsed: float, timeout: float) -> str:
    """No C-STORE response: the peer aborted, or the answer did not come in time."""
    if elapsed >= timeout * 0.9:
        return f"no C-STORE response within {timeout:g} s (timeout; the association was aborted)"
    # The peer's A-ABORT is handled by pynetdicom's own thread: give it a moment to show.
    deadline = time.monotonic() + 1.0
    while not assoc.is_aborted and assoc.is_established and time.monotonic() < deadline:
        time.sleep(0.02)
    if assoc.is_aborted:
        return "association aborted by the destination during C-STORE"
    return "no C-STORE response (the connection was lost)"


def http_problem(exc: BaseException, url: str) -> str:
    """A DICOMweb request's failure: the HTTP status and its standard phrase, or the network
    error (refused, timeout, TLS) under it."""
    import requests

    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    if isinstance(code, int):
        try:
            phrase = http.HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
        hint = {
            401: "; check username and password",
            403: "; the credentials may not store",
            404: "; check the DICOMweb root URL",
            413: "; the destination refuses requests that large",
        }.get(code, "")
        return f"HTTP {code}{' ' + phrase if phrase else ''}{hint}"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS handshake with {url} failed (certificate or protocol)"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return f"no TCP connection to {url} within the timeout (timeout)"
    if isinstance(exc, requests.exceptions.Timeout):
        return f"no answer from {url} within the timeout (timeout)"
    if isinstance(exc, requests.exceptions.ConnectionError):
        if _caused_by(exc, ConnectionRefusedError):
            return f"connection refused by {url} (nothing listens there)"
        if _caused_by(exc, ConnectionResetError):
            return f"connection reset by {url}"
        return f"cannot connect to {url} ({type(exc).__name__})"
    return type(exc).__name__


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        if isinstance(current, BaseException):
            stack.extend([current.__cause__, current.__context__, *current.args])
        for attribute in ("reason", "original_error"):
            stack.append(getattr(current, attribute, None))
    return False
