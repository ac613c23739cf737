"""Roles and what each may see and do: the one place that decides it.

Deny by default: a permission not granted here is refused, to every role; a route that asks
for no permission does not exist (the route table test checks every route names one, or is
one of the few public ones: sign-in, health, static files). Originals (patient names, IDs,
original UIDs) are behind ``REVEAL_ORIGINALS`` only, which only ``reidentifier`` holds:
not even ``admin`` sees them, so that running the node and re-identifying people are
separate duties.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from veil.errors import VeilError


class Role(str, Enum):
    VIEWER = "viewer"  # watches the node; pseudonyms only
    OPERATOR = "operator"  # retries, pauses, processes now, tests destinations, purges
    POLICY_EDITOR = "policy-editor"  # edits policies (console part 2: the Privacy studio)
    REIDENTIFIER = "reidentifier"  # looks a pseudonym up, with a reason; every reveal logged
    ADMIN = "admin"  # accounts, tokens, the audit log


class Permission(str, Enum):
    VIEW_NODE = "view-node"  # dashboard, studies, quarantine, destinations (pseudonyms only)
    VIEW_METRICS = "view-metrics"
    ACT_ON_STUDIES = "act-on-studies"  # retry, process now
    PAUSE_DESTINATIONS = "pause-destinations"
    TEST_DESTINATIONS = "test-destinations"  # C-ECHO, DICOMweb and folder tests
    PURGE_QUARANTINE = "purge-quarantine"
    REVEAL_ORIGINALS = "reveal-originals"
    VIEW_AUDIT_LOG = "view-audit-log"
    MANAGE_USERS = "manage-users"
    EDIT_POLICIES = "edit-policies"  # part 2
    RUN_JOBS = "run-jobs"  # part 2: de-identify from the browser


_ALL_WATCH = frozenset({Permission.VIEW_NODE, Permission.VIEW_METRICS})

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: _ALL_WATCH,
    Role.OPERATOR: _ALL_WATCH
    | {
        Permission.ACT_ON_STUDIES,
        Permission.PAUSE_DESTINATIONS,
        Permission.TEST_DESTINATIONS,
        Permission.PURGE_QUARANTINE,
        Permission.RUN_JOBS,
    },
    Role.POLICY_EDITOR: _ALL_WATCH | {Permission.EDIT_POLICIES},
    Role.REIDENTIFIER: _ALL_WATCH | {Permission.REVEAL_ORIGINALS},
    Role.ADMIN: _ALL_WATCH
    | {
        Permission.VIEW_AUDIT_LOG,
        Permission.MANAGE_USERS,
        Permission.PAUSE_DESTINATIONS,
        Permission.TEST_DESTINATIONS,
    },
}


class RoleError(VeilError):
    """An unknown role name."""


def parse_roles(names: Iterable[str]) -> frozenset[Role]:
    roles = set()
    for name in names:
        try:
            roles.add(Role(name.strip()))
        except ValueError:
            choices = ", ".join(r.value for r in Role)
            raise RoleError(f"unknown role {name.strip()!r}: choose from {choices}") from None
    if not roles:
        raise RoleError("give at least one role (--role ROLE)")
    return frozenset(roles)


def permissions(roles: Iterable[Role]) -> frozenset[Permission]:
    granted: set[Permission] = set()
    for role in roles:
        granted |= GRANTS.get(role, frozenset())
    return frozenset(granted)


def allowed(roles: Iterable[Role], permission: Permission) -> bool:
    return permission in permissions(roles)


def encode_roles(roles: Iterable[Role]) -> str:
    return ",".join(sorted(r.value for r in roles))


def decode_roles(text: str) -> frozenset[Role]:
    """Roles as stored; an unknown stored name grants nothing (deny by default)."""
    known = {r.value: r for r in Role}
    return frozenset(known[n] for n in text.split(",") if n in known)
