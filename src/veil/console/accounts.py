"""Console accounts and API tokens, in the node's state store.

Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile), and
re-hashed at sign-in when those parameters change. A sign-in for an unknown name still spends
one hash, so response times do not tell which names exist. API tokens are 256 random bits
shown once; the store keeps their SHA-256 only (a slow hash protects guessable secrets, and
these are not guessable).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from veil.console.roles import Role, decode_roles, encode_roles
from veil.errors import VeilError
from veil.node.store import Store
from veil.node.store import console_models as cm

_hasher = PasswordHasher()  # argon2id
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024  # bounded input: argon2 hashes whatever it is given
TOKEN_PREFIX = "veil_"
# Spent on unknown names so that a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


class AccountError(VeilError):
    """An account or token cannot be created, found or changed; the message says why."""


class AccountExistsError(AccountError):
    """The name is taken (a user or a token)."""


@dataclass(frozen=True)
class User:
    id: int
    name: str
    roles: frozenset[Role]
    created_at: float


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    roles: frozenset[Role]
    created_at: float
    last_used_at: float | None


def check_name(name: str, what: str = "user name") -> str:
    if not _NAME.match(name):
        raise AccountError(
            f"a {what} has 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a "
            "letter or digit"
        )
    return name


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters (a passphrase of "
            "a few words is easiest)"
        )


def add_user(store: Store, name: str, password: str, roles: frozenset[Role]) -> User:
    check_name(name)
    check_password(password)
    now = time.time()
    try:
        with store.db.write() as conn:
            new_id = conn.execute(
                cm.users.insert().values(
                    name=name,
                    password_hash=_hasher.hash(password),
                    roles=encode_roles(roles),
                    created_at=now,
                    disabled=False,
                )
            ).inserted_primary_key
    except IntegrityError:
        raise AccountExistsError(f"a user named {name} exists already") from None
    if new_id is None:
        raise AccountError("the database did not return the new account's id")
    return User(int(new_id[0]), name, roles, now)


def list_users(store: Store) -> list[User]:
    u = cm.users
    with store.db.read() as conn:
        rows = conn.execute(select(u).order_by(u.c.name))
        return [User(r.id, r.name, decode_roles(r.roles), r.created_at) for r in rows]


def get_user(store: Store, user_id: int) -> User | None:
    u = cm.users
    with store.db.read() as conn:
        r = conn.execute(select(u).where(u.c.id == user_id, u.c.disabled.is_(False))).first()
    return None if r is None else User(r.id, r.name, decode_roles(r.roles), r.created_at)


def remove_user(store: Store, name: str) -> None:
    u = cm.users
    with store.db.write() as conn:
        found = conn.execute(select(u.c.id).where(u.c.name == name)).first()
        if found is None:
            raise AccountError(f"no user named {name} (see veil user list)")
        # Their sessions end with them.
        conn.execute(delete(cm.sessions).where(cm.sessions.c.user_id == found.id))
        conn.execute(delete(u).where(u.c.id == found.id))


def authenticate(store: Store, name: str, password: str) -> User | None:
    """The user when ``password`` is theirs, else None (same cost either way)."""
    u = cm.users
    if len(password) > MAX_PASSWORD or len(name) > 64:
        return None
    with store.db.read() as conn:
        row = conn.execute(select(u).where(u.c.name == name, u.c.disabled.is_(False))).first()
    if row is None:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password)
        return None
    try:
        _hasher.verify(row.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        with store.db.write() as conn:
            conn.execute(
                update(u).where(u.c.id == row.id).values(password_hash=_hasher.hash(password))
            )
    return User(row.id, row.name, decode_roles(row.roles), row.created_at)


# ---- API tokens ----------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(store: Store, name: str, roles: frozenset[Role]) -> str:
    """A new token for scripts; returned once, stored hashed."""
    check_name(name, "token name")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with store.db.write() as conn:
            conn.execute(
                cm.tokens.insert().values(
                    name=name,
                    token_hash=_token_hash(token),
                    roles=encode_roles(roles),
                    created_at=time.time(),
                )
            )
    except IntegrityError:
        raise AccountExistsError(f"a token named {name} exists already (revoke it first)") from None
    return token


def list_tokens(store: Store) -> list[TokenInfo]:
    t = cm.tokens
    with store.db.read() as conn:
        rows = conn.execute(select(t).order_by(t.c.name))
        return [
            TokenInfo(r.id, r.name, decode_roles(r.roles), r.created_at, r.last_used_at)
            for r in rows
        ]


def revoke_token(store: Store, name: str) -> None:
    t = cm.tokens
    with store.db.write() as conn:
        if not conn.execute(delete(t).where(t.c.name == name)).rowcount:
            raise AccountError(f"no token named {name} (see veil token list)")


def token_principal(store: Store, token: str) -> TokenInfo | None:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    t = cm.tokens
    digest = _token_hash(token)
    with store.db.read() as conn:
        row = conn.execute(select(t).where(t.c.token_hash == digest)).first()
    if row is None or not secrets.compare_digest(row.token_hash, digest):
        return None
    now = time.time()
    if row.last_used_at is None or now - row.last_used_at > 60:  # one write a minute at most
        with store.db.write() as conn:
            conn.execute(update(t).where(t.c.id == row.id).values(last_used_at=now))
    return TokenInfo(row.id, row.name, decode_roles(row.roles), row.created_at, now)
