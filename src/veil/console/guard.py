"""Who is asking, and may they: every route is registered here with the permission it needs.

``GuardedRouter`` wraps FastAPI's router so that a route cannot be added without naming a
permission (or ``PUBLIC`` explicitly); the permission table it builds is what the role-matrix
test walks, and what the route test compares with the application's routes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request

from veil.console.accounts import get_user, token_principal
from veil.console.roles import Permission, Role, permissions
from veil.console.sessions import Session

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


class Public:
    """Marker: the route needs no sign-in (sign-in page, health, OpenAPI schema)."""


PUBLIC = Public()
Requirement = Permission | Public


@dataclass(frozen=True)
class Principal:
    name: str
    roles: frozenset[Role]
    via: str  # "session" or "token"
    session: Session | None = None

    def can(self, permission: Permission) -> bool:
        return permission in permissions(self.roles)

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token if self.session is not None else ""


class NotSignedIn(Exception):
    """No valid session or token: pages redirect to sign-in, the API answers 401."""


class Forbidden(Exception):
    """Signed in, but the role does not grant the permission: 403."""


def principal_of(request: Request) -> Principal | None:
    """The signed-in user (session cookie) or script (bearer token) of this request."""
    console = request.app.state.console
    if getattr(request.state, "bearer", False):
        token = request.headers.get("authorization", "")[len("Bearer ") :].strip()
        info = token_principal(console.store, token)
        return None if info is None else Principal(f"token:{info.name}", info.roles, "token")
    session: Session | None = getattr(request.state, "session", None)
    if session is None or session.user_id is None:
        return None
    user = get_user(console.store, session.user_id)
    if user is None:
        return None
    return Principal(user.name, user.roles, "session", session)


def require(requirement: Requirement) -> Callable[[Request], Principal | None]:
    def dependency(request: Request) -> Principal | None:
        principal = principal_of(request)
        request.state.principal = principal
        if isinstance(requirement, Public):
            return principal
        if principal is None:
            raise NotSignedIn()
        if not principal.can(requirement):
            raise Forbidden()
        return principal

    return dependency


class GuardedRouter:
    """An APIRouter whose every route declares its permission."""

    def __init__(self, **kwargs: Any) -> None:
        self.router = APIRouter(**kwargs)
        self.prefix = str(kwargs.get("prefix", ""))
        self.permissions: dict[tuple[str, str], Requirement] = {}

    def _add(
        self, method: str, path: str, requirement: Requirement, **kwargs: Any
    ) -> Callable[[Endpoint], Endpoint]:
        # GET never changes state: a route that needs an acting permission is a POST.
        if (
            method == "GET"
            and isinstance(requirement, Permission)
            and requirement not in _READ_PERMISSIONS
        ):
            raise ValueError(f"GET {path} needs {requirement.value}: make it a POST")
        self.permissions[(method, self.prefix + path)] = requirement
        dependencies = [*kwargs.pop("dependencies", []), Depends(require(requirement))]
        decorator: Callable[[Endpoint], Endpoint] = self.router.api_route(
            path, methods=[method], dependencies=dependencies, **kwargs
        )
        return decorator

    def get(
        self, path: str, requirement: Requirement, **kwargs: Any
    ) -> Callable[[Endpoint], Endpoint]:
        return self._add("GET", path, requirement, **kwargs)

    def post(
        self, path: str, requirement: Requirement, **kwargs: Any
    ) -> Callable[[Endpoint], Endpoint]:
        return self._add("POST", path, requirement, **kwargs)


# Permissions that only let a role look; GET routes may need these only.
_READ_PERMISSIONS = frozenset(
    {
        Permission.VIEW_NODE,
        Permission.VIEW_METRICS,
        Permission.VIEW_AUDIT_LOG,
        Permission.MANAGE_USERS,
        Permission.REVEAL_ORIGINALS,  # the lookup form only; the lookup itself is a POST
    }
)
