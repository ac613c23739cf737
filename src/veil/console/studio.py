"""The Privacy studio's logic, shared by its pages and its API: the form read into a policy
document, versions saved, compared, applied, imported and duplicated (each audited).

Policies edited here name destination profiles, never files (`veil.check.catalog`), and may
not take a built-in policy's name. Every save is a version (`veil.node.store.policies`);
nothing is saved that does not compile without conflict.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from veil.check.catalog import ProfileCatalog
from veil.console import auditlog
from veil.console.auditlog import Action, Outcome
from veil.node.store import Store
from veil.node.store.policies import Applied, PolicyVersion, VersionSource
from veil.policy.document import OverrideLine, PolicyDocument, option_names
from veil.policy.loader import BUILTIN_NAMES, builtin_policy_text
from veil.policy.model import OVERRIDE_WORDS
from veil.policy_review import PolicyReview, review_policy_text

MAX_OVERRIDES = 500
MAX_TEXT = 256 * 1024  # a policy file larger than this is not a policy
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
DRAFT = "draft"


class StudioError(ValueError):
    """A studio request that cannot be honoured; the message says what to change."""


def _first(form: Mapping[str, object], key: str, limit: int = 1000) -> str:
    value = form.get(key)
    return value[:limit] if isinstance(value, str) else ""


def _override_from_form(form: Mapping[str, object], index: int) -> OverrideLine | None:
    """Row ``index`` of the editor, None when removed; rows not filled in yet stay (blank)."""

    def field(name: str, limit: int = 200) -> str:
        return _first(form, f"o{index}-{name}", limit).strip()

    if field("remove") or f"o{index}-action" not in form:
        return None
    action = field("action") or "keep"
    if field("kind") == "private":
        return OverrideLine(
            action,
            value=field("value", 1000),
            creator=field("creator", 64),
            group=field("group", 6),
            element=field("element", 6),
            private=True,
        )
    return OverrideLine(action, field("attribute", 80), field("value", 1000))


def document_from_form(
    form: Mapping[str, object], values: Mapping[str, Sequence[str]]
) -> PolicyDocument:
    """The editor's fields as a document (``values``: the repeated fields, all their values).
    Unknown options and profiles are kept: the review names them with their line."""
    raw_count = _first(form, "overrides", 6)
    count = min(int(raw_count), MAX_OVERRIDES) if raw_count.isdigit() else 0
    overrides = [_override_from_form(form, index) for index in range(count)]
    return PolicyDocument(
        name=_first(form, "name", 64).strip() or "untitled",
        description=_first(form, "description", 500).strip(),
        options=tuple(o for o in option_names() if o in values.get("option", ())),
        requirements=tuple(dict.fromkeys(p[:64] for p in values.get("profile", ()) if p)),
        overrides=tuple(o for o in overrides if o is not None),
        layout=layout if (layout := _first(form, "layout", 16)) in ("mirror", "hierarchy") else "",
    )


def review(text: str, catalog: ProfileCatalog, origin: str = DRAFT) -> PolicyReview:
    if len(text) > MAX_TEXT:
        return PolicyReview(text, errors=(f"{origin}: the policy is larger than {MAX_TEXT} bytes",))
    return review_policy_text(text, origin, catalog)


def starting_text(
    store: Store, version_id: int | None, builtin: str | None
) -> tuple[str, int | None]:
    """The text a new draft starts from: a version, a built-in policy, else ``basic``."""
    if version_id is not None:
        version = store.policies.get(version_id)
        if version is not None:
            return version.text, version.id
    name = builtin if builtin in BUILTIN_NAMES else "basic"
    return builtin_policy_text(name), None


def check_name(name: str) -> str | None:
    """Why a policy may not be saved under ``name``, or None."""
    if name in BUILTIN_NAMES:
        return f"'{name}' is a built-in policy; save yours under another name"
    if not _NAME.match(name):
        return "a policy name is 1 to 64 letters, digits, spaces, dots, dashes or underscores"
    return None


@dataclass(frozen=True)
class Saved:
    version: PolicyVersion | None
    created: bool
    review: PolicyReview
    problem: str | None = None


def save(
    store: Store,
    catalog: ProfileCatalog,
    actor: str,
    text: str,
    comment: str = "",
    parent_id: int | None = None,
    source: VersionSource = VersionSource.STUDIO,
) -> Saved:
    """Save ``text`` as a new version if it compiles without conflict; audited."""
    reviewed = review(text, catalog)
    action = Action.POLICY_IMPORTED if source is VersionSource.IMPORT else Action.POLICY_SAVED
    problem = None
    if reviewed.errors:
        problem = "not saved: " + reviewed.errors[0]
    elif reviewed.conflicts:
        problem = f"not saved: {len(reviewed.conflicts)} conflict(s) to resolve first"
    elif reviewed.document is not None:
        problem = check_name(reviewed.document.name)
    if problem is not None or reviewed.document is None:
        auditlog.append(store, actor, action, "", Outcome.REFUSED, problem or "")
        return Saved(None, False, reviewed, problem)
    version, created = store.policies.save(
        reviewed.document.name, text, actor, source, comment, parent_id
    )
    detail = f"version {version.number}" if created else "unchanged: same text as the newest"
    auditlog.append(store, actor, action, version.label, Outcome.OK, detail)
    return Saved(version, created, reviewed)


def apply(store: Store, catalog: ProfileCatalog, actor: str, version_id: int) -> tuple[bool, str]:
    """Make a version the node's policy (from its next study on); audited."""
    version = store.policies.get(version_id)
    if version is None:
        auditlog.append(
            store,
            actor,
            Action.POLICY_APPLIED,
            str(version_id)[:20],
            Outcome.REFUSED,
            "no such version",
        )
        return False, "no such policy version"
    reviewed = review(version.text, catalog, f"policy {version.label}")
    if not reviewed.ok:
        message = (
            "cannot apply: " + (reviewed.errors or tuple(c.message for c in reviewed.conflicts))[0]
        )
        auditlog.append(
            store, actor, Action.POLICY_APPLIED, version.label, Outcome.REFUSED, message
        )
        return False, message
    store.policies.apply(version.id, actor)
    message = f"{version.label} applied: the node uses it from its next study"
    auditlog.append(store, actor, Action.POLICY_APPLIED, version.label, Outcome.OK, message)
    return True, message


