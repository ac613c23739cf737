"""Where a `veil deid` run writes: an output folder, or one zip archive (``--out case.zip``).

A zip run writes its files into a private staging folder next to the archive (same file
system), checks them there like any output, then publishes the archive in one step
(`veil.io.zip_out.write_zip_new`) and removes the staging folder, whatever happened.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from veil.batch.outcome import FileRecord
from veil.batch.output_stamp import OutputStamp, differences, read_stamp, write_stamp
from veil.errors import UnsafeOutputError
from veil.io.zip_out import refuse_existing, write_zip_new
from veil.pipeline import Outcome


def is_zip_target(out: Path) -> bool:
    return out.suffix.lower() == ".zip"


@dataclass
class OutputTarget:
    """The folder the workers write to, and the archive it becomes (zip runs)."""

    out: Path  # what the user named: a folder or a .zip
    folder: Path = field(init=False)  # where the files are written
    _staging: Path | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.folder = self.out

    @property
    def is_zip(self) -> bool:
        return is_zip_target(self.out)

    def open(self) -> None:
        """Create the folder (or the staging folder of an archive)."""
        if self.is_zip:
            refuse_existing(self.out)
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self._staging = Path(tempfile.mkdtemp(prefix=".veil-staging-", dir=self.out.parent))
            self.folder = self._staging
        else:
            if self.out.exists() and not self.out.is_dir():
                raise UnsafeOutputError(f"{self.out}: exists and is not a folder")
            self.out.mkdir(parents=True, exist_ok=True)

    def publish(self, records: Iterable[FileRecord]) -> int | None:
        """Zip runs: write the archive of every written file; its size. Folders, or a run
        that wrote nothing (no empty archive to send by mistake): None."""
        if not self.is_zip:
            return None
        members = sorted(
            (r.output, self.folder / r.output)
            for r in records
            if r.outcome is Outcome.WRITTEN and r.output
        )
        if not members:
            return None
        try:
            return write_zip_new(self.out, members)
        except FileExistsError:
            raise UnsafeOutputError(
                f"{self.out}: appeared while veil was writing; nothing was replaced, choose a "
                "new name"
            ) from None

    def close(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None


def stamp_conflicts(out: Path, stamp: OutputStamp) -> list[str]:
    """How an existing output folder's earlier run differs from this one (empty: same)."""
    if not out.is_dir():
        return []
    before = read_stamp(out)
    return differences(before, stamp) if before is not None else []


def record_stamp(target: OutputTarget, stamp: OutputStamp) -> None:
    if not target.is_zip:
        write_stamp(target.folder, stamp)
