"""Cutting a listing into groups: the unit of work of a cluster run.

A task per file costs ~7 ms of scheduling CPU per file (measured, research/scale-out.md); a
group of files of one folder (a series, usually) costs that once per group. Groups are cut in
listing order, at a folder change, at ``size`` files or at ``max_bytes``, so the same listing
gives the same groups on every run. A group's id is a keyed digest of its members (names,
sizes, change tokens): it names the group in task keys, logs and manifests without showing a
path, and it changes when an input changes, so a resumed run redoes that group.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from veil.io.inputs import InputItem
from veil.mapping import Mapper

DEFAULT_GROUP_SIZE = 64
MAX_GROUP_BYTES = 512 * 2**20  # bounds a task's input in memory (whole files are read)


@dataclass(frozen=True, repr=False)
class Group:
    """Files processed by one task; its repr shows no path (Dask logs task arguments)."""

    id: str
    items: tuple[InputItem, ...]

    def __repr__(self) -> str:
        return f"Group({self.id}, {len(self.items)} files)"

    __str__ = __repr__


def change_token(item: InputItem) -> str:
    """What changes when the input changes: an ETag in a store, else size and mtime on disk."""
    etag = getattr(item, "etag", "")
    if etag:
        return str(etag)
    try:
        stat = os.stat(item.path)
    except OSError:
        return ""
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def _identity(item: InputItem) -> str:
    where = item.path if getattr(item, "etag", "") else os.path.abspath(item.path)
    return f"{where}\0{item.member or ''}\0{item.size}\0{change_token(item)}"


def group_id(items: Sequence[InputItem], mapper: Mapper) -> str:
    text = "\n".join(_identity(item) for item in items)
    return mapper.digest("batch-group", text).hex()[:24]


def make_groups(
    items: Sequence[InputItem],
    mapper: Mapper,
    size: int = DEFAULT_GROUP_SIZE,
    max_bytes: int = MAX_GROUP_BYTES,
) -> list[Group]:
    """Consecutive items of one folder (or archive), at most ``size`` files or ``max_bytes``."""
    groups: list[Group] = []
    seen: set[str] = set()

    def close(members: list[InputItem]) -> None:
        gid = base = group_id(members, mapper)
        copies = 1
        while gid in seen:  # the same files listed twice (an input given twice)
            copies += 1
            gid = f"{base}-{copies}"
        seen.add(gid)
        groups.append(Group(gid, tuple(members)))

    current: list[InputItem] = []
    folder = ""
    held = 0
    for item in items:
        parent = str(PurePosixPath(item.relative).parent)
        if current and (parent != folder or len(current) >= size or held + item.size > max_bytes):
            close(current)
            current, held = [], 0
        current.append(item)
        folder = parent
        held += item.size
    if current:
        close(current)
    return groups
