"""Nothing identifying in the log, on stderr, or in the database's plain columns.

Before: one study whose UIDs had a component with a leading zero (non-conformant, common in the
wild) put 34 lines quoting original UIDs in `veil serve`'s log, and the database held original
UIDs, PatientID, name and accession in plain text. The test sends such a study to a real
`veil serve` and searches the log, the status output and the database files byte for byte."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import pytest
from pydicom import Dataset, dcmread

from tests.security.node_harness import ServedNode, series, store, wait_for


def _study(tag: str) -> list[Dataset]:
    root = f"1.2.826.0.1.3680043.9.7.0{int(tag[:6], 16)}"  # a component with a leading zero
    datasets = []
    for index, path in enumerate(series()):
        ds = dcmread(path)
        ds.PatientName = f"QZXWV{tag}^KLMNO{tag}"
        ds.PatientID = f"MRN{tag}"
        ds.AccessionNumber = f"ACC{tag[:10]}"
        ds.PatientBirthDate = "19450317"
        ds.ReferringPhysicianName = f"REFDOC{tag}^ANN"
        ds.StudyInstanceUID = f"{root}.1"
        ds.SeriesInstanceUID = f"{root}.1.01"
        ds.FrameOfReferenceUID = f"{root}.1.02"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"{root}.1.01.0{index + 1}"
        datasets.append(ds)
    return datasets


def _values(datasets: list[Dataset]) -> set[str]:
    values = set()
    for ds in datasets:
        for keyword in (
            "PatientID",
            "AccessionNumber",
            "PatientBirthDate",
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "SOPInstanceUID",
            "FrameOfReferenceUID",
        ):
            values.add(str(ds.get(keyword)))
        for name in (ds.PatientName, ds.ReferringPhysicianName):
            values.update(str(name).split("^"))
    return values


@pytest.mark.slow
def test_a_study_with_non_conformant_uids_leaves_no_value_in_log_or_database(
    served_node: Callable[..., ServedNode],
) -> None:
    node = served_node()
    datasets = _study(secrets.token_hex(8).upper())
    assert set(store(node.port, *datasets)) == {0}
    assert wait_for(
        lambda: [s["state"] for s in node.status()["studies"]] == ["sent"], timeout=60
    ), node.log
    status = node.status()
    node.stop()
    folder = node.folder
    places = {
        "log": node.log.encode(),
        "status": repr(status).encode(),
        **{p.name: p.read_bytes() for p in folder.glob("node.db*")},
    }
    leaks = {
        (where, value)
        for value in _values(datasets)
        for where, data in places.items()
        if value.encode() in data
    }
    assert not leaks, sorted(leaks)
