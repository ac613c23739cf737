"""Finding the input files: files, folders (recursive) and zip archives."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from veil.errors import InputFileError, UnsafeOutputError


@dataclass(frozen=True)
class InputItem:
    """One input file: where it is, how to show it, and where its mirror output goes."""

    display: str  # the path as the user would recognise it
    relative: str  # the relative path under the output folder (mirror layout)
    path: str  # the file on disk (or the zip archive)
    member: str | None = None  # the member name inside a zip archive
    size: int = 0

    def read(self) -> bytes:
        if self.member is None:
            with open(self.path, "rb") as handle:
                return handle.read()
        with zipfile.ZipFile(self.path) as archive:
            return archive.read(self.member)


def _walk_folder(root: Path, prefix: str) -> Iterator[InputItem]:
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if name.lower().endswith(".zip") and zipfile.is_zipfile(path):  # suffix first: no open
                yield from _walk_zip(path, f"{prefix}{relative[:-4]}/")
                continue
            try:
                size = path.stat().st_size
            except OSError:
                size = 0
            yield InputItem(str(path), prefix + relative, str(path), None, size)


def _walk_zip(path: Path, prefix: str) -> Iterator[InputItem]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputFileError(str(path), f"a zip archive that cannot be opened ({exc})") from None
    for info in sorted(members, key=lambda i: i.filename):
        name = PurePosixPath(info.filename)
        if name.is_absolute() or ".." in name.parts:  # never let a member escape the output
            continue
        yield InputItem(
            f"{path}!{info.filename}",
            prefix + name.as_posix(),
            str(path),
            info.filename,
            info.file_size,
        )


def iter_inputs(inputs: Sequence[str | Path]) -> Iterator[InputItem]:
    """Every file under the inputs, in a stable order; missing inputs raise InputFileError."""
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            yield from _walk_folder(path, f"{path.resolve().name}/" if len(inputs) > 1 else "")
        elif path.is_file():
            if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
                yield from _walk_zip(path, f"{path.stem}/")
            else:
                yield InputItem(str(path), path.name, str(path), None, path.stat().st_size)
        else:
            raise InputFileError(str(path), "no such file or folder")


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
