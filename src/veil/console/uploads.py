"""Files arriving for a browser job: streamed to disk, resumable, bounded, never trusted.

Disk layout under ``<work_dir>/jobs`` (owner-only; every name is the job's random id or a
number the server gave, never anything the browser sent):

    <job id>/upload/<n>.part      a file still arriving (chunks written at their offset)
    <job id>/upload/<n>.dcm|.zip  a file received whole (a zip by its content, not its name)
    <job id>/out/...              the de-identified files, hierarchy layout
    <job id>/result.zip           what the download sends

A browser declares a file (its name, shown to its owner only and sealed in the database; and
its size), then sends chunks at the offset the server says it has: a chunk at any other offset
is refused with the offset to resume from, so a dropped connection, a reload or a second tab
never corrupts a file. Limits, each refusal naming the limit: the job's bytes
(``web.max_job_mb``), its input files, zip members counted (``web.max_job_files``), one
request (``web.max_chunk_mb``), what zip archives may expand to (4 times the job's bytes) and
by how much each member may expand (100 times beyond 32 MiB: a decompression bomb). Zip
members named ``../x`` or ``/x`` are refused when the job runs (their result says so); no
output is ever named after a member in any case (hierarchy layout).
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from veil.console.jobs import JobError, JobRow, JobState, JobStore, UploadRow, UploadState
from veil.io.limits import GIB, MIB, InputLimits
from veil.node.spool import exposed, inside, make_private_dirs

ZIP_MAGIC = b"PK\x03\x04"
_DISK_MARGIN = GIB  # room left on the disk after an upload is accepted
MAX_NAME = 1024


class UploadRefused(JobError):
    """An upload request that breaks a limit or the protocol; ``status`` is its HTTP status."""

    def __init__(self, message: str, status: int = 400, received: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.received = received  # where to resume, for an out-of-order chunk


@dataclass(frozen=True)
class UploadLimits:
    max_job_bytes: int
    max_job_files: int
    max_chunk_bytes: int

    @property
    def inputs(self) -> InputLimits:
        """What the job's inputs may cost when read (veil.io.inputs checks them)."""
        return InputLimits(
            max_file_bytes=min(4 * GIB, self.max_job_bytes * 4),
            max_archive_bytes=self.max_job_bytes * 4,
            max_members=self.max_job_files,
            max_ratio=100,
            ratio_floor_bytes=32 * MIB,
        )


