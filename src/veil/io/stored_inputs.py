"""Finding input files under fsspec URLs (s3://bucket/prefix, gs://..., az://...).

The same rules as for local folders (io/inputs.py): every object under the prefix in a stable
(sorted) order, zip archives read member by member, mirror paths relative to the prefix and,
with several inputs, under the prefix's last name. An object's ETag (or generation, or
modification time) travels with it, so a resumed run notices an input that changed.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from veil.errors import InputFileError
from veil.io.inputs import InputItem
from veil.io.storage import Store, with_retries


@dataclass(frozen=True)
class StoredItem(InputItem):
    """An input object in a store; ``path`` is its full path in the store (no protocol)."""

    store: Store | None = None
    etag: str = ""  # changes when the object changes

    def read(self) -> bytes:
        assert self.store is not None
        store = self.store
        if self.member is None:
            return store.read_path(self.path)
        member = self.member

        def read_member() -> bytes:
            with store.fs.open(self.path, "rb") as handle, zipfile.ZipFile(handle) as archive:
                return archive.read(member)

        return with_retries(read_member)


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


def _zip_members(
    store: Store, path: str, display: str, prefix: str, etag: str
) -> Iterator[StoredItem]:
    def listing() -> list[zipfile.ZipInfo]:
        with store.fs.open(path, "rb") as handle, zipfile.ZipFile(handle) as archive:
            return [info for info in archive.infolist() if not info.is_dir()]

    try:
        members = with_retries(listing)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputFileError(
            display, f"a zip archive that cannot be opened ({type(exc).__name__})"
        ) from None
    for info in sorted(members, key=lambda i: i.filename):
        name = PurePosixPath(info.filename)
        if name.is_absolute() or ".." in name.parts:  # never let a member escape the output
            continue
        yield StoredItem(
            f"{display}!{info.filename}",
            prefix + name.as_posix(),
            path,
            info.filename,
            info.file_size,
            store=store,
            etag=f"{etag}:{info.CRC:08x}",
        )


def _object(store: Store, path: str, info: dict[str, Any], relative: str) -> Iterator[StoredItem]:
    display = f"{store.protocol}://{path}"
    etag = _change_token(info)
    if _is_zip(path):
        yield from _zip_members(store, path, display, relative[:-4] + "/", etag)
        return
    size = int(info.get("size") or info.get("Size") or 0)
    yield StoredItem(display, relative, path, None, size, store=store, etag=etag)


def iter_stored(store: Store, multiple: bool) -> Iterator[StoredItem]:
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
            yield from _object(store, root, info, safe_relative(PurePosixPath(root).name))
        return
    for path in sorted(found):
        info = found[path]
        if info.get("type") == "directory":
            continue
        clean = path.strip("/")
        relative = clean[len(root) :] if clean.startswith(root) else clean
        relative = safe_relative(relative) or safe_relative(PurePosixPath(clean).name)
        if not relative:
            continue  # a key made only of separators and dots: nothing to name it by
        yield from _object(store, clean, info, prefix + relative)


def iter_stored_inputs(stores: Sequence[Store], total_inputs: int) -> Iterator[StoredItem]:
    for store in stores:
        yield from iter_stored(store, total_inputs > 1)
