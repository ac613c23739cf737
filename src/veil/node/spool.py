"""The durable spool: every received instance is on disk (fsync + atomic rename) before the
sender hears success.

Layout under the spool root (every name is a keyed digest or a random token, never a value
that was received or that the de-identification kept):
  tmp/                          partial writes and datasets being received; emptied at start
  incoming/<study>/<sop>-<content>.dcm
                                received instances (<study>: the study key, <sop>: a keyed
                                digest of the received SOP Instance UID, <content>: a keyed
                                digest of the file's content, so that a new version of an
                                instance never overwrites the one being processed; files
                                from before versions are named <sop>.dcm)
  out/<study>/<sop>.dcm         de-identified instances waiting to be sent (<sop>: a keyed
                                digest of the de-identified SOP Instance UID, which is the
                                original one under retain-uids)
  return/<digest>-<random>.dcm  results received on the return path
  return/home/<same name>       a result re-identified, on its way home

The spool holds original images: it is created owner-only (0700 folders, 0600 files) and the
node refuses to start on a spool that others can read or write. Every path is resolved and
checked to lie inside the spool before it is used (`PathOutsideSpoolError` otherwise), so even
a name from the database cannot lead elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

from veil.errors import VeilError
from veil.io.atomic import fsync_dir, write_atomic
from veil.mapping import Mapper

FOLDER_MODE = 0o700
FILE_MODE = 0o600


class SpoolError(VeilError):
    """The spool cannot be used safely; the message says how to fix it."""


class PathOutsideSpoolError(SpoolError):
    """A path the node was about to use does not lie inside its folder (never followed)."""


def make_private_dirs(path: Path) -> None:
    """Create ``path`` and missing parents owner-only (0700), whatever the umask."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:
            continue
        folder.chmod(FOLDER_MODE)  # mkdir's mode is masked by the umask


def inside(root: Path, path: Path) -> Path:
    """``path`` made absolute and normalised, if it lies inside ``root``; else
    PathOutsideSpoolError. Lexical (no system call): the folders are owner-only, so nobody
    else can plant a link inside them, and the names come from keyed digests or the database.
    """
    base = os.path.normpath(os.path.abspath(root))
    target = os.path.normpath(os.path.abspath(path))
    if target != base and not target.startswith(base + os.sep):
        raise PathOutsideSpoolError(f"refused a path outside {root} (never written or read)")
    return Path(target)


def exposed(path: Path) -> str | None:
    """How others can reach ``path`` (``readable``, ``writable``), or None when owner-only."""
    mode = path.stat().st_mode
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return "writable"
    if mode & (stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH):
        return "readable"
    return None


def content_sha256(path: Path) -> str:
    """SHA-256 (hex) of a received file, read in 1 MiB chunks (never whole in memory).

    Received by pynetdicom, the file is the sender's dataset bytes behind a file meta
    that depends only on the UIDs and the transfer syntax: the same instance sent again the
    same way gives the same digest, and any changed value another.
    """
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class Spool:
    """The spool's folders; ``mapper`` (the project key) is needed only to name new files.

    The console opens the spool without it: it lists and purges what the node wrote.
    """

    def __init__(self, root: Path, mapper: Mapper | None = None) -> None:
        self.root = root
        self._mapper = mapper
        self.tmp = root / "tmp"
        self.incoming = root / "incoming"
        self.out = root / "out"
        self.returned = root / "return"
        self.home = self.returned / "home"

    def prepare(self) -> None:
        """Create the folders owner-only, refuse a spool others can reach, drop partial writes."""
        for folder in (self.root, self.tmp, self.incoming, self.out, self.returned, self.home):
            make_private_dirs(folder)
            how = exposed(folder)
            if how is not None:
                raise SpoolError(
                    f"{folder}: the spool holds original images and is {how} by other users; "
                    f"run `chmod -R go-rwx {self.root}` (and check who could have read it)"
                )
        for leftover in self.tmp.iterdir():
            leftover.unlink(missing_ok=True)
        fsync_dir(self.root)

    def name(self, uid: str) -> str:
        """A stable file name for a UID that does not show it (keyed: not guessable either)."""
        if self._mapper is None:
            raise SpoolError("this spool was opened without the project key: it cannot name files")
        return self._mapper.digest("spool-name", uid.strip().rstrip("\x00")).hex()[:32]

    def _checked(self, folder: Path, *parts: str) -> Path:
        return inside(folder, folder.joinpath(*parts))

    def incoming_path(self, study_key: str, sop_uid: str, content_sha256: str = "") -> Path:
        """Where a received instance goes; its content (``content_sha256``, see
        `content_sha256`) is part of the name: each version of an instance has its own file."""
        name = self.name(sop_uid)
        if content_sha256:
            name += "-" + self.name(f"content\x00{content_sha256}")[:16]
        return self._checked(self.incoming, study_key, f"{name}.dcm")

    def incoming_file(self, spool_name: str) -> Path:
        """A registered instance's file from its spool name ("<study key>/<file>")."""
        return self._checked(self.incoming, spool_name)

    def out_path(self, study_key: str, deid_sop_uid: str) -> Path:
        return self._checked(self.out, study_key, f"{self.name(deid_sop_uid)}.dcm")

    def out_dir(self, study_key: str) -> Path:
        return self._checked(self.out, study_key)

    def return_path(self, received_uid: str) -> Path:
        name = f"{self.name(received_uid)[:24]}-{uuid.uuid4().hex[:8]}.dcm"
        return self._checked(self.returned, name)

    def returned_file(self, spool_name: str) -> Path:
        return self._checked(self.returned, spool_name)

    def home_path(self, spool_name: str) -> Path:
        return self._checked(self.home, spool_name)

    def store(self, target: Path, data: bytes) -> None:
        """Write ``data`` to ``target`` (0600) durably: fsynced before the sender is answered."""
        target = inside(self.root, target)
        make_private_dirs(target.parent)
        write_atomic(target, data, durable=True, tmp_dir=self.tmp)

    def adopt(self, received: Path, target: Path) -> None:
        """Move a file received into tmp/ to ``target``, durably (fsync, rename, fsync folder).

        A file from elsewhere (another file system) is copied in chunks, never read whole.
        """
        target = inside(self.root, target)
        make_private_dirs(target.parent)
        if os.path.abspath(received.parent) != os.path.abspath(self.tmp):
            staged = self.tmp / f"{uuid.uuid4().hex}.part"
            with received.open("rb") as source, staged.open("xb") as copy:
                shutil.copyfileobj(source, copy, 1024 * 1024)
            received = staged
        received.chmod(FILE_MODE)
        fd = os.open(received, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(received, target)
        fsync_dir(target.parent)

    def incoming_files(self) -> Iterator[tuple[str, Path]]:
        """(study key, path) of every received file, for recovery at start."""
        for study_dir in sorted(self.incoming.iterdir()):
            if study_dir.is_dir():
                for path in sorted(study_dir.glob("*.dcm")):
                    yield study_dir.name, path

    def return_files(self) -> Iterator[Path]:
        yield from sorted(self.returned.glob("*.dcm"))
