"""Finding the input files: files, folders (recursive) and zip archives, within bounds.

Whatever is under an input folder is looked at without ever blocking or following a loop: only
regular files are read (a FIFO, a device or a socket is reported and skipped, so a link to
/dev/zero cannot hang or fill memory), links to folders are followed unless they lead back to
a folder being walked, and a folder that cannot be read is reported. Zip archives are checked
against `InputLimits` (members, sizes, expansion) before a byte is decompressed, and a member
whose name would escape the output folder (`../x`, `/x`) is reported, never written.

Every such problem becomes an `InputItem` with a ``problem``: commands report it like any
unreadable file (naming the path and the problem) and exit 1. Nothing is skipped silently.
"""

from __future__ import annotations

import errno
import os
import stat
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from veil.errors import InputFileError, UnsafeOutputError
from veil.io.limits import DEFAULT_LIMITS, InputLimits


@dataclass(frozen=True)
class InputItem:
    """One input file: where it is, how to show it, and where its mirror output goes."""

    display: str  # the path as the user would recognise it
    relative: str  # the relative path under the output folder (mirror layout)
    path: str  # the file on disk (or the zip archive)
    member: str | None = None  # the member name inside a zip archive
    size: int = 0
    problem: str | None = None  # set: this input cannot be read, and why
    max_bytes: int = DEFAULT_LIMITS.max_file_bytes

    def read(self) -> bytes:
        """The file's bytes; InputFileError (naming the file) when it cannot or may not be read."""
        if self.problem is not None:
            raise InputFileError(self.display, self.problem)
        if self.member is None:
            return read_regular_file(self.path, self.display, self.max_bytes)
        try:
            with zipfile.ZipFile(self.path) as archive, archive.open(self.member) as handle:
                data = handle.read(self.max_bytes + 1)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as exc:
            raise InputFileError(
                self.display, f"a zip member that cannot be read ({type(exc).__name__})"
            ) from None
        if len(data) > self.max_bytes:
            raise InputFileError(self.display, f"larger than the limit of {self.max_bytes} bytes")
        return data


def _kind(mode: int) -> str | None:
    """What a non-regular, non-folder file is, in words; None for regular files and folders."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_regular_file(path: str, display: str, max_bytes: int) -> bytes:
    """Read a regular file of at most ``max_bytes``; never blocks on a FIFO or device.

    The checks are made on the open descriptor, so a file swapped for a FIFO between listing
    and reading is refused too (O_NONBLOCK keeps the open itself from waiting for a writer).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except PermissionError:
        raise InputFileError(display, "unreadable: permission denied") from None
    except OSError as exc:
        raise InputFileError(display, _os_problem(exc)) from None
    try:
        info = os.fstat(fd)
        kind = _kind(info.st_mode)
        if stat.S_ISDIR(info.st_mode):
            raise InputFileError(display, "is a directory, not a file")
        if kind is not None:
            raise InputFileError(display, f"{kind}, not a regular file: skipped")
        if info.st_size > max_bytes:
            raise InputFileError(
                display, f"file too large ({info.st_size} bytes > limit {max_bytes})"
            )
        data = _read_fd(fd, info.st_size, max_bytes + 1)
    except OSError as exc:
        raise InputFileError(display, _os_problem(exc)) from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:  # grew while being read
        raise InputFileError(display, f"file too large (more than {max_bytes} bytes)")
    return data