def duplicate(
    store: Store, catalog: ProfileCatalog, actor: str, version_id: int, name: str
) -> Saved:
    """A copy of a version under a new name (its first version)."""
    version = store.policies.get(version_id)
    if version is None:
        return Saved(None, False, PolicyReview(""), "no such policy version")
    name = name.strip()
    problem = check_name(name)
    if problem is None and store.policies.name_taken(name):
        problem = f"a policy called '{name}' exists; choose a new name"
    reviewed = review(version.text, catalog)
    if problem is not None or reviewed.document is None:
        auditlog.append(
            store, actor, Action.POLICY_SAVED, name[:64], Outcome.REFUSED, problem or ""
        )
        return Saved(None, False, reviewed, problem or "the version does not read as a policy")
    text = replace(reviewed.document, name=name).to_yaml()
    return save(
        store,
        catalog,
        actor,
        text,
        f"duplicate of {version.label}",
        version.id,
        VersionSource.DUPLICATE,
    )


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same", "added", "removed", "hunk"
    text: str


def diff(old: str, new: str) -> list[DiffLine]:
    """A unified diff of two policy texts, line by line."""
    lines: list[DiffLine] = []
    for line in difflib.unified_diff(
        old.splitlines(), new.splitlines(), "before", "after", lineterm="", n=3
    ):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            lines.append(DiffLine("hunk", line))
        elif line.startswith("+"):
            lines.append(DiffLine("added", line[1:]))
        elif line.startswith("-"):
            lines.append(DiffLine("removed", line[1:]))
        else:
            lines.append(DiffLine("same", line[1:]))
    return lines


@dataclass(frozen=True)
class VersionView:
    version: PolicyVersion
    previous: PolicyVersion | None
    diff: list[DiffLine]
    applied: bool
    studies: int


def version_view(store: Store, version: PolicyVersion, applied: Applied | None) -> VersionView:
    previous = store.policies.previous(version)
    return VersionView(
        version,
        previous,
        diff(previous.text, version.text) if previous is not None else [],
        applied is not None and applied.version.id == version.id,
        store.policies.studies_of(version.id),
    )


def override_words() -> tuple[str, ...]:
    return tuple(OVERRIDE_WORDS)


__all__ = [
    "DRAFT",
    "DiffLine",
    "Saved",
    "StudioError",
    "VersionView",
    "apply",
    "check_name",
    "diff",
    "document_from_form",
    "duplicate",
    "override_words",
    "review",
    "save",
    "starting_text",
    "version_view",
]
