"""The durable spool: every received instance is on disk (fsync + atomic rename) before the
sender hears success.

Layout under the spool root (names are keyed hashes, never UIDs of the input):
  tmp/                      partial writes; emptied at start (never acknowledged)
  incoming/<study>/<sop>.dcm  received instances
  out/<study>/<sop>.dcm       de-identified instances waiting to be sent
  return/<id>.dcm             results received on the return path
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

from veil.io.atomic import fsync_dir, write_atomic


def name_hash(value: str) -> str:
    """A stable file name for a UID that does not show the UID."""
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:32]


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.incoming = root / "incoming"
        self.out = root / "out"
        self.returned = root / "return"

    def prepare(self) -> None:
        """Create the folders and drop partial writes left by a crash."""
        for folder in (self.tmp, self.incoming, self.out, self.returned):
            folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.tmp.iterdir():
            leftover.unlink(missing_ok=True)
        fsync_dir(self.root)

    def incoming_path(self, study_key: str, sop_uid: str) -> Path:
        return self.incoming / study_key / f"{name_hash(sop_uid)}.dcm"

    def return_path(self, received_uid: str) -> Path:
        return self.returned / f"{name_hash(received_uid)}-{uuid.uuid4().hex[:8]}.dcm"

    def store(self, target: Path, data: bytes) -> None:
        write_atomic(target, data, durable=True, tmp_dir=self.tmp)

    def incoming_files(self) -> Iterator[tuple[str, Path]]:
        """(study key, path) of every received file, for recovery at start."""
        for study_dir in sorted(self.incoming.iterdir()):
            if study_dir.is_dir():
                for path in sorted(study_dir.glob("*.dcm")):
                    yield study_dir.name, path

    def return_files(self) -> Iterator[Path]:
        yield from sorted(self.returned.glob("*.dcm"))
