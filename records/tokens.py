"""API tokens: created once (the secret is shown once), stored as a SHA-256 hash, revocable.

A token is `spn_` + 43 URL-safe characters (256 bits of randomness), so a plain SHA-256 of it
is safe to store: there is nothing to brute-force. Creating and revoking are audited.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from spinneret.records.audit import write_event
from spinneret.records.db import Database
from spinneret.records.errors import RecordsError
from spinneret.records.models import TOKEN_ROLES, ApiToken
from spinneret.records.sqltypes import utcnow

TOKEN_PREFIX = "spn_"
# last_used_at is refreshed at most this often, so reads do not each take a write lock.
LAST_USED_RESOLUTION = timedelta(seconds=60)
MAX_NAME = 100


class TokenError(RecordsError):
    """A token cannot be created or revoked as asked."""


class TokenNotFound(TokenError):
    def __init__(self, token_id: int) -> None:
        super().__init__(f"no API token with id {token_id}")
        self.token_id = token_id


@dataclass(frozen=True)
class TokenRecord:
    id: int
    name: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class NewToken:
    record: TokenRecord
    secret: str  # shown once; only its hash is stored


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _to_record(row: ApiToken) -> TokenRecord:
    return TokenRecord(id=row.id, name=row.name, role=row.role, created_at=row.created_at,
                       last_used_at=row.last_used_at, revoked_at=row.revoked_at)


def create_token(db: Database, role: str, name: str | None, actor: str) -> NewToken:
    if role not in TOKEN_ROLES:
        raise TokenError(f"unknown role {role!r} (one of {', '.join(TOKEN_ROLES)})")
    name = (name or "").strip() or f"{role}-token"
    if len(name) > MAX_NAME or any(ord(c) < 32 for c in name):
        raise TokenError(f"token name must be 1-{MAX_NAME} printable characters")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.session() as session:
        row = ApiToken(name=name, role=role, token_hash=hash_token(secret))
        session.add(row)
        session.flush()
        write_event(session, actor, "token.create", f"token:{row.id}",
                    {"name": name, "role": role})
        return NewToken(_to_record(row), secret)


def list_tokens(db: Database, *, include_revoked: bool = True) -> list[TokenRecord]:
    query = select(ApiToken).order_by(ApiToken.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked_at.is_(None))
    with db.session(readonly=True) as session:
        return [_to_record(row) for row in session.scalars(query)]


def get_token(db: Database, token_id: int) -> TokenRecord:
    with db.session(readonly=True) as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise TokenNotFound(token_id)
        return _to_record(row)


def revoke_token(db: Database, token_id: int, actor: str) -> TokenRecord:
    """Revoke a token at once; revoking a revoked token is an error (nothing changes)."""
    with db.session() as session:
        row = session.get(ApiToken, token_id)
        if row is None:
            raise TokenNotFound(token_id)
        if row.revoked_at is not None:
            raise TokenError(f"API token {token_id} is already revoked")
        row.revoked_at = utcnow()
        write_event(session, actor, "token.revoke", f"token:{row.id}",
                    {"name": row.name, "role": row.role})
        session.flush()
        return _to_record(row)


def _find(session: Session, secret: str) -> ApiToken | None:
    return session.scalars(
        select(ApiToken).where(ApiToken.token_hash == hash_token(secret),
                               ApiToken.revoked_at.is_(None))
    ).one_or_none()


def authenticate(db: Database, secret: str) -> TokenRecord | None:
    """The active token with this secret, or None. Refreshes `last_used_at` now and then."""
    if not secret or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    with db.session(readonly=True) as session:
        row = _find(session, secret)
        if row is None:
            return None
        record = _to_record(row)
    now = utcnow()
    if record.last_used_at is None or now - record.last_used_at > LAST_USED_RESOLUTION:
        with db.session() as session:
            row = session.get(ApiToken, record.id)
            if row is not None:
                row.last_used_at = now
    return record
