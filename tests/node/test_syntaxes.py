"""Every storage SOP class and transfer syntax of the corpus is received as it is, spooled and
taken through the state machine to an end state."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

import pytest
from node_support import CORPUS, wait_for
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.presentation import build_context

from veil.node.service import Node
from veil.node.store.states import TERMINAL

SKIP_CLASSES = {"1.2.840.10008.1.3.10", ""}  # DICOMDIR is not a storage object


def one_file_per_class_and_syntax() -> list[tuple[Path, str, str]]:
    chosen: dict[tuple[str, str], Path] = {}
    with (CORPUS / "manifest.tsv").open(encoding="utf-8") as stream:
        for row in csv.DictReader(stream, delimiter="\t"):
            sop_class, syntax = row["sop_class_uid"], row["transfer_syntax_uid"]
            if sop_class in SKIP_CLASSES or row["parse_note"] != "ok":
                continue
            chosen.setdefault((sop_class, syntax), CORPUS / row["path"])
    return [(path, sop, ts) for (sop, ts), path in sorted(chosen.items())]


@pytest.mark.slow
def test_all_corpus_sop_classes_and_transfer_syntaxes_are_accepted(
    running_node: Callable[..., Node],
) -> None:
    files = one_file_per_class_and_syntax()
    assert len(files) >= 20
    node = running_node()
    ae = AE(ae_title="SCANNER")
    by_class: dict[str, list[str]] = {}
    for _, sop, ts in files:
        by_class.setdefault(sop, []).append(ts)
    # One context per (class, syntax) pair so each file goes in its own syntax, unconverted.
    contexts = [build_context(sop, ts) for sop, syntaxes in by_class.items() for ts in syntaxes]
    assoc = ae.associate("127.0.0.1", node.config.port, ae_title="VEIL", contexts=contexts)
    assert assoc.is_established
    statuses = {}
    for path, sop, ts in files:
        status = assoc.send_c_store(path)
        statuses[(sop, ts)] = int(status.Status) if status else None
    assoc.release()
    # An instance without a StudyInstanceUID cannot be processed as part of a study: refused
    # with 0xC000 ("cannot understand") rather than accepted and left waiting.
    studyless = {
        (sop, ts)
        for path, sop, ts in files
        if "StudyInstanceUID" not in dcmread(path, stop_before_pixels=True)
    }
    expected = {k: (0xC000 if k in studyless else 0) for k in statuses}
    assert statuses == expected
    accepted = len(files) - len(studyless)
    # Several corpus files are one image in several syntaxes, with one SOP Instance UID: the
    # store keeps one instance per UID (a resend replaces the spooled file).
    unique = {
        str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        for path, sop, ts in files
        if (sop, ts) not in studyless
    }
    assert sum(r.instance_count for r in node.store.studies.status()) == len(unique)
    assert wait_for(
        lambda: all(r.state in TERMINAL for r in node.store.studies.status()), timeout=120
    )
    outcome = {r.state.value for r in node.store.studies.status()}
    print(
        f"{accepted}/{len(files)} (SOP class, transfer syntax) pairs; study end states: {outcome}"
    )
