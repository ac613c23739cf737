"""The node de-identifies through `veil.pipeline.deidentify_file` like `veil deid`: the
streaming fast path first, the same bytes as the reference path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from node_support import (
    SMALL_SERIES,
    needs_dcmtk,
    process_received,
    series_files,
    storescu,
    wait_for,
)

from veil.node.service import Node
from veil.node.store.states import StudyState
from veil.pipeline import FAST, Engine, FileResult, Settings, deidentify_file

pytestmark = [pytest.mark.slow, needs_dcmtk]


def test_the_node_writes_with_the_fast_path_the_reference_paths_bytes(
    running_node: Callable[..., Node],
) -> None:
    taken: list[str] = []
    differing: list[str] = []

    def observed(data: bytes, name: str, settings: Settings) -> FileResult:
        """The node's own settings and de-identification, watched."""
        result = deidentify_file(data, name, settings)
        taken.append(result.engine)
        reference = deidentify_file(data, name, replace(settings, engine=Engine.REFERENCE))
        if reference.encoded != result.encoded:
            differing.append(name)
        return result

    # Processed when the sender is done (a loaded machine could split it by quiet time).
    node = running_node(deid=observed, stable_seconds=3600.0)
    files = series_files(SMALL_SERIES[1])  # JPEG: explicit VR, pixel data encapsulated
    storescu(node.config.port, files)
    assert process_received(node.store) == 1
    assert wait_for(
        lambda: [r.state for r in node.store.studies.status()] == [StudyState.SENT], timeout=120
    ), node.store.studies.status()
    assert len(taken) == len(files) and set(taken) == {FAST}, taken
    assert differing == []