def _read_fd(fd: int, size: int, limit: int) -> bytes:
    """At most ``limit`` bytes of ``fd``, read with buffers of the size ``fstat`` gave (plus
    one byte, to see the end): a buffered ``read(limit)`` first allocates ``limit`` bytes
    (4 GiB by default), which cost five times the read itself (measured, issue 12)."""
    parts: list[bytes] = []
    total = 0
    want = min(size + 1, limit)
    while total < limit:
        chunk = os.read(fd, min(max(want - total, 1 << 20), limit - total))
        if not chunk:
            break
        parts.append(chunk)
        total += len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _os_problem(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "unreadable: a symbolic link loop (the link leads back to itself)"
    if exc.errno == errno.ENOENT and exc.filename and os.path.islink(exc.filename):
        return "unreadable: a broken symbolic link"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "unreadable: permission denied"
    return f"unreadable ({exc.strerror or type(exc).__name__})"


# veil's own bookkeeping inside an output folder (`veil deid`'s run stamp and series claims,
# a cluster run's manifests): not inputs. Reading such a folder again (`veil check OUT`,
# `veil audit OUT`, a second `veil deid`) would otherwise list them as skipped non-DICOM files.
BOOKKEEPING = {".veil": "deid.json", "_veil": "run.json"}


def _is_bookkeeping(path: Path) -> bool:
    marker = BOOKKEEPING.get(path.name)
    return marker is not None and path.is_dir() and (path / marker).is_file()


class _Walk:
    def __init__(self, limits: InputLimits) -> None:
        self.limits = limits

    def problem(self, path: Path, relative: str, problem: str) -> InputItem:
        return InputItem(
            str(path), relative, str(path), None, 0, problem, self.limits.max_file_bytes
        )

    def entry(
        self, path: Path, rel: str, prefix: str, ancestors: frozenset[tuple[int, int]]
    ) -> Iterator[InputItem]:
        """One path found in a folder (or given on the command line); ``rel`` is its path
        under the input, ``prefix`` what comes before it under the output folder."""
        relative = prefix + rel
        try:
            info = path.stat()  # follows links: what matters is what the link leads to
        except OSError as exc:
            yield self.problem(path, relative, _os_problem(exc))
            return
        if stat.S_ISDIR(info.st_mode):
            if (info.st_dev, info.st_ino) in ancestors:
                yield self.problem(
                    path, relative, "a symbolic link loop (leads back to a folder being read)"
                )
                return
            yield from self.folder(path, rel, prefix, ancestors)
            return
        kind = _kind(info.st_mode)
        if kind is not None:
            yield self.problem(path, relative, f"{kind}, not a regular file: skipped")
            return
        if path.name.lower().endswith(".zip") and zipfile.is_zipfile(path):
            yield from self.archive(path, f"{prefix}{rel[:-4]}/")
            return
        yield InputItem(
            str(path), relative, str(path), None, info.st_size, None, self.limits.max_file_bytes
        )

    def folder(
        self, root: Path, rel: str, prefix: str, ancestors: frozenset[tuple[int, int]]
    ) -> Iterator[InputItem]:
        try:
            info = root.stat()
            names = sorted(os.listdir(root))
        except OSError as exc:
            problem = f"a folder that cannot be read ({_os_problem(exc)})"
            yield self.problem(root, prefix + rel, problem)
            return
        inside = ancestors | {(info.st_dev, info.st_ino)}
        for name in names:
            path = root / name
            # One path an entry, not two: listing 4,120 files took 45-47 ms, now 38-40 (issue 12).
            if name in BOOKKEEPING and _is_bookkeeping(path):
                continue
            yield from self.entry(path, f"{rel}/{name}" if rel else name, prefix, inside)

    def archive(self, path: Path, prefix: str) -> Iterator[InputItem]:
        limits = self.limits
        try:
            with zipfile.ZipFile(path) as archive:
                members = [info for info in archive.infolist() if not info.is_dir()]
        except (zipfile.BadZipFile, OSError) as exc:
            unreadable = f"a zip archive that cannot be opened ({type(exc).__name__})"
            yield self.problem(path, prefix, unreadable)
            return
        whole = limits.archive_problem(len(members), sum(info.file_size for info in members))
        if whole is not None:
            yield self.problem(path, prefix, whole)
            return
        for info in sorted(members, key=lambda i: i.filename):
            display = f"{path}!{info.filename}"
            name = PurePosixPath(info.filename.replace("\\", "/"))
            problem: str | None = None
            if name.is_absolute() or ".." in name.parts or not name.parts:
                # Never let a member escape the output folder (zip slip).
                problem = "a zip member whose name leaves the archive ('..' or absolute): skipped"
            else:
                problem = limits.member_problem(info.file_size, info.compress_size)
            yield InputItem(
                display,
                prefix + name.as_posix(),
                str(path),
                info.filename,
                info.file_size,
                problem,
                limits.max_file_bytes,
            )


def iter_inputs(
    inputs: Sequence[str | Path], limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[InputItem]:
    """Every file under the inputs, in a stable order; missing inputs raise InputFileError.

    Inputs that cannot be read (FIFOs, devices, loops, unreadable folders, unsafe or oversized
    archive members) come as items with a ``problem``, for the command to report.
    """
    walk = _Walk(limits)
    for raw in inputs:
        path = Path(raw)
        if not os.path.lexists(path):
            raise InputFileError(str(path), "no such file or folder")
        if path.is_dir():
            prefix = f"{path.resolve().name}/" if len(inputs) > 1 else ""
            yield from walk.folder(path, "", prefix, frozenset())
        else:
            yield from walk.entry(path, path.name, "", frozenset())


def check_output_location(inputs: Sequence[str | Path], out: Path) -> None:
    """Refuse an output folder that is, contains, or sits inside an input."""
    out_resolved = out.resolve()
    for raw in inputs:
        source = Path(raw).resolve()
        if out_resolved == source:
            raise UnsafeOutputError(f"{out}: the output folder is the input; choose another --out")
        if source.is_dir() and out_resolved.is_relative_to(source):
            raise UnsafeOutputError(
                f"{out}: the output folder is inside the input {raw}; choose a folder outside it"
            )
        if source.is_relative_to(out_resolved):
            raise UnsafeOutputError(
                f"{out}: the output folder contains the input {raw}; "
                "veil never writes over its input"
            )
