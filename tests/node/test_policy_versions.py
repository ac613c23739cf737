"""The node de-identifies with the policy version applied from the console, from its next
study on, without a restart, and records which version processed each study; an applied
version that cannot be used holds the study (fail closed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from node_support import needs_dcmtk, series_files, storescu, wait_for
from pydicom import dcmread

from veil.node.service import Node
from veil.node.store.policies import VersionSource
from veil.node.store.states import StudyState

pytestmark = [pytest.mark.slow, needs_dcmtk]

# FIRST and SECOND are two different studies (axasc35 and AxAsc36 share one study).
FIRST, SECOND, THIRD = "dcm_qa/axasc35", "dcm_qa_agfa/Agfa", "dcm_qa/AxAsc36mb2a_jpeg"
STUDIO = (
    "name: studio\noverrides:\n"
    "  - {attribute: StudyDescription, action: replace, value: FROM-THE-STUDIO}\n"
)


def _state(node: Node, count: int, state: StudyState) -> bool:
    rows = node.store.studies.status()
    return len(rows) == count and all(r.state is state for r in rows[:count])


def _written(node: Node) -> list[Path]:
    out = node.config.destinations[0].path
    assert out is not None
    return sorted(out.rglob("*.dcm"))


def test_an_applied_version_is_used_from_the_next_study_and_recorded_per_study(
    running_node: Callable[..., Node],
) -> None:
    node = running_node()
    configured = node.policy.configured
    version = node.store.policies.get(configured.version_id)
    assert version is not None and version.source is VersionSource.CONFIGURATION
    assert version.label == "basic v1"

    storescu(node.config.port, series_files(FIRST))
    assert wait_for(lambda: _state(node, 1, StudyState.SENT), timeout=120)
    first = node.store.studies.status()[0]
    recorded = node.store.policies.of_study(first.id)
    assert recorded is not None and recorded.id == configured.version_id

    studio, _ = node.store.policies.save("studio", STUDIO, "editor", VersionSource.STUDIO)
    node.store.policies.apply(studio.id, "editor")
    before = set(_written(node))
    storescu(node.config.port, series_files(SECOND))
    assert wait_for(lambda: _state(node, 2, StudyState.SENT), timeout=120)
    second = next(s for s in node.store.studies.status() if s.id != first.id)
    assert node.store.policies.of_study(second.id).id == studio.id  # type: ignore[union-attr]
    new = [p for p in _written(node) if p not in before]
    assert new and all(
        dcmread(p, stop_before_pixels=True).StudyDescription == "FROM-THE-STUDIO" for p in new
    )
    assert node.store.policies.studies_of(studio.id) == 1


def test_an_applied_version_that_cannot_be_used_holds_the_study(
    running_node: Callable[..., Node],
) -> None:
    node = running_node()
    broken, _ = node.store.policies.save("broken", "name: broken\nrequirements: [gone]\n", "x")
    node.store.policies.apply(broken.id, "x")  # the studio refuses this; the store does not
    storescu(node.config.port, series_files(THIRD))
    assert wait_for(lambda: _state(node, 1, StudyState.QUARANTINED), timeout=120)
    reason = node.store.studies.status()[0].reason or ""
    assert "broken v1 cannot be used" in reason and "unknown profile 'gone'" in reason
    assert _written(node) == []
