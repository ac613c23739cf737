"""Load: 8 concurrent storescu senders, 2,000 small instances; none lost, none duplicated."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from node_process import start_node, status, write_config
from node_support import free_port, needs_dcmtk, process_received, wait_for
from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from veil.node import controls
from veil.node.store import Store
from veil.node.store.states import StudyState

SENDERS = 8
PER_SENDER = 250


def synthetic_study(folder: Path, index: int, count: int) -> list[Path]:
    """A small MR study with plausible identifiers (made up here) and 16x16 pixels."""
    folder.mkdir(parents=True)
    study, series = generate_uid(), generate_uid()
    pixels = (np.arange(256, dtype=np.uint16).reshape(16, 16) * (index + 1)).tobytes()
    files = []
    for number in range(count):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.SOPClassUID = MRImageStorage
        ds.PatientName = f"Loadtest^Patient{index}"
        ds.PatientID = f"LOAD{index:04d}"
        ds.PatientBirthDate = "19700101"
        ds.StudyDate = "20240101"
        ds.AccessionNumber = f"ACC{index:06d}"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality, ds.Manufacturer = "MR", "SIEMENS"
        ds.InstanceNumber = number + 1
        ds.Rows = ds.Columns = 16
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = pixels
        path = folder / f"{number:04d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return files


@pytest.mark.slow
@needs_dcmtk
def test_eight_senders_two_thousand_instances(tmp_path: Path) -> None:
    # A folder destination: this measures the node, not the destination's ingestion speed
    # (Orthanc takes ~11 instances/s per association here; see docs/notes/node.md).
    studies = [synthetic_study(tmp_path / "in" / str(i), i, PER_SENDER) for i in range(SENDERS)]
    port = free_port()
    # Each study is processed when its sender is done (process_received below), not after a
    # quiet time: eight senders on a loaded machine can stall longer than any short
    # stable_seconds, and a study would go out in parts (correct, but not what is measured).
    config = write_config(tmp_path, port, None, stable_seconds=3600)
    store = Store.open(f"sqlite:///{tmp_path / 'node.db'}")
    node = start_node(config, port)
    try:
        started = time.monotonic()
        senders = [
            subprocess.Popen(
                [
                    "storescu",
                    "-aet",
                    f"SENDER{i}",
                    "-aec",
                    "VEIL",
                    "127.0.0.1",
                    str(port),
                    *map(str, files),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for i, files in enumerate(studies)
        ]
        for sender in senders:
            assert sender.wait(timeout=300) == 0
        received_s = time.monotonic() - started
        total = SENDERS * PER_SENDER
        assert sum(r.instance_count for r in store.studies.status()) == total  # all registered
        assert process_received(store) == SENDERS

        def all_sent() -> bool:
            rows = store.studies.status()
            return len(rows) == SENDERS and all(r.state is StudyState.SENT for r in rows)

        assert wait_for(all_sent, timeout=300, step=0.5), status(config)
        forwarded_s = time.monotonic() - started
        rows = store.studies.status()
        assert sum(r.instance_count for r in rows) == total
        assert sum(r.sent_count for r in rows) == total
        # One file per de-identified SOP Instance UID: a duplicate would overwrite, a loss shows.
        assert len(list((tmp_path / "out").rglob("*.dcm"))) == total
        # Each study was processed and sent once, whole: one pass through the states.
        once = [StudyState.RECEIVED, StudyState.STABLE, StudyState.DEIDENTIFIED]
        once += [StudyState.CHECKED, StudyState.SENT]
        for row in rows:
            assert [e.state for e in controls.study_events(store, row.id)] == once
        line = (
            f"load: {total} instances from {SENDERS} senders: received in {received_s:.1f} s "
            f"({total / received_s:.0f}/s), de-identified, audited and written in "
            f"{forwarded_s:.1f} s "
            f"({total / forwarded_s:.0f}/s end to end)"
        )
        print(line)
        (tmp_path / "load-result.txt").write_text(line + "\n", encoding="utf-8")
    finally:
        store.close()
        node.terminate()
        node.wait(timeout=30)
