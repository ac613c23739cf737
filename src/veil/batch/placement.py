"""Placing de-identified files under the output folder: whole, never over another instance.

Worker processes place files at the same time, so a name is claimed atomically
(`veil.io.atomic.write_new`: it fails if the name exists) and never checked-then-written.

Hierarchy layout: a series folder is claimed for one series by a small file in the output's
bookkeeping folder (``.veil/series/<digest of the folder name>``, holding the de-identified
Series Instance UID), so the DICOM folders hold DICOM files only; a second series whose folder
name would be the same gets ``NAME_2``. Within a series, an instance whose file name is taken
by another instance (duplicate Instance Numbers, common in multi-echo series) gets
``0001_2.dcm``. An existing file with the same bytes is the same input written before
(idempotent); an existing file of the same instance with other bytes was written with another
policy, and is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import hashlib
from io import BytesIO
from pathlib import Path

import pydicom

from veil.batch.naming import HierarchyName
from veil.io.atomic import write_atomic, write_new

# Claims live apart from the DICOM folders, in the output's bookkeeping folder (with the stamp,
# `veil.batch.output_stamp`): OUT/.veil/series/<digest of the folder name> -> its series UID.
CLAIMS = Path(".veil") / "series"
MAX_CANDIDATES = 1000  # names tried for one series folder or one instance

# (output folder, series folder name, series UID) -> the folder claimed, and its path as text
# (the files of a series are written into it without a Path or a stat each); per process.
_SERIES_FOLDERS: dict[tuple[str, str, str], tuple[str, str]] = {}


class OutputTaken(Exception):
    """The output name holds this instance written with other content (another policy)."""


def _claim(out: Path, relative: str, series_uid: str) -> bool:
    """Claim the folder ``relative`` for ``series_uid``: True if it is (now or before) ours.

    The claim is a file written whole with an exclusive create, so two processes racing for
    one folder name never both win, and a claim is never read half-written."""
    digest = hashlib.sha256(relative.encode("utf-8")).hexdigest()[:32]
    claim = out / CLAIMS / digest
    uid = series_uid.encode("ascii", "replace")
    try:
        write_new(claim, uid)
        return True
    except FileExistsError:
        try:
            return claim.read_bytes() == uid
        except OSError:
            return False


def _claim_series(out: Path, name: HierarchyName) -> tuple[str, str]:
    """The series folder claimed for ``name`` (relative to ``out``) and its path as text."""
    key = (str(out), name.series_folder, name.series_uid)
    known = _SERIES_FOLDERS.get(key)
    if known is not None:
        return known
    for attempt in range(1, MAX_CANDIDATES + 1):
        relative = name.series_folder if attempt == 1 else f"{name.series_folder}_{attempt}"
        if _claim(out, relative, name.series_uid):
            folder = out / relative
            folder.mkdir(parents=True, exist_ok=True)
            claimed = _SERIES_FOLDERS[key] = (relative, str(folder))
            return claimed
    raise OutputTaken(f"{name.series_folder}: {MAX_CANDIDATES} series share this folder name")


def _instance_uid(path: Path) -> str:
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
        return str(ds.get("SOPInstanceUID", "") or "")
    except Exception:
        return ""


def _same_instance(path: Path, encoded: bytes) -> bool:
    try:
        ours = pydicom.dcmread(BytesIO(encoded), stop_before_pixels=True)
    except Exception:
        return False
    uid = str(ours.get("SOPInstanceUID", "") or "")
    return bool(uid) and _instance_uid(path) == uid


def place_hierarchy(
    out: Path,
    name: HierarchyName,
    encoded: bytes,
    overwrite: bool,
    tmp_dir: Path | None = None,
) -> str:
    """Place one instance in its series folder; returns its path relative to ``out``.

    A folder this process claimed before is written into without a stat: if it went since
    (removed by hand between two runs of a long-lived process), the write finds it missing
    and the folder is claimed again, as a check before each write would have done."""
    try:
        return _place_in_series(out, name, encoded, overwrite, tmp_dir)
    except FileNotFoundError:
        _SERIES_FOLDERS.pop((str(out), name.series_folder, name.series_uid), None)
        return _place_in_series(out, name, encoded, overwrite, tmp_dir)


def _place_in_series(
    out: Path, name: HierarchyName, encoded: bytes, overwrite: bool, tmp_dir: Path | None
) -> str:
    folder, where = _claim_series(out, name)
    for attempt in range(1, MAX_CANDIDATES + 1):
        stem = name.stem if attempt == 1 else f"{name.stem}_{attempt}"
        relative = f"{folder}/{stem}.dcm"
        try:
            write_new(f"{where}/{stem}.dcm", encoded, tmp_dir=tmp_dir, make_folder=False)
            return relative
        except FileExistsError:
            pass
        target = out / relative
        if target.read_bytes() == encoded:
            return relative  # the same input written before: idempotent
        if _same_instance(target, encoded):
            if not overwrite:
                raise OutputTaken(relative)
            write_atomic(target, encoded, tmp_dir=tmp_dir)
            return relative
    raise OutputTaken(f"{folder}/{name.stem}.dcm: {MAX_CANDIDATES} instances share this name")


def place_mirror(
    out: Path, relative: str, encoded: bytes, overwrite: bool, tmp_dir: Path | None = None
) -> str:
    """Place one output at its mirror path (atomically), idempotently."""
    try:
        write_new(f"{out}/{relative}", encoded, tmp_dir=tmp_dir)  # no Path parse per file
        return relative
    except FileExistsError:
        pass
    target = out / relative
    if target.read_bytes() == encoded:
        return relative
    if not overwrite:
        raise OutputTaken(relative)
    write_atomic(target, encoded, tmp_dir=tmp_dir)
    return relative
