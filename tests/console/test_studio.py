"""The Privacy studio as a policy editor uses it (pages), and its API twin: a live check that
names both rules of a conflict, YAML errors by line, versions with diffs, apply, duplicate,
import and export; every save and apply in the audit log."""

from __future__ import annotations

import re
from typing import Any

from console_support import XSS, client, sign_in

from veil.console import auditlog
from veil.console.auditlog import Action
from veil.node.policy_source import PolicySource
from veil.node.store.policies import VersionSource

FORM = {
    "name": "trial",
    "description": "",
    "layout": "hierarchy",
    "option": ["retain-patient-characteristics", "clean-descriptors"],
    "profile": ["neuroquant"],
    "overrides": "2",
    "o0-kind": "public",
    "o0-attribute": "PatientSex",
    "o0-action": "remove",
    "o0-value": "",
    "o1-kind": "private",
    "o1-creator": "SIEMENS CSA HEADER",
    "o1-group": "0029",
    "o1-element": "",
    "o1-action": "keep",
    "o1-value": "",
}


def _editor(console: Any) -> tuple[Any, dict[str, str]]:
    c = client(console.app)
    csrf = sign_in(c, "policyeditor")
    return c, {"X-CSRF-Token": csrf}


def _form(**changes: Any) -> dict[str, Any]:
    return {**FORM, **changes}


def test_the_editor_starts_from_the_standard_with_its_edition_shown(console: Any) -> None:
    c, _ = _editor(console)
    page = c.get("/studio/edit?builtin=basic")
    assert page.status_code == 200
    assert "edition 2024b" in page.text
    assert "Retain Patient Characteristics Option" in page.text and "113108" in page.text
    assert 'value="neuroquant"' in page.text and 'value="dcm2niix"' in page.text


def test_a_conflict_shows_live_naming_the_privacy_rule_and_the_requirement(console: Any) -> None:
    c, h = _editor(console)
    panel = c.post("/studio/check", data=_form(), headers=h)
    assert panel.status_code == 200
    conflicts = re.search(r'id="policy-conflicts".*?</section>', panel.text, re.S)
    assert conflicts is not None
    text = conflicts.group(0)
    assert "PatientSex" in text
    assert "override at draft line" in text and "PatientSex -&gt; remove" in text
    assert "neuroquant/patient-sex (profile neuroquant)" in text
    fixed = c.post("/studio/check", data=_form(**{"o0-action": "keep"}), headers=h)
    assert 'id="policy-ok"' in fixed.text and "policy-conflicts" not in fixed.text
    assert 'data-profile="neuroquant"' in fixed.text  # will it process?


def test_the_yaml_view_round_trips_with_the_form(console: Any) -> None:
    c, h = _editor(console)
    as_yaml = c.post("/studio/edit", data=_form(op="yaml"), headers=h)
    assert as_yaml.status_code == 200
    match = re.search(r'<textarea name="yaml"[^>]*>(.*?)</textarea>', as_yaml.text, re.S)
    assert match is not None
    import html

    text = html.unescape(match.group(1))
    assert "options: [retain-patient-characteristics, clean-descriptors]" in text
    assert '{attribute: {creator: SIEMENS CSA HEADER, group: "0029"}, action: keep}' in text
    back = c.post("/studio/edit", data={"op": "form", "view": "yaml", "yaml": text}, headers=h)
    assert back.status_code == 200
    assert 'name="o0-attribute" value="PatientSex"' in back.text
    assert 'name="o1-creator" value="SIEMENS CSA HEADER"' in back.text
    again = c.post("/studio/edit", data={**_form(op="yaml")}, headers=h)
    assert (
        html.unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", again.text, re.S).group(1))
        == text
    )  # type: ignore[union-attr]


def test_a_yaml_error_names_its_line_and_the_listing_marks_it(console: Any) -> None:
    c, h = _editor(console)
    bad = "name: x\nbase: basic\noverrides:\n  - {attribute: PatientAge, action: kepp}\n"
    answer = c.post("/studio/edit", data={"op": "form", "view": "yaml", "yaml": bad}, headers=h)
    assert answer.status_code == 422
    assert "draft: line 4: unknown action &#39;kepp&#39;" in answer.text
    assert '<li value="4" class="error-line">' in answer.text


def test_saving_makes_versions_with_diffs_and_refuses_conflicts_and_built_in_names(
    console: Any,
) -> None:
    c, h = _editor(console)
    refused = c.post("/studio/save", data=_form(), headers=h)  # the conflict
    assert refused.status_code == 422 and "not saved" in refused.text
    first = c.post("/studio/save", data=_form(**{"o0-action": "keep", "comment": "v1"}), headers=h)
    assert first.status_code == 303
    v1 = int(first.headers["location"].rsplit("/", 1)[1])
    second = c.post(
        "/studio/save",
        data=_form(**{"o0-action": "keep", "parent": str(v1), "option": ["clean-descriptors"]}),
        headers=h,
    )
    v2 = int(second.headers["location"].rsplit("/", 1)[1])
    page = c.get(f"/studio/versions/{v2}")
    assert "trial v2" in page.text
    assert (
        '<span class="diff-removed">- options: [retain-patient-characteristics, clean-descriptors]'
        in page.text
    )
    assert '<span class="diff-added">+ options: [clean-descriptors]' in page.text
    same = c.post(
        "/studio/save",
        data=_form(**{"o0-action": "keep", "option": ["clean-descriptors"]}),
        headers=h,
    )
    assert same.headers["location"].endswith(f"/{v2}")  # unchanged: no new version
    basic = c.post("/studio/save", data=_form(name="basic", **{"o0-action": "keep"}), headers=h)
    assert basic.status_code == 422 and "built-in policy" in basic.text
    actions = [e.action for e in auditlog.entries(console.store, 20)]
    assert actions.count(Action.POLICY_SAVED) >= 4


