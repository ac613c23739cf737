"""Folder destination: <folder>/<StudyInstanceUID>/<SOPInstanceUID>.dcm, written atomically."""

from __future__ import annotations

from collections.abc import Sequence

from veil.io.atomic import write_atomic
from veil.node.config import Destination, NodeConfigError
from veil.node.senders import OutItem, SendResult


class FolderSender:
    def __init__(self, destination: Destination) -> None:
        if destination.path is None:  # the config reader requires it; a caller may not
            raise NodeConfigError(f"destination {destination.name}: a folder needs a path")
        self.name = destination.name
        self.root = destination.path

    def send(self, items: Sequence[OutItem]) -> SendResult:
        tmp = self.root / ".veil-tmp"
        delivered: list[int] = []
        try:
            tmp.mkdir(parents=True, exist_ok=True)
            for item in items:
                # Same name for the same de-identified instance: a resend overwrites, never adds.
                target = self.root / item.study_uid / f"{item.sop_uid}.dcm"
                write_atomic(target, item.path.read_bytes(), durable=True, tmp_dir=tmp)
                delivered.append(item.key)
        except OSError as exc:
            return SendResult(
                tuple(delivered),
                f"{self.name}: cannot write to the folder ({exc.strerror or type(exc).__name__})",
            )
        return SendResult(tuple(delivered))
