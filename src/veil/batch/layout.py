"""Where one de-identified file goes under the output folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath

from pydicom.dataset import Dataset

from veil.policy.model import Layout


def output_name(
    layout: Layout,
    mirror_relative: str,
    deidentified: Dataset | Mapping[str, str],
    patient_pseudonym: str,
) -> str:
    """The output's path relative to the output folder (POSIX separators).

    The hierarchy is named by the patient's pseudonym and the de-identified UIDs only; the
    mirror layout keeps the input's file names, which the user controls.
    """
    if layout is Layout.MIRROR:
        path = PurePosixPath(mirror_relative)
        name = path.name
        for suffix in (".gz",):  # gzip inputs are written as plain DICOM
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
        return str(path.with_name(name or "instance.dcm"))
    parts = [
        _safe(patient_pseudonym),
        _safe(deidentified.get("StudyInstanceUID", "") or "NO-STUDY"),
        _safe(deidentified.get("SeriesInstanceUID", "") or "NO-SERIES"),
        _safe(deidentified.get("SOPInstanceUID", "") or "NO-INSTANCE") + ".dcm",
    ]
    return "/".join(parts)


def _safe(value: object) -> str:
    text = str(value).strip()
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in text) or "_"
