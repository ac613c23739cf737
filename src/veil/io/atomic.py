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

``write_new(target, data)`` claims a name that must not exist yet. On Linux the file is made
without any name (``O_TMPFILE``), written, and then given its name by a hard link through
``/proc/self/fd``: the name appears with the whole file behind it or not at all, and there is
no temporary name to make random, remove afterwards or leave behind after a crash. Where that
is not available (another system, a file system without ``O_TMPFILE``, no ``/proc``) a named
temporary file is linked instead, as ``write_atomic`` makes it.
"""

from __future__ import annotations

import errno
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


def _temporary(target: Path, tmp_dir: Path | None, make: bool = True) -> tuple[int, str]:
    """A new owner-only temporary file next to ``target`` (or in ``tmp_dir``); the target's
    folder is made only when it is missing (a batch writes thousands of files into a few
    folders: a mkdir and a stat per file cost more than the write, measured in issue 12),
    and not at all without ``make``."""
    if tmp_dir is not None:  # the rename needs the target's folder: make sure of it first
        if make:
            target.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=".veil-", suffix=".part", dir=tmp_dir)
    try:
        return tempfile.mkstemp(prefix=".veil-", suffix=".part", dir=target.parent)
    except FileNotFoundError:
        if not make:
            raise
        target.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=".veil-", suffix=".part", dir=target.parent)


def write_new(
    target: Path | str, data: bytes, *, tmp_dir: Path | None = None, make_folder: bool = True
) -> None:
    """Write ``data`` to ``target`` whole, only if ``target`` does not exist yet.

    FileExistsError when it does. The name is claimed atomically (a hard link of a complete
    file), so two processes racing for one name never both win, and a reader never sees a
    part. Where the file system has no hard links, an exclusive create is used instead.
    ``tmp_dir``: where the file is made before it gets its name (same file system).
    The target's folder is made when missing; with ``make_folder=False`` a missing folder
    is FileNotFoundError instead (a caller that knows the folder exists saves a stat).
    """
    if _ANONYMOUS.usable and _write_anonymous(os.fspath(target), data, tmp_dir, make_folder):
        return
    target = Path(target)
    fd, temp = _temporary(target, tmp_dir, make_folder)
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


class _Anonymous:
    """Whether this process makes files without a name (``O_TMPFILE``), and its handle on
    ``/proc``. The handle is opened once: the link names ``self/fd/N`` under it, which the
    kernel looks up in the calling process, so a forked worker uses the same handle rightly.
    A link through ``/proc/self/fd/N`` itself fails (``os.link`` then calls ``link``, which
    does not follow the magic link: EXDEV); ``linkat`` with a folder handle follows it.
    Once the route fails for any reason but a taken name or a missing folder, the process
    keeps to the named route (always right, only slower)."""

    def __init__(self) -> None:
        self.usable = hasattr(os, "O_TMPFILE")
        self._proc: int | None = None

    def proc(self) -> int | None:
        if self._proc is None:
            try:
                self._proc = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
            except OSError:  # no /proc (a container without it, another system)
                self.usable = False
        return self._proc


_ANONYMOUS = _Anonymous()
# What os.open(folder, O_TMPFILE) fails with where the kernel or the file system lacks it.
_NO_TMPFILE = frozenset({errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOSYS})


def _write_anonymous(target: str, data: bytes, tmp_dir: Path | None, make: bool) -> bool:
    """``write_new`` by a file without a name, given one by ``linkat``: True when written;
    False when this route is not available here (the caller takes the named route).

    Measured in issue 12 (benchmarks/RESULTS.md, "Placing outputs"): ~20 us less CPU per
    output than the named route's mkstemp, link and unlink (on tmpfs, where the file
    system's own cost does not hide it)."""
    proc = _ANONYMOUS.proc()
    if proc is None:
        return False
    try:
        if tmp_dir is None:
            fd = _open_anonymous(os.path.dirname(target), make)
        else:
            fd = _open_anonymous(tmp_dir, make=False)  # a tmp_dir is the caller's to make
    except OSError as exc:
        if exc.errno not in _NO_TMPFILE:
            raise
        _ANONYMOUS.usable = False  # this kernel or file system has no O_TMPFILE
        return False
    try:
        _write_all(fd, data)
        if _link_anonymous(proc, fd, target, make):
            return True
    finally:
        os.close(fd)
    _ANONYMOUS.usable = False  # e.g. no hard links here, or /proc is not what it seems
    return False


def _open_anonymous(folder: str | Path, make: bool) -> int:
    """A new owner-only file without a name in ``folder``; with ``make`` the folder is made
    when it is missing (as `_temporary` does)."""
    try:
        return os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600)
    except FileNotFoundError:
        if not make:
            raise
        os.makedirs(folder, exist_ok=True)
        return os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600)


def _link_anonymous(proc: int, fd: int, target: str, make: bool) -> bool:
    """Give the open file ``fd`` the name ``target`` (True); FileExistsError when the name is
    taken, FileNotFoundError when its folder is missing and not to be made; False when the
    file cannot be linked so (the named route decides)."""
    source = f"self/fd/{fd}"
    for attempt in (1, 2):
        try:
            os.link(source, target, src_dir_fd=proc, follow_symlinks=True)
            return True
        except FileExistsError:
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), target) from None
        except FileNotFoundError:
            folder = os.path.dirname(target)
            if attempt == 2 or os.path.isdir(folder):
                return False  # the folder is there: /proc is not what it seems
            if not make:
                raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), folder) from None
            os.makedirs(folder, exist_ok=True)
        except OSError:  # no hard links here (EPERM...), a bad handle...
            return False
    return False


def _write_exclusive(target: Path, data: bytes) -> None:
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)
