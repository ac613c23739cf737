"""Finding input files under fsspec URLs (s3://bucket/prefix, gs://..., az://...).

The same rules as for local folders (io/inputs.py): every object under the prefix in a stable
(sorted) order, zip archives read member by member, mirror paths relative to the prefix and,
with several inputs, under the prefix's last name. An object's ETag (or generation, or
modification time) travels with it, so a resumed run notices an input that changed.

The bounds of `veil.io.limits` hold as for local inputs (issue 9): an object is read with a
ranged GET of at most the file limit, a zip archive's members are counted and sized from its
central directory before a byte is decompressed, and a member that is too large, expands too
much or whose name would leave the output folder becomes an item with a ``problem`` (reported,
never read). FIFOs, devices and link loops do not exist in object stores; ``file://`` URLs are
local paths and go through `veil.io.inputs` itself.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from veil.errors import InputFileError
from veil.io.inputs import BOOKKEEPING, InputItem
from veil.io.limits import DEFAULT_LIMITS, InputLimits
from veil.io.storage import Store, with_retries


@dataclass(frozen=True)
class StoredItem(InputItem):
    """An input object in a store; ``path`` is its full path in the store (no protocol)."""

    store: Store | None = None
    etag: str = ""  # changes when the object changes

    def read(self) -> bytes:
        """The object's (or member's) bytes, at most ``max_bytes``; InputFileError naming it
        when it may not be read, OSError when the store fails (the batch retries those)."""
        if self.problem is not None:
            raise InputFileError(self.display, self.problem)
        assert self.store is not None
        if self.member is None:
            # A ranged GET of at most the limit (S3 refuses a range on an empty object: an
            # object listed empty is read whole, and checked below like any other).
            limit = self.max_bytes + 1 if self.size else None
            data = self.store.read_path(self.path, limit=limit)
        else:
            data = with_retries(self._read_member)
        if len(data) > self.max_bytes:  # larger than listed, or grew since
            raise InputFileError(self.display, f"larger than the limit of {self.max_bytes} bytes")
        return data

    def _read_member(self) -> bytes:
        assert self.store is not None and self.member is not None
        try:
            with (
                self.store.fs.open(self.path, "rb") as handle,
                zipfile.ZipFile(handle) as archive,
                archive.open(self.member) as member,
            ):
                data: bytes = member.read(self.max_bytes + 1)
                return data
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as exc:
            raise InputFileError(
                self.display, f"a zip member that cannot be read ({type(exc).__name__})"
            ) from None


def safe_relative(key: str) -> str:
    """An object key as a relative path that stays under the output root.

    Object keys are free text: "a/../../b", "/a", "a//b" are all valid keys. Empty, "." and
    ".." segments are dropped (invariant 9: no path escapes its root); two keys that clean to
    the same name meet as "already exists with different content", never overwrite.
    """
    parts = [part for part in key.split("/") if part not in ("", ".", "..")]
    return "/".join(parts)


def _change_token(info: dict[str, Any]) -> str:
    for name in ("ETag", "etag", "generation", "md5Hash", "mtime", "LastModified", "created"):
        value = info.get(name)
        if value:
            return str(value).strip('"')
    return ""


def _is_zip(name: str) -> bool:
    return name.lower().endswith(".zip")


def _member_problem(info: zipfile.ZipInfo, limits: InputLimits) -> str | None:
    name = PurePosixPath(info.filename.replace("\\", "/"))
    if name.is_absolute() or ".." in name.parts or not name.parts:
        # Never let a member escape the output folder (zip slip).
        return "a zip member whose name leaves the archive ('..' or absolute): skipped"
    return limits.member_problem(info.file_size, info.compress_size)


def _zip_members(
    store: Store, path: str, display: str, prefix: str, etag: str, limits: InputLimits
) -> Iterator[StoredItem]:
    def listing() -> list[zipfile.ZipInfo]:
        with store.fs.open(path, "rb") as handle, zipfile.ZipFile(handle) as archive:
            return [info for info in archive.infolist() if not info.is_dir()]

    try:
        members = with_retries(listing)
    except (zipfile.BadZipFile, OSError) as exc:
        problem = f"a zip archive that cannot be opened ({type(exc).__name__})"
        yield StoredItem(display, prefix, path, None, 0, problem, limits.max_file_bytes, store)
        return
    whole = limits.archive_problem(len(members), sum(info.file_size for info in members))
    if whole is not None:
        yield StoredItem(display, prefix, path, None, 0, whole, limits.max_file_bytes, store)
        return
    for info in sorted(members, key=lambda i: i.filename):
        relative = PurePosixPath(info.filename.replace("\\", "/")).as_posix()
        yield StoredItem(
            f"{display}!{info.filename}",
            prefix + safe_relative(relative),
            path,
            info.filename,
            info.file_size,
            _member_problem(info, limits),
            limits.max_file_bytes,
            store=store,
            etag=f"{etag}:{info.CRC:08x}",
        )


def _object(
    store: Store, path: str, info: dict[str, Any], relative: str, limits: InputLimits
) -> Iterator[StoredItem]:
    display = f"{store.protocol}://{path}"
    etag = _change_token(info)
    if _is_zip(path):
        yield from _zip_members(store, path, display, relative[:-4] + "/", etag, limits)
        return
    size = int(info.get("size") or info.get("Size") or 0)
    problem = None
    if size > limits.max_file_bytes:  # refused from the listing, before a GET
        problem = f"file too large ({size} bytes > limit {limits.max_file_bytes})"
    yield StoredItem(
        display, relative, path, None, size, problem, limits.max_file_bytes, store, etag
    )


def iter_stored(
    store: Store, multiple: bool, limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[StoredItem]:
    """Every object under the store's root (or the root itself when it is one object)."""
    fs = store.fs
    root = store.root
    prefix = f"{PurePosixPath(root).name}/" if multiple else ""
    try:
        found: dict[str, dict[str, Any]] = with_retries(
            lambda: fs.find(root, detail=True, withdirs=False)
        )
    except FileNotFoundError:
        found = {}
    if not found:
        try:
            info: dict[str, Any] = with_retries(lambda: fs.info(root))
        except FileNotFoundError:
            raise InputFileError(store.url, "no such object or prefix") from None
        if info.get("type") == "file":
            name = safe_relative(PurePosixPath(root).name)
            yield from _object(store, root, info, name, limits)
        return
    bookkeeping = _bookkeeping_folders(found)
    for path in sorted(found):
        info = found[path]
        if info.get("type") == "directory" or path.startswith(bookkeeping):
            continue
        clean = path.strip("/")
        relative = clean[len(root) :] if clean.startswith(root) else clean
        relative = safe_relative(relative) or safe_relative(PurePosixPath(clean).name)
        if not relative:
            continue  # a key made only of separators and dots: nothing to name it by
        yield from _object(store, clean, info, prefix + relative, limits)


def _bookkeeping_folders(found: dict[str, dict[str, Any]]) -> tuple[str, ...]:
    """veil's own bookkeeping folders among the objects (see veil.io.inputs.BOOKKEEPING), as
    prefixes: a run stamp or a cluster run's manifests are not inputs."""
    folders = []
    for path in found:
        clean = PurePosixPath(path)
        if BOOKKEEPING.get(clean.parent.name) == clean.name:
            folders.append(f"{clean.parent}/")
    return tuple(folders)


def iter_stored_inputs(
    stores: Sequence[Store], total_inputs: int, limits: InputLimits = DEFAULT_LIMITS
) -> Iterator[StoredItem]:
    for store in stores:
        yield from iter_stored(store, total_inputs > 1, limits)
