"""Where de-identified files go: a local folder (temp file + rename through
`veil.io.atomic.write_atomic`) or an object store (one conditional PUT).

Both give the same guarantee: a reader never sees half a file, and an existing output is only
accepted when it holds exactly the bytes we would write (a re-run, or a task that Dask ran
twice; outputs are deterministic). Anything else raises FileExistsError(relative), which the
batch reports as "exists with different content" - as it always has on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from veil.io.atomic import write_atomic
from veil.io.storage import Store


def inside(relative: str) -> str:
    """``relative`` if it stays under the root, else PermissionError (invariant 9)."""
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or any(p in ("..", ".") for p in parts):
        raise PermissionError(13, "the output name would leave the output folder", relative)
    return relative


class Sink(Protocol):
    """Places one output file under a root; raises FileExistsError or OSError."""

    def place(self, relative: str, data: bytes, overwrite: bool) -> str: ...


@dataclass(frozen=True)
class LocalSink:
    """A folder on a local or shared (NFS) disk.

    ``temp_dir``: where temporary files are made (same filesystem as ``root``, so the rename is
    atomic). The cluster runner gives each group its own, emptied when the group starts again
    after a lost worker, so a kill during a write leaves nothing behind under the output tree.
    """

    root: Path
    temp_dir: Path | None = None

    def place(self, relative: str, data: bytes, overwrite: bool) -> str:
        target = self.root / inside(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists() and not overwrite:
            if target.stat().st_size == len(data) and target.read_bytes() == data:
                return relative  # the same input written before: idempotent
            raise FileExistsError(relative)
        if self.temp_dir is not None:
            self.temp_dir.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data, tmp_dir=self.temp_dir)
        return relative


@dataclass(frozen=True)
class ObjectSink:
    """A prefix in an object store: one conditional PUT per object, digest in its metadata."""

    store: Store

    def place(self, relative: str, data: bytes, overwrite: bool) -> str:
        inside(relative)
        if overwrite:
            self.store.put(relative, data)
        else:
            self.store.put_new(relative, data)
        return relative
