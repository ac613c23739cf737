"""The file a session is trying in the Privacy studio: one per session, gone with the session.

Layout under ``<work_dir>/samples`` (owner-only, 0700 folders and 0600 files; no name comes
from the request):

    <session digest>/sample.dcm     the file, as uploaded or copied from the spool
    <session digest>/source.json    where it came from ("an uploaded file", "spool: study K")

A sample is an original: it is deleted at sign-out, and the folders of sessions that ended
(expired, signed out elsewhere, the console restarted after a crash) are swept away whenever
samples are touched and by the console's housekeeping. The file's own name is never kept: it
may identify the patient.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from veil.errors import VeilError
from veil.io.atomic import write_atomic
from veil.node.spool import exposed, inside, make_private_dirs

_DIGEST = re.compile(r"^[0-9a-f]{64}$")


class SampleError(VeilError):
    """A sample cannot be stored; the message says why (never the file's content)."""


@dataclass(frozen=True)
class Sample:
    data: bytes
    source: str  # in words, for the page: never the file's name
    study: str | None  # the spool study it came from (a study key), if any
    stored_at: float


class SampleStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def _folder(self, digest: str) -> Path:
        if not _DIGEST.match(digest):  # a session digest is 64 hex characters, nothing else
            raise SampleError("not a session")
        return inside(self.root, self.root / digest)

    def prepare(self) -> None:
        make_private_dirs(self.root)
        how = exposed(self.root)
        if how is not None:
            raise SampleError(
                f"{self.root}: samples are originals and the folder is {how} by other users; "
                f"run `chmod -R go-rwx {self.root}`"
            )

    def put(self, digest: str, data: bytes, source: str, study: str | None = None) -> None:
        if len(data) > self.max_bytes:
            raise SampleError(
                f"the file is {len(data)} bytes, more than the sample limit of "
                f"{self.max_bytes} bytes (web.max_sample_mb)"
            )
        self.prepare()
        folder = self._folder(digest)
        make_private_dirs(folder)
        write_atomic(folder / "sample.dcm", data)
        meta = {"source": source, "study": study, "stored_at": time.time()}
        write_atomic(folder / "source.json", json.dumps(meta).encode("utf-8"))

    def get(self, digest: str) -> Sample | None:
        folder = self._folder(digest)
        try:
            data = (folder / "sample.dcm").read_bytes()
            meta = json.loads((folder / "source.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return Sample(data, str(meta.get("source", "")), meta.get("study"), meta["stored_at"])

    def discard(self, digest: str) -> None:
        """Delete the session's sample (sign-out)."""
        shutil.rmtree(self._folder(digest), ignore_errors=True)

    def sweep(self, live: set[str]) -> int:
        """Delete the samples of every session not in ``live``; how many were deleted."""
        if not self.root.is_dir():
            return 0
        gone = 0
        for entry in self.root.iterdir():
            if entry.name not in live:
                shutil.rmtree(inside(self.root, entry), ignore_errors=True)
                gone += 1
        return gone


__all__ = ["Sample", "SampleError", "SampleStore"]