def test_apply_makes_the_node_use_the_version_from_its_next_study(console: Any) -> None:
    c, h = _editor(console)
    saved = c.post("/studio/save", data=_form(**{"o0-action": "keep"}), headers=h)
    version = int(saved.headers["location"].rsplit("/", 1)[1])
    applied = c.post(f"/studio/versions/{version}/apply", headers=h)
    assert applied.status_code == 303
    page = c.get(f"/studio/versions/{version}")
    assert 'id="applied-badge"' in page.text and "applied: the node uses it" in page.text
    node = console.app.state.console.config.node
    source = PolicySource(console.store, node, console.app.state.console.studio.mapper)
    active = source.current()
    assert active.version_id == version and active.label == "trial v1"
    assert [p.name for p in active.profiles] == ["neuroquant"]
    assert auditlog.entries(console.store, 5)[0].action is Action.POLICY_APPLIED


def test_duplicate_export_and_import(console: Any) -> None:
    c, h = _editor(console)
    seeded = console.seeded.version_id
    copy = c.post(f"/studio/versions/{seeded}/duplicate", data={"name": "copy"}, headers=h)
    assert copy.status_code == 303
    new = console.store.policies.get(int(copy.headers["location"].rsplit("/", 1)[1]))
    assert new.name == "copy" and new.number == 1 and new.source is VersionSource.DUPLICATE
    exported = c.get(f"/studio/versions/{new.id}/export")
    assert exported.headers["content-disposition"] == 'attachment; filename="copy-v1.yaml"'
    assert exported.text == new.text
    text = exported.text.replace("name: copy", "name: imported")
    imported = c.post(
        "/studio/import", files={"file": ("p.yaml", text.encode())}, data={}, headers=h
    )
    assert imported.status_code == 303
    version = console.store.policies.get(int(imported.headers["location"].rsplit("/", 1)[1]))
    assert version.source is VersionSource.IMPORT and version.text == text
    broken = c.post(
        "/studio/import",
        files={"file": ("p.yaml", b"name: x\noptions: [retain-everything]\n")},
        headers=h,
    )
    assert broken.status_code == 422 and "line 2" in broken.text


def test_only_the_policy_editor_saves_and_applies(console: Any) -> None:
    viewer = client(console.app)
    csrf = sign_in(viewer, "viewer")
    h = {"X-CSRF-Token": csrf}
    assert viewer.get("/studio").status_code == 200  # everyone may read policies
    assert viewer.post("/studio/save", data=_form(), headers=h).status_code == 403
    seeded = console.seeded.version_id
    assert viewer.post(f"/studio/versions/{seeded}/apply", headers=h).status_code == 403
    assert "Save version" not in viewer.get("/studio/edit?builtin=basic").text


def test_values_typed_into_a_policy_render_as_text(console: Any) -> None:
    c, h = _editor(console)
    form = _form(
        description=XSS,
        **{"o0-attribute": "StudyDescription", "o0-action": "replace", "o0-value": XSS},
    )
    page = c.post("/studio/edit", data={**form, "op": "add-public"}, headers=h)
    assert XSS not in page.text and "&lt;script&gt;" in page.text


def test_the_attribute_list_follows_what_is_typed(console: Any) -> None:
    c, _ = _editor(console)
    answer = c.get(
        "/studio/attributes",
        params={"o3-attribute": "PatientAg", "sop_class": "1.2.840.10008.5.1.4.1.1.4"},
    )
    assert '<option value="PatientAge"' in answer.text
    assert 'id="info-3" hx-swap-oob="true">PatientAg' not in answer.text  # an unknown attribute
    exact = c.get("/studio/attributes", params={"o3-attribute": "PatientAge"})
    assert 'id="info-3" hx-swap-oob="true">PatientAge — (0010,1010), AS' in exact.text


def test_the_api_twin_checks_saves_applies_and_lists(console: Any) -> None:
    c, h = _editor(console)
    text = (
        "name: api\nrequirements: [neuroquant]\noverrides:\n"
        "  - {attribute: Manufacturer, action: remove}\n"
    )
    review = c.post("/api/v1/policies/check", json={"yaml": text}, headers=h).json()
    assert not review["ok"] and review["conflicts"][0]["requirement"].startswith(
        "neuroquant/manufacturer"
    )
    assert review["will_it_process"]["neuroquant"][0]["verdict"] == "removed"
    assert c.post("/api/v1/policies", json={"yaml": text}, headers=h).status_code == 422
    fixed = text.replace("remove", "keep")
    saved = c.post("/api/v1/policies", json={"yaml": fixed, "comment": "api"}, headers=h)
    assert saved.status_code == 201
    version = saved.json()["id"]
    assert c.post(f"/api/v1/policies/{version}/apply", headers=h).json()["ok"]
    listed = c.get("/api/v1/policies").json()
    assert next(v for v in listed if v["applied"])["id"] == version
    detail = c.get(f"/api/v1/policies/{version}").json()
    assert detail["text"] == fixed and detail["review"]["ok"]
