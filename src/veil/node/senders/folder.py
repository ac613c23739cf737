"""Folder destination: <folder>/<StudyInstanceUID>/<SOPInstanceUID>.dcm, written atomically.

The names come from the dataset (de-identified UIDs going out; original UIDs coming home on the
return path), so each must be a valid UID (`veil.node.uids`) and the resolved path must lie
inside the folder; anything else is refused, never written. Folders are created owner-only.
"""

from __future__ import annotations

from collections.abc import Sequence

from veil.io.atomic import write_atomic
from veil.node.config import Destination, NodeConfigError
from veil.node.senders import OutItem, SendResult
from veil.node.spool import PathOutsideSpoolError, inside, make_private_dirs
from veil.node.uids import valid_uid


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
            make_private_dirs(tmp)
            for item in items:
                if not (valid_uid(item.study_uid) and valid_uid(item.sop_uid)):
                    return SendResult(
                        tuple(delivered),
                        f"{self.name}: refused to name a file by a Study or SOP Instance UID "
                        "that is not a valid UID",
                        failed=(item.key,),
                    )
                # Same name for the same de-identified instance: a resend overwrites, never adds.
                target = inside(self.root, self.root / item.study_uid / f"{item.sop_uid}.dcm")
                make_private_dirs(target.parent)
                write_atomic(target, item.path.read_bytes(), durable=True, tmp_dir=tmp)
                delivered.append(item.key)
        except PathOutsideSpoolError:
            return SendResult(tuple(delivered), f"{self.name}: refused a path outside the folder")
        except OSError as exc:
            return SendResult(
                tuple(delivered),
                f"{self.name}: cannot write to the folder ({exc.strerror or type(exc).__name__})",
            )
        return SendResult(tuple(delivered))
