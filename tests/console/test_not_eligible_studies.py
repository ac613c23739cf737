"""The console shows a study held `not-eligible` (the destination could not process it): its
count on the dashboard, the studies filter, the quarantine page with the rules it fails, and
the operator may retry it."""

from __future__ import annotations

import re

from console_support import client, sign_in

from veil.console import accounts
from veil.console.roles import Role
from veil.node import controls
from veil.node.store.states import StudyState

KEY = "05noteligible000"
REASON = (
    "not eligible: no series meets the destination profile neuroquant (1 series; failing: "
    "neuroquant/three-d)"
)


def _hold(console) -> int:  # type: ignore[no-untyped-def]
    store = console.store
    store.studies.record_instance(
        "1.2.3.9",
        KEY,
        "VEILPSEUDO09",
        "1.2.3.9.1",
        "1.2.840.10008.5.1.4.1.1.4",
        f"{KEY}/a.dcm",
        1.0,
    )
    study = store.studies.find(KEY)
    assert study is not None
    store.studies.mark_stable(2.0)
    assert store.studies.not_eligible(study.id, REASON)
    controls.record_findings(
        store,
        study.id,
        [controls.StudyFinding(controls.FindingSource.CHECK, rule="neuroquant/three-d")],
    )
    return study.id


def test_a_not_eligible_study_is_counted_filtered_listed_and_retried(console) -> None:  # type: ignore[no-untyped-def]
    _hold(console)
    c = client(console.app)
    sign_in(c, console.users[Role.VIEWER])
    board = c.get("/partials/dashboard").text
    assert re.search(r'data-state="not-eligible">1<', board), board
    page = c.get("/studies", params={"state": "not-eligible"}).text
    assert f'data-study="{KEY}"' in page and 'data-state="not-eligible"' in page
    assert console.seeded.sent not in page  # the filter keeps only not-eligible studies
    assert 'value="not-eligible"' in page  # a filter checkbox for the state
    held = c.get("/quarantine").text
    assert KEY in held and "neuroquant/three-d" in held and "not-eligible" in held

    token = accounts.create_token(console.store, "op", frozenset({Role.OPERATOR}))
    api = client(console.app)
    api.headers["Authorization"] = f"Bearer {token}"
    listed = api.get("/api/v1/studies", params={"state": "not-eligible"}).json()
    assert [s["study"] for s in listed["studies"]] == [KEY]
    assert listed["studies"][0]["reason"] == REASON
    assert api.post(f"/api/v1/studies/{KEY}/retry").status_code == 200
    study = console.store.studies.find(KEY)
    assert study is not None and study.state is StudyState.STABLE