class JobFolders:
    """The job folders on disk; paths from job ids (checked) and numbers only."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self) -> None:
        make_private_dirs(self.root)
        how = exposed(self.root)
        if how is not None:
            raise JobError(
                f"{self.root}: job folders hold originals and the folder is {how} by other "
                f"users; run `chmod -R go-rwx {self.root}`"
            )

    def folder(self, job_id: str) -> Path:
        return inside(self.root, self.root / job_id)

    def uploads(self, job_id: str) -> Path:
        return self.folder(job_id) / "upload"

    def upload(self, job_id: str, number: int, suffix: str) -> Path:
        return self.uploads(job_id) / f"{int(number)}.{suffix}"

    def out(self, job_id: str) -> Path:
        return self.folder(job_id) / "out"

    def result(self, job_id: str) -> Path:
        return self.folder(job_id) / "result.zip"

    def create(self, job_id: str) -> None:
        self.prepare()
        make_private_dirs(self.uploads(job_id))

    def remove(self, job_id: str) -> None:
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def remove_uploads(self, job_id: str) -> None:
        """The originals go as soon as the job has run: only de-identified files stay."""
        shutil.rmtree(self.uploads(job_id), ignore_errors=True)

    def free_bytes(self) -> int:
        self.prepare()
        return shutil.disk_usage(self.root).free


class Uploads:
    def __init__(self, jobs: JobStore, folders: JobFolders, limits: UploadLimits) -> None:
        self.jobs = jobs
        self.folders = folders
        self.limits = limits

    def _uploading(self, job: JobRow) -> None:
        if job.state is not JobState.UPLOADING:
            raise UploadRefused(f"the job is {job.state.value}: it takes no more files", 409)

    def declare(self, job: JobRow, name: str, size: int) -> int:
        """A new file of ``size`` bytes; its number. Refused beyond the job's limits."""
        self._uploading(job)
        if size < 0:
            raise UploadRefused("size must be zero or more bytes")
        files, total = self.jobs.totals(job.id)
        if files + 1 > self.limits.max_job_files:
            raise UploadRefused(
                f"a job takes at most {self.limits.max_job_files} files (web.max_job_files); "
                "start another job for the rest",
                413,
            )
        if total + size > self.limits.max_job_bytes:
            raise UploadRefused(
                f"this file would bring the job to {total + size} bytes, more than the limit of "
                f"{self.limits.max_job_bytes} bytes (web.max_job_mb); start another job",
                413,
            )
        if size + _DISK_MARGIN > self.folders.free_bytes():
            raise UploadRefused("not enough free disk space for this file on the console", 507)
        clean = "".join(c for c in name if c.isprintable())[:MAX_NAME] or "(no name)"
        number = self.jobs.add_upload(job.id, clean, size)
        self.folders.create(job.id)
        self.folders.upload(job.id, number, "part").touch(mode=0o600)
        return number

    def _part(self, job: JobRow, number: int) -> UploadRow:
        self._uploading(job)
        row = self.jobs.upload(job.id, number)
        if row is None:
            raise UploadRefused("no such file in this job", 404)
        if row.state is not UploadState.RECEIVING:
            raise UploadRefused(f"this file is {row.state.value} already", 409, row.received)
        return row

    async def chunk(
        self, job: JobRow, number: int, offset: int, body: AsyncIterator[bytes]
    ) -> UploadRow:
        """Write one request's body at ``offset`` (which must be where the file stands)."""
        row = self._part(job, number)
        if offset != row.received:
            raise UploadRefused(
                f"this file has {row.received} bytes; send from there", 409, row.received
            )
        writer = PartWriter(
            self.folders.upload(job.id, number, "part"),
            offset,
            min(self.limits.max_chunk_bytes, row.size - row.received),
            f"more bytes than the file declared, or than one request may carry "
            f"({self.limits.max_chunk_bytes} bytes, web.max_chunk_mb)",
        )
        try:
            async for data in body:
                writer.write(data)
        finally:
            writer.close()
        received = row.received + writer.written
        self.jobs.received(job.id, number, received)
        if received == row.size:
            return self.settle(job, number)
        found = self.jobs.upload(job.id, number)
        assert found is not None
        return found

    def whole(self, job: JobRow, name: str) -> WholeFile:
        """A sink for one file of unknown size (a multipart part from a script)."""
        self._uploading(job)
        _files, total = self.jobs.totals(job.id)
        room = self.limits.max_job_bytes - total
        if room <= 0:
            raise UploadRefused(
                f"the job has reached its limit of {self.limits.max_job_bytes} bytes "
                "(web.max_job_mb)",
                413,
            )
        number = self.declare(job, name, 0)
        writer = PartWriter(
            self.folders.upload(job.id, number, "part"),
            0,
            room,
            f"the job would hold more than {self.limits.max_job_bytes} bytes (web.max_job_mb)",
        )
        return WholeFile(self, job, number, writer)

    def settle(self, job: JobRow, number: int) -> UploadRow:
        """A file received whole: a zip (by its content) is checked against the limits."""
        part = self.folders.upload(job.id, number, "part")
        row = self.jobs.upload(job.id, number)
        if row is not None:
            os.truncate(part, row.received)  # bytes of an interrupted request beyond it go
        with part.open("rb") as handle:
            head = handle.read(4)
        kind, problem = "file", None
        if head == ZIP_MAGIC or (head[:2] == b"PK" and zipfile.is_zipfile(part)):
            kind = "zip"
            problem = self._zip_problem(job, part)
        target = self.folders.upload(job.id, number, "zip" if kind == "zip" else "dcm")
        if problem is None:
            os.replace(part, target)
            self.jobs.settle_upload(job.id, number, UploadState.COMPLETE, kind, None)
        else:
            part.unlink(missing_ok=True)  # refused: never read, not kept
            self.jobs.settle_upload(job.id, number, UploadState.REFUSED, kind, problem)
        found = self.jobs.upload(job.id, number)
        assert found is not None
        return found

    def _zip_problem(self, job: JobRow, path: Path) -> str | None:
        """Why a zip archive is refused as a whole (member-level problems are each member's
        result when the job runs), or None."""
        limits = self.limits.inputs
        try:
            with zipfile.ZipFile(path) as archive:
                members = [info for info in archive.infolist() if not info.is_dir()]
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            return f"a zip archive that cannot be opened ({type(exc).__name__})"
        files, _total = self.jobs.totals(job.id)
        if files - 1 + len(members) > self.limits.max_job_files:
            return (
                f"a zip archive of {len(members)} members: the job would hold more than "
                f"{self.limits.max_job_files} files (web.max_job_files)"
            )
        expanded = sum(info.file_size for info in members)
        if expanded > limits.max_archive_bytes:
            return (
                f"a zip archive that expands to {expanded} bytes, more than "
                f"{limits.max_archive_bytes} (4 times web.max_job_mb)"
            )
        return None


def unsafe_member(name: str) -> bool:
    """A member name that would leave a folder it were extracted to (zip slip)."""
    path = PurePosixPath(name.replace("\\", "/"))
    return path.is_absolute() or ".." in path.parts or not path.parts


class PartWriter:
    """Writes a stream into ``path`` from ``offset``; refuses (413, ``refusal``) beyond
    ``allowed`` bytes, and then keeps nothing of it. Memory: one network chunk at a time."""

    def __init__(self, path: Path, offset: int, allowed: int, refusal: str) -> None:
        self.offset = offset
        self.allowed = allowed
        self.refusal = refusal
        self.written = 0
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.lseek(self._fd, offset, os.SEEK_SET)

    def write(self, data: bytes) -> None:
        if self._fd is None or not data:
            return
        if self.written + len(data) > self.allowed:
            os.ftruncate(self._fd, self.offset)
            self.close()
            self.written = 0
            raise UploadRefused(self.refusal, 413)
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self.written += len(data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class WholeFile:
    """A multipart file part going to a job: written as it arrives, settled when it ends."""

    def __init__(self, uploads: Uploads, job: JobRow, number: int, writer: PartWriter) -> None:
        self.uploads, self.job, self.number, self.writer = uploads, job, number, writer
        self.result: UploadRow | None = None

    def write(self, data: bytes) -> None:
        try:
            self.writer.write(data)
        except UploadRefused:
            self.uploads.jobs.settle_upload(
                self.job.id, self.number, UploadState.REFUSED, "file", self.writer.refusal
            )
            raise

    def close(self) -> None:
        self.writer.close()
        jobs = self.uploads.jobs
        jobs.received(self.job.id, self.number, self.writer.written, size=self.writer.written)
        self.result = self.uploads.settle(self.job, self.number)


__all__ = [
    "JobFolders",
    "PartWriter",
    "UploadLimits",
    "UploadRefused",
    "Uploads",
    "WholeFile",
    "unsafe_member",
]
