"""The network side of a receiver: who may connect, for how long, and with how many bytes.

pynetdicom's server accepts every TCP connection, starts an association thread for it, waits
`acse_timeout` for an A-ASSOCIATE-RQ, reads each PDU with blocking `recv` calls, and counts idle
connections against `maximum_associations`. Measured on loopback before this module: 16 idle
connections locked every caller out for 30-40 s, and 16 associations dripping one byte every
20 s held the node for 95 s despite a 60 s network timeout (a blocking read never looks at the
idle timer). Here, below pynetdicom's own layers:

- `IntakeServer.verify_request` closes a connection at once when its address is not on the
  allow-list (when every allowed caller names its hosts), when that address already holds
  `max_associations_per_address` connections, or when `max_connections` are open;
- `GuardedSocket` (and its TLS twin) reads each PDU against a deadline, refuses a PDU longer
  than the receiver accepts before reading its body, bounds sends by the network timeout, and
  can be told to fail the next read (the way an oversized instance ends its association);
- `SpoolFile` is where pynetdicom streams a received dataset (STORE_RECV_CHUNKED_DATASET): a
  file in the spool's tmp folder, owner-only, that stops writing past `max_instance_bytes` and
  ends the association;
- the TLS handshake happens in the connection's own thread with the request timeout, not in
  the accept loop (where one silent TLS client would block every other caller).

What pynetdicom internals this touches (pinned to pynetdicom 3.x): the `RequestHandler` is
subclassed to join the association thread, `_create_association` is called as pynetdicom's own
handler does, and `dimse_messages.NamedTemporaryFile` is replaced by `spool_file_factory`, which
falls back to the original for associations that are not a veil receiver's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import struct
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pynetdicom import _config as pynetdicom_config
from pynetdicom import dimse_messages
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer

from veil.node.config import AllowedCaller, IntakeLimits, address_in

log = logging.getLogger("veil.node.intake")

# The largest P-DATA PDU body this node accepts (and announces as its maximum PDU length).
MAX_PDU_BYTES = 1024 * 1024
# Any other PDU: an A-ASSOCIATE-RQ with many presentation contexts is some tens of KB.
MAX_CONTROL_PDU_BYTES = 1024 * 1024
P_DATA_TF = 0x04


@dataclass(frozen=True)
class Intake:
    """What a receiver's server needs to know about its callers and its spool."""

    name: str
    limits: IntakeLimits
    callers: tuple[AllowedCaller, ...]
    tmp_dir: Path

    def address_allowed(self, address: str) -> bool:
        """False only when every allowed caller names its hosts and none has this address."""
        if not self.callers or any(not caller.networks for caller in self.callers):
            return True
        return any(address_in(address, caller.networks) for caller in self.callers)


