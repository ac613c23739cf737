"""DICOMweb STOW-RS destination (dicomweb-client), in batches of a few instances."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydicom import dcmread
from requests import Session

from veil.node.config import Destination
from veil.node.senders import OutItem, SendResult

BATCH = 20  # instances per STOW-RS request: small enough to keep requests under ~100 MB


class _TimeoutSession(Session):
    """requests has no session-wide timeout and dicomweb-client passes none: without one a
    silent server would hold a worker forever."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


class StowSender:
    def __init__(self, destination: Destination) -> None:
        from dicomweb_client.api import DICOMwebClient

        self.name = destination.name
        session = _TimeoutSession(destination.timeout_seconds)
        if destination.username is not None:
            session.auth = (destination.username, destination.password or "")
        self.client = DICOMwebClient(url=destination.url, session=session)
        # The node retries with its own backoff and records why; the client's own retries
        # (minutes of exponential waits) would hide failures and hold a worker.
        self.client.set_http_retry_params(retry=False)

    def send(self, items: Sequence[OutItem]) -> SendResult:
        delivered: list[int] = []
        for start in range(0, len(items), BATCH):
            batch = items[start : start + BATCH]
            try:
                datasets = [dcmread(item.path) for item in batch]
                self.client.store_instances(datasets)
            except Exception as exc:
                status = getattr(getattr(exc, "response", None), "status_code", None)
                detail = f"HTTP {status}" if status else type(exc).__name__
                return SendResult(tuple(delivered), f"{self.name}: STOW-RS failed ({detail})")
            delivered.extend(item.key for item in batch)
        return SendResult(tuple(delivered))
