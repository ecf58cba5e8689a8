"""Admin sessions: random bearer tokens for the admin API, stored hashed, expiring, revocable.

Session tokens carry 256 random bits, so a fast hash (SHA-256) is enough to store them:
unlike passwords they cannot be guessed from a list.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets

from app.models import Admin, AdminSession, utcnow
from app.services.validation import iso

SESSION_PREFIX = "mps_"
DEFAULT_TTL = dt.timedelta(hours=12)
_WELL_FORMED = re.compile(re.escape(SESSION_PREFIX) + r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(admin: Admin, client_ip: str | None, ttl: dt.timedelta = DEFAULT_TTL
          ) -> tuple[str, AdminSession]:
    """A new session for `admin`; returns the plaintext token (shown once) and the row."""
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    session = AdminSession.create(admin=admin, token_hash=_digest(token),
                                  expires_at=utcnow() + ttl, client_ip=client_ip)
    return token, session


def bearer(authorization: str | None) -> str | None:
    """The session token an `Authorization: Bearer mps_...` header carries; None when it
    carries none, or nothing shaped like one (which is then never looked up)."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not _WELL_FORMED.fullmatch(token):
        return None
    return token


def lookup(token: str) -> AdminSession | None:
    """The live session a presented token opens, with its admin; None if none. Reads only."""
    if not token.startswith(SESSION_PREFIX):
        return None
    session = (AdminSession.select(AdminSession, Admin).join(Admin)
               .where(AdminSession.token_hash == _digest(token)).first())
    if session is None or session.revoked or session.expires_at <= utcnow():
        return None
    return session


def resolve(token: str) -> AdminSession | None:
    """The live session a token opens, marked as seen now (one write a minute at most)."""
    session = lookup(token)
    now = utcnow()
    if session is not None and now - session.last_seen_at > dt.timedelta(minutes=1):
        AdminSession.update(last_seen_at=now).where(AdminSession.id == session.id).execute()
    return session


def end(token: str) -> bool:
    """Revoke the session a token opens; True if there was one."""
    return bool(AdminSession.update(revoked=True)
                .where(AdminSession.token_hash == _digest(token)).execute())


def end_all_for(admin_id: int, keep: str | None = None) -> int:
    """Revoke every session of an admin (password change), but the one `keep` opens."""
    query = AdminSession.update(revoked=True).where(AdminSession.admin == admin_id)
    if keep:
        query = query.where(AdminSession.token_hash != _digest(keep))
    return query.execute()


def purge_expired() -> int:
    return AdminSession.delete().where(AdminSession.expires_at <= utcnow()).execute()


def to_dict(session: AdminSession) -> dict:
    return {"id": session.id, "created_at": iso(session.created_at),
            "expires_at": iso(session.expires_at), "client_ip": session.client_ip}
