"""Destinations for de-identified studies (and re-identified results): folder, C-STORE, STOW-RS.

A sender gets a batch of files already on disk and answers which of them the destination
accepted; the caller records those deliveries, so after a crash only the rest is sent again.
Resending is harmless: the de-identified UIDs are the same every time, and a PACS stores an
instance with a known SOP Instance UID once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from veil.node.config import Destination, DestinationKind


@dataclass(frozen=True)
class OutItem:
    """One file to deliver; ``key`` is the caller's handle (an instance row id)."""

    key: int
    path: Path
    study_uid: str  # as it leaves (de-identified, or original on the return path)
    sop_uid: str


@dataclass(frozen=True)
class SendResult:
    delivered: tuple[int, ...] = ()
    problem: str | None = None  # why the rest was not delivered (no identifying value)
    failed: tuple[int, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.problem is None


class Sender(Protocol):
    name: str

    def send(self, items: Sequence[OutItem]) -> SendResult: ...


def make_sender(destination: Destination) -> Sender:
    if destination.kind is DestinationKind.FOLDER:
        from veil.node.senders.folder import FolderSender

        return FolderSender(destination)
    if destination.kind is DestinationKind.CSTORE:
        from veil.node.senders.cstore import CStoreSender

        return CStoreSender(destination)
    from veil.node.senders.stowrs import StowSender

    return StowSender(destination)
