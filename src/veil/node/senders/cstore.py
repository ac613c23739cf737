"""C-STORE SCU destination (pynetdicom): one association per batch, files sent as stored."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydicom.filereader import read_file_meta_info
from pynetdicom import AE
from pynetdicom.presentation import build_context

from veil.node.config import Destination
from veil.node.senders import OutItem, SendResult, failures

log = logging.getLogger("veil.node.senders.cstore")

# Statuses a storage SCP may answer that still mean "stored" (PS3.4 B.2.3 warnings).
_STORED = {0x0000, 0x0001, 0xB000, 0xB006, 0xB007}
MAX_CONTEXTS = 128  # PS3.8: at most 128 presentation contexts per association


class CStoreSender:
    def __init__(self, destination: Destination) -> None:
        self.name = destination.name
        self.destination = destination

    def send(self, items: Sequence[OutItem]) -> SendResult:
        count = max(1, min(self.destination.associations, len(items)))
        if count == 1:
            return self._send_serial(items)
        # Contiguous slices, one association each, in parallel.
        size = -(-len(items) // count)
        slices = [items[start : start + size] for start in range(0, len(items), size)]
        with ThreadPoolExecutor(len(slices), thread_name_prefix="veil-cstore") as pool:
            results = list(pool.map(self._send_serial, slices))
        delivered = tuple(key for result in results for key in result.delivered)
        problems = [result.problem for result in results if result.problem]
        return SendResult(delivered, problems[0] if problems else None)

    def _send_serial(self, items: Sequence[OutItem]) -> SendResult:
        delivered: list[int] = []
        pending = list(items)
        while pending:
            # Group so one association never needs more than 128 contexts.
            contexts: dict[tuple[str, str], None] = {}
            batch = []
            for item in pending:
                try:
                    meta = read_file_meta_info(item.path)
                except Exception:  # unreadable output: report, do not crash
                    return SendResult(
                        tuple(delivered), f"{self.name}: an output file is unreadable"
                    )
                pair = (str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID))
                if pair not in contexts and len(contexts) >= MAX_CONTEXTS:
                    break
                contexts[pair] = None
                batch.append(item)
            pending = pending[len(batch) :]
            problem = self._send_batch(batch, list(contexts), delivered)
            if problem is not None:
                return SendResult(tuple(delivered), problem)
        return SendResult(tuple(delivered))

    def _send_batch(
        self, batch: Sequence[OutItem], pairs: list[tuple[str, str]], delivered: list[int]
    ) -> str | None:
        d = self.destination
        ae = AE(ae_title=d.calling_ae_title)
        ae.acse_timeout = d.timeout_seconds
        ae.dimse_timeout = d.timeout_seconds
        ae.network_timeout = d.timeout_seconds
        ae.connection_timeout = d.timeout_seconds  # a host that drops packets: not forever
        # One context per (class, transfer syntax): an SCP accepts one syntax per context, so
        # a context proposing several would leave the files in the others unsendable.
        contexts = [build_context(sop_class, syntax) for sop_class, syntax in pairs]
        started = time.monotonic()
        assoc = ae.associate(d.host, d.port, contexts=contexts, ae_title=d.ae_title)
        if not assoc.is_established:
            why = failures.not_established(
                assoc, d.host, d.port, d.timeout_seconds, time.monotonic() - started, pairs
            )
            return f"{self.name}: {d.ae_title}@{d.host}:{d.port}: {why}"
        try:
            for item in batch:
                problem = self._store_one(assoc, item)
                if problem is not None:
                    return f"{self.name}: {problem}"
                delivered.append(item.key)
        finally:
            if assoc.is_established:
                assoc.release()
        return None

    def _store_one(self, assoc: Any, item: OutItem) -> str | None:
        """One C-STORE; None when stored, else what went wrong."""
        timeout = self.destination.timeout_seconds
        started = time.monotonic()
        try:
            status = assoc.send_c_store(item.path)
        except ValueError:  # pynetdicom: no accepted presentation context for this file
            meta = read_file_meta_info(item.path)
            return "the destination " + failures.no_context(
                str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)
            )
        except Exception as exc:
            return f"C-STORE failed ({type(exc).__name__})"
        code = getattr(status, "Status", None)
        if code is None:
            return failures.store_lost(assoc, time.monotonic() - started, timeout)
        if int(code) not in _STORED:
            return f"C-STORE refused with status {failures.status_meaning(int(code))}"
        return None
