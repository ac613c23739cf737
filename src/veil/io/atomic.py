"""Writing a file whole or not at all: the one helper for every file veil writes.

``write_atomic(target, data)`` writes to a temporary file in the same file system (``tmp_dir``,
else the target's folder) and renames it over ``target``: a reader sees the old file or the
new one, never a part, and a crash leaves at most a ``.veil-*.part`` file, never a truncated
target. Files are created owner-only (0600): de-identified data is still patient data.

With ``durable=True`` the write also survives a power loss once the call returns: the file
is fsynced before the rename and its folder after it. The node's spool needs that (a sender is
answered only after), and so do the node's folder destinations; a batch output or a report,
which can be written again from its inputs, does not pay for it (measured: see
benchmarks/RESULTS.md, "atomic writes").
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename or creation in ``path`` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(
    target: Path, data: bytes, *, durable: bool = False, tmp_dir: Path | None = None
) -> None:
    """Write ``data`` to ``target`` whole or not at all (and, ``durable``, crash-safe)."""
    fd, temp = _temporary(target, tmp_dir)
    try:
        try:
            _write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(target.parent)


def _write_all(fd: int, data: bytes) -> None:
    """All of ``data`` to ``fd`` (a write may take only part of it)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _temporary(target: Path, tmp_dir: Path | None) -> tuple[int, str]:
    """A new owner-only temporary file next to ``target`` (or in ``tmp_dir``); the target's
    folder is made only when it is missing (a batch writes thousands of files into a few
    folders: a mkdir and a stat per file cost more than the write, measured in issue 12)."""
    if tmp_dir is not None:  # the rename needs the target's folder: make sure of it first
        target.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=".veil-", suffix=".part", dir=tmp_dir)
    try:
        return tempfile.mkstemp(prefix=".veil-", suffix=".part", dir=target.parent)
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=".veil-", suffix=".part", dir=target.parent)


def write_new(target: Path, data: bytes, *, tmp_dir: Path | None = None) -> None:
    """Write ``data`` to ``target`` whole, only if ``target`` does not exist yet.

    FileExistsError when it does. The name is claimed atomically (a hard link of a complete
    temporary file), so two processes racing for one name never both win, and a reader never
    sees a part. Where the file system has no hard links, an exclusive create is used instead.
    """
    fd, temp = _temporary(target, tmp_dir)
    try:
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        try:
            os.link(temp, target)
        except FileExistsError:
            raise
        except OSError:  # no hard links here (some network or FUSE file systems)
            _write_exclusive(target, data)
    finally:
        Path(temp).unlink(missing_ok=True)


def _write_exclusive(target: Path, data: bytes) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)
