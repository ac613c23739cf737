"""DICOMweb STOW-RS destination (dicomweb-client), in batches of a few instances."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from pydicom import dcmread
from requests import Session

from veil.node.config import Destination
from veil.node.senders import OutItem, SendResult, failures

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
        parts = urlsplit(destination.url)
        self.where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
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
                answer = self.client.store_instances(datasets)
            except Exception as exc:
                detail = failures.http_problem(exc, self.where)
                return SendResult(tuple(delivered), f"{self.name}: STOW-RS failed ({detail})")
            # 202 Accepted may refuse some instances (PS3.18 10.5.3): those are not delivered.
            refused = _refused(answer)
            delivered.extend(item.key for item in batch if item.sop_uid not in refused)
            if refused:
                reasons = ", ".join(
                    failures.status_meaning(c) for c in sorted(set(refused.values()))
                )
                return SendResult(
                    tuple(delivered),
                    f"{self.name}: STOW-RS: the destination refused {len(refused)} of "
                    f"{len(batch)} instance(s) ({reasons})",
                )
        return SendResult(tuple(delivered))


def _refused(answer: Any) -> dict[str, int]:
    """SOP Instance UID -> failure reason of each instance the STOW-RS response refuses."""
    refused: dict[str, int] = {}
    for item in getattr(answer, "FailedSOPSequence", None) or ():
        uid = str(item.get("ReferencedSOPInstanceUID", "") or "")
        reason = item.get("FailureReason", 0xC000)
        refused[uid] = int(reason) if isinstance(reason, int) else 0xC000
    return refused
