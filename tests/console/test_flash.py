"""A flash message (what an action did) reaches the next full page, even when an htmx partial
(a live check, a status poll every second) is answered first."""

from __future__ import annotations

from typing import Any

from console_support import client, sign_in


def test_a_partial_answered_first_does_not_take_the_flash(console: Any) -> None:
    c = client(console.app)
    h = {"X-CSRF-Token": sign_in(c, "policyeditor")}
    version, _ = console.store.policies.save("flashy", "name: flashy\n", "policyeditor")
    applied = c.post(f"/studio/versions/{version.id}/apply", headers=h)
    assert applied.status_code == 303
    poll = c.get("/partials/dashboard", headers={"HX-Request": "true"})
    check = c.post("/studio/check", data={"name": "x"}, headers={**h, "HX-Request": "true"})
    assert poll.status_code == 200 and check.status_code == 200
    assert "applied" not in check.text.split('id="check"')[0]
    page = c.get(applied.headers["location"], headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert 'class="flash" role="status">' in page.text and "flashy v1" in page.text
    again = c.get(applied.headers["location"])
    assert 'class="flash" role="status">' not in again.text  # shown once
