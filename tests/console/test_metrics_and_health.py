"""/healthz for probes and /metrics for Prometheus: counts and durations, no identifiers."""

from __future__ import annotations

from console_support import client, sign_in
from prometheus_client.parser import text_string_to_metric_families

from veil.console import accounts
from veil.console.roles import Role


def test_healthz_needs_no_sign_in_and_says_nothing_else(console) -> None:  # type: ignore[no-untyped-def]
    answer = client(console.app).get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok"}


def test_metrics_need_a_token_and_count_states_without_keys_or_pseudonyms(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    assert c.get("/metrics").status_code == 401
    token = accounts.create_token(console.store, "prometheus", frozenset({Role.VIEWER}))
    c.headers["Authorization"] = f"Bearer {token}"
    c.get(f"/api/v1/studies/{console.seeded.sent}")  # counted under its route template
    text = c.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    studies = {s.labels["state"]: s.value for s in families["veil_studies"].samples}
    assert studies["sent"] == 1 and studies["quarantined"] == 1 and studies["failed"] == 1
    assert studies["received"] == 1
    assert "veil_study_seconds" in families and "veil_spool_disk_free_bytes" in families
    routes = {s.labels.get("route") for s in families["veil_console_requests"].samples}
    assert "/api/v1/studies/{key}" in routes
    for secret in (console.seeded.sent, "VEILPSEUDO", "2.25.1000", "1.2.3."):
        assert secret not in text


def test_the_dashboard_api_is_the_pages_twin(console) -> None:  # type: ignore[no-untyped-def]
    c = client(console.app)
    sign_in(c, console.users[Role.VIEWER])
    data = c.get("/api/v1/dashboard").json()
    page = c.get("/").text
    assert data["studies"]["quarantined"] == 1
    assert [d["name"] for d in data["destinations"]] == ["archive", "research"]
    assert 'data-state="quarantined">1<' in page
    detail = c.get(f"/api/v1/studies/{console.seeded.quarantined}").json()
    assert detail["study"]["state"] == "quarantined"
    assert [f["path"] for f in detail["findings"] if f["source"] == "audit"] == ["(0010,0010)"]
    assert [e["state"] for e in detail["timeline"]] == ["received", "stable", "quarantined"]
    html = c.get(f"/studies/{console.seeded.quarantined}").text
    assert "(0010,0010)" in html and "neuroquant/patient-age" in html
