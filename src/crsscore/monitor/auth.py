"""Access to the monitor: API tokens (stored as SHA-256 hashes, revocable) and page sessions.

A token is 32 random bytes (``crsmon_`` + URL-safe base64), shown once when created
(``crsscore monitor token create NAME``) and never stored: the database keeps its SHA-256,
which is enough for a secret of that entropy.  The API takes it as ``Authorization: Bearer
TOKEN``.  The pages take a session cookie obtained by logging in with a token; the session id
is also stored hashed, expires after :data:`SESSION_HOURS` and ends when its token is revoked.
Forms on pages carry a CSRF token derived from the session id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select

from crsscore.monitor.db import ApiToken, Database, PageSession, utcnow

TOKEN_PREFIX = "crsmon_"
SESSION_COOKIE = "crsmon_session"
SESSION_HOURS = 12


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id and name (never the token)."""

    token_id: int
    name: str


def create_token(db: Database, name: str) -> str:
    """A new token named ``name`` (unique); returns the secret, shown once."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("a token name must have 1 to 100 characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.write() as session:
        if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
            raise ValueError(f"a token named {name!r} exists; revoke it or choose another name")
        session.add(ApiToken(name=name, token_hash=digest(secret), created_at=utcnow()))
    return secret


def revoke_token(db: Database, name: str) -> bool:
    """Revoke the token named ``name`` and end its sessions; False when there is none."""
    with db.write() as session:
        tok = session.scalar(select(ApiToken).where(ApiToken.name == name,
                                                    ApiToken.revoked_at.is_(None)))
        if tok is None:
            return False
        tok.revoked_at = utcnow()
        session.execute(delete(PageSession).where(PageSession.token_id == tok.id))
        return True


def list_tokens(db: Database) -> list[dict[str, object]]:
    with db.read() as session:
        return [{"name": t.name, "created": t.created_at.isoformat(timespec="seconds"),
                 "revoked": None if t.revoked_at is None
                 else t.revoked_at.isoformat(timespec="seconds")}
                for t in session.scalars(select(ApiToken).order_by(ApiToken.id))]


def check_token(db: Database, secret: str | None) -> Principal | None:
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    with db.read() as session:
        tok = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest(secret),
                                                    ApiToken.revoked_at.is_(None)))
        return None if tok is None else Principal(tok.id, tok.name)


def start_session(db: Database, who: Principal) -> str:
    sid = secrets.token_urlsafe(32)
    now = utcnow()
    with db.write() as session:
        session.execute(delete(PageSession).where(PageSession.expires_at < now))
        session.add(PageSession(id_hash=digest(sid), token_id=who.token_id, created_at=now,
                                expires_at=now + timedelta(hours=SESSION_HOURS)))
    return sid


def check_session(db: Database, sid: str | None) -> Principal | None:
    if not sid or len(sid) > 100:
        return None
    with db.read() as session:
        row = session.execute(
            select(ApiToken.id, ApiToken.name).join(PageSession,
                                                    PageSession.token_id == ApiToken.id)
            .where(PageSession.id_hash == digest(sid), PageSession.expires_at > utcnow(),
                   ApiToken.revoked_at.is_(None))).first()
        return None if row is None else Principal(int(row[0]), str(row[1]))


def end_session(db: Database, sid: str | None) -> None:
    if sid:
        with db.write() as session:
            session.execute(delete(PageSession).where(PageSession.id_hash == digest(sid)))


def csrf_token(sid: str) -> str:
    return hmac.new(sid.encode(), b"crsmon-csrf", hashlib.sha256).hexdigest()


def csrf_ok(sid: str | None, token: str | None) -> bool:
    return bool(sid and token) and hmac.compare_digest(csrf_token(str(sid)), str(token))


__all__ = ["SESSION_COOKIE", "TOKEN_PREFIX", "Principal", "check_session", "check_token",
           "create_token", "csrf_ok", "csrf_token", "end_session", "list_tokens",
           "revoke_token", "start_session"]