class _Guard:
    """The reading discipline shared by plain and TLS sockets (a mixin)."""

    pdu_seconds: float = 60.0
    _header: bytearray
    _left: int
    _deadline: float | None
    refusal: str | None

    def guard(self, pdu_seconds: float) -> None:
        self.pdu_seconds = pdu_seconds
        self._header = bytearray()
        self._left = 0
        self._deadline = None
        self.refusal = None

    def refuse(self, reason: str) -> None:
        """Make the next read fail: the association ends (pynetdicom sees the transport close)."""
        self.refusal = reason

    def _before_read(self) -> None:
        if self.refusal is not None:
            raise ConnectionAbortedError(self.refusal)
        now = time.monotonic()
        if self._deadline is None:
            self._deadline = now + self.pdu_seconds
        remaining = self._deadline - now
        if remaining <= 0:
            raise TimeoutError(f"a PDU took longer than {self.pdu_seconds:g} s to arrive")
        self._settimeout(remaining)

    def _after_read(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._left == 0 and len(self._header) < 6:
                take = min(6 - len(self._header), len(view))
                self._header += view[:take]
                view = view[take:]
                if len(self._header) == 6:
                    kind, _, length = struct.unpack(">BBL", self._header)
                    limit = MAX_PDU_BYTES if kind == P_DATA_TF else MAX_CONTROL_PDU_BYTES
                    if length > limit:
                        raise ConnectionAbortedError(
                            f"a PDU of {length} bytes, more than the {limit} this node accepts"
                        )
                    self._left = length
                    if length == 0:
                        self._pdu_done()
                continue
            take = min(self._left, len(view))
            self._left -= take
            view = view[take:]
            if self._left == 0:
                self._pdu_done()
        self._settimeout(None)

    def _pdu_done(self) -> None:
        self._header = bytearray()
        self._deadline = None

    def _settimeout(self, value: float | None) -> None:
        raise NotImplementedError


class GuardedSocket(_Guard, socket.socket):
    """An accepted plain TCP connection read under `_Guard`'s discipline."""

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self._before_read()
        data = super().recv(bufsize, flags)
        self._after_read(data)
        return data

    def send(self, data: Any, flags: int = 0) -> int:
        socket.socket.settimeout(self, self.pdu_seconds)
        try:
            return super().send(data, flags)
        finally:
            socket.socket.settimeout(self, None)

    def _settimeout(self, value: float | None) -> None:
        socket.socket.settimeout(self, value)


class GuardedSSLSocket(_Guard, ssl.SSLSocket):
    """The TLS twin of GuardedSocket (set as the context's ``sslsocket_class``)."""

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        self._before_read()
        data = super().recv(buflen, flags)
        self._after_read(data)
        return data

    def send(self, data: Any, flags: int = 0) -> int:
        ssl.SSLSocket.settimeout(self, self.pdu_seconds)
        try:
            return super().send(data, flags)
        finally:
            ssl.SSLSocket.settimeout(self, None)

    def _settimeout(self, value: float | None) -> None:
        ssl.SSLSocket.settimeout(self, value)


def guarded_tls_context(context: ssl.SSLContext) -> ssl.SSLContext:
    context.sslsocket_class = GuardedSSLSocket
    return context


class _RateLimitedLog:
    """One warning per reason per interval, with how many were suppressed (a flood of refused
    connections must not become a flood of log lines)."""

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def warning(self, reason: str, message: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(reason, -1e9) < self.interval:
                self._suppressed[reason] += 1
                return
            suppressed = self._suppressed.pop(reason, 0)
            self._last[reason] = now
        more = f" ({suppressed} more like it suppressed)" if suppressed else ""
        log.warning(message + more, *args)


class IntakeServer(ThreadedAssociationServer):
    """pynetdicom's threaded server with veil's admission rules (see the module docstring)."""

    # Connection threads live as long as their association; stopping the receiver aborts the
    # associations and must not wait for silent peers.
    daemon_threads = True
    block_on_close = False

    def __init__(self, *args: Any, intake: Intake, **kwargs: Any) -> None:
        self.intake = intake
        self._open: Counter[str] = Counter()
        self._open_lock = threading.Lock()
        self._refusals = _RateLimitedLog()
        kwargs["request_handler"] = _IntakeHandler
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        assert self.socket is not None
        client, address = self.socket.accept()
        guarded = GuardedSocket(client.family, client.type, client.proto, fileno=client.detach())
        guarded.guard(self.intake.limits.network_timeout_seconds)
        if self.ssl_context is None:
            return guarded, address
        wrapped = self.ssl_context.wrap_socket(
            guarded, server_side=True, do_handshake_on_connect=False
        )
        if isinstance(wrapped, _Guard):
            wrapped.guard(self.intake.limits.network_timeout_seconds)
        return wrapped, address

    def verify_request(self, request: Any, client_address: Any) -> bool:
        host = str(client_address[0])
        limits = self.intake.limits
        if not self.intake.address_allowed(host):
            self._refusals.warning(
                "address",
                "%s: closed a connection from %s, an address not on the allow-list",
                self.intake.name,
                host,
            )
            return False
        with self._open_lock:
            total = sum(self._open.values())
            if total >= limits.max_connections:
                reason = f"{total} connections are open (the most this receiver keeps)"
            elif self._open[host] >= limits.max_associations_per_address:
                reason = (
                    f"{host} already holds {self._open[host]} connections "
                    "(node.max_associations_per_address)"
                )
            else:
                self._open[host] += 1
                return True
        self._refusals.warning(
            f"limit:{host}", "%s: closed a new connection at once: %s", self.intake.name, reason
        )
        return False

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            host = str(client_address[0])
            with self._open_lock:
                self._open[host] -= 1
                if self._open[host] <= 0:
                    del self._open[host]

    def open_connections(self) -> dict[str, int]:
        """Open connections per address (for tests and status)."""
        with self._open_lock:
            return dict(self._open)


class _IntakeHandler(RequestHandler):
    """pynetdicom's handler, but it waits for its association to end (so the server knows how
    many connections each address holds) and performs the TLS handshake on its own time."""

    server: IntakeServer

    def handle(self) -> None:
        connection = self.request
        limits = self.server.intake.limits
        if isinstance(connection, ssl.SSLSocket):
            try:
                ssl.SSLSocket.settimeout(connection, limits.association_request_timeout_seconds)
                connection.do_handshake()
                ssl.SSLSocket.settimeout(connection, None)
            except (OSError, ValueError):
                _close(connection)
                return
        assoc = self._create_association()
        # The spool file factory finds this receiver's tmp folder and size limit here.
        assoc.dul.veil_intake = self.server.intake  # type: ignore[attr-defined]
        from pynetdicom import evt

        evt.trigger(assoc, evt.EVT_CONN_OPEN, {"address": self.client_address})
        assoc.start()
        while assoc.is_alive():
            # The peer hung up before requesting an association (a port probe): pynetdicom
            # would keep the association waiting for a request for the whole ACSE timeout,
            # and the slot with it. End it now.
            if connection.fileno() == -1 and not assoc.is_established:
                assoc.kill()
                break
            assoc.join(0.2)
        _close(connection)


def _close(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.close()


class SpoolFile:
    """Where pynetdicom writes a received dataset: a new owner-only file in the spool's tmp
    folder that stops at ``limit`` bytes (the association is then ended, the file removed).

    It offers what pynetdicom uses of a NamedTemporaryFile: name, write, file.flush, close.
    """

    def __init__(self, folder: Path, limit: int, connection: _Guard | None) -> None:
        self.name = str(folder / f"{uuid.uuid4().hex}.receiving")
        self._fd: int | None = None
        try:
            self._fd = os.open(self.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            # Never raise inside pynetdicom's state machine: the data is dropped and the store
            # handler, finding no file, answers "out of resources" (the sender resends).
            log.error(
                "cannot create a file in the spool's tmp folder (%s); the instance will be "
                "answered with a failure",
                exc.strerror or type(exc).__name__,
            )
        self._written = 0
        self._limit = limit
        self._connection = connection
        self.exceeded = False

    @property
    def file(self) -> SpoolFile:
        return self

    def write(self, data: bytes) -> int:
        if self._fd is None:
            return len(data)
        try:
            return self._write(data)
        except OSError as exc:  # disk full: drop the file; the handler answers a failure
            log.error("writing a received instance failed (%s)", exc.strerror or "OSError")
            self.discard()
            return len(data)

    def _write(self, data: bytes) -> int:
        assert self._fd is not None
        self._written += len(data)
        if self._written > self._limit:
            self.exceeded = True
            self.discard()
            if self._connection is not None:
                self._connection.refuse(f"an instance larger than the limit of {self._limit} bytes")
            log.warning(
                "an instance larger than node.max_instance_size (%d bytes) was refused; "
                "the association is aborted",
                self._limit,
            )
            return len(data)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        return len(data)

    def flush(self) -> None:
        """Each write goes to the kernel at once; durability is the spool's fsync on adopt."""

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def discard(self) -> None:
        self.close()
        Path(self.name).unlink(missing_ok=True)


_original_temporary_file = getattr(dimse_messages, "NamedTemporaryFile")  # noqa: B009


def spool_file_factory(*args: Any, **kwargs: Any) -> Any:
    """Replaces pynetdicom's NamedTemporaryFile for received datasets (see the module docstring).

    Runs in the association's DUL thread; associations that are not a veil receiver's get
    pynetdicom's own temporary file.
    """
    thread = threading.current_thread()
    intake: Intake | None = getattr(thread, "veil_intake", None)
    if intake is None:
        return _original_temporary_file(*args, **kwargs)
    # The DUL thread's AssociationSocket wraps the accepted (guarded) connection.
    connection = getattr(getattr(thread, "socket", None), "socket", None)
    guard = connection if isinstance(connection, _Guard) else None
    return SpoolFile(intake.tmp_dir, intake.limits.max_instance_bytes, guard)


def install_streaming() -> None:
    """Make pynetdicom stream every received C-STORE dataset to a file (process-wide)."""
    pynetdicom_config.STORE_RECV_CHUNKED_DATASET = True
    setattr(dimse_messages, "NamedTemporaryFile", spool_file_factory)  # noqa: B010
