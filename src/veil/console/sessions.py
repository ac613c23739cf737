"""Server-side sessions: the cookie holds 256 random bits, the store their SHA-256.

A session exists before sign-in too (user None): it carries the CSRF token of the sign-in
form. Signing in replaces it with a new session (new id, new CSRF token), so an id planted
before sign-in is worthless after it. A session ends after ``idle`` seconds without a request,
or ``lifetime`` seconds after it began, whichever comes first.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import and_, delete, or_, select, update

from veil.node.store import Store
from veil.node.store import console_models as cm

# Expired sessions are deleted at most this often, from whichever request creates one.
_SWEEP_EVERY = 300.0

# Writing last_seen at every request would make every page view a database write; a session
# that is a few seconds "younger" than its true last request changes nothing that matters.
_TOUCH_EVERY = 5.0


@dataclass(frozen=True)
class Session:
    id: str  # the cookie value; never stored, never logged
    user_id: int | None
    csrf_token: str
    created_at: float


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


class Sessions:
    def __init__(self, store: Store, idle_seconds: float, lifetime_seconds: float) -> None:
        self.store = store
        self.idle = idle_seconds
        self.lifetime = lifetime_seconds
        self._swept = 0.0

    def create(self, user_id: int | None) -> Session:
        now = time.time()
        if now - self._swept > _SWEEP_EVERY:  # bounded: pre-sign-in sessions expire in 1 h
            self._swept = now
            self.sweep()
        session = Session(secrets.token_urlsafe(32), user_id, secrets.token_urlsafe(32), now)
        with self.store.db.write() as conn:
            conn.execute(
                cm.sessions.insert().values(
                    id_hash=_digest(session.id),
                    user_id=user_id,
                    csrf_token=session.csrf_token,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of this cookie value, touched; None when unknown or expired."""
        if not session_id or len(session_id) > 100:
            return None
        s = cm.sessions
        now = time.time()
        digest = _digest(session_id)
        with self.store.db.read() as conn:
            row = conn.execute(select(s).where(s.c.id_hash == digest)).first()
        if row is None:
            return None
        if now - row.last_seen_at > self.idle or now - row.created_at > self.lifetime:
            self.end(session_id)
            return None
        if now - row.last_seen_at > _TOUCH_EVERY:
            with self.store.db.write() as conn:
                conn.execute(update(s).where(s.c.id_hash == digest).values(last_seen_at=now))
        return Session(session_id, row.user_id, row.csrf_token, row.created_at)

    def flash(self, session_id: str, message: str) -> None:
        """Keep ``message`` for the next page this session shows (after a redirect)."""
        s = cm.sessions
        with self.store.db.write() as conn:
            conn.execute(
                update(s).where(s.c.id_hash == _digest(session_id)).values(flash=message[:300])
            )

    def pop_flash(self, session_id: str) -> str | None:
        s = cm.sessions
        digest = _digest(session_id)
        with self.store.db.write() as conn:
            message = conn.execute(select(s.c.flash).where(s.c.id_hash == digest)).scalar()
            if message is not None:
                conn.execute(update(s).where(s.c.id_hash == digest).values(flash=None))
        return None if message is None else str(message)

    def end(self, session_id: str) -> None:
        with self.store.db.write() as conn:
            conn.execute(delete(cm.sessions).where(cm.sessions.c.id_hash == _digest(session_id)))

    def sweep(self) -> int:
        """Delete expired sessions; the number deleted."""
        s = cm.sessions
        now = time.time()
        with self.store.db.write() as conn:
            result = conn.execute(
                delete(s).where(
                    or_(
                        s.c.last_seen_at < now - self.idle,
                        s.c.created_at < now - self.lifetime,
                        and_(s.c.user_id.is_(None), s.c.created_at < now - 3600),
                    )
                )
            )
            return result.rowcount or 0
