"""Who is calling: Bearer tokens for the API, a signed session cookie for the UI, CSRF tokens.

The session cookie (itsdangerous, signed and timestamped) holds the token's id and a random
session nonce, never the token itself; the token is checked for revocation on every request.
A form's CSRF token is an HMAC of the session nonce, so it is only valid with that session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from aiohttp import web
from itsdangerous import BadSignature, URLSafeTimedSerializer

from spinneret.api.endpoints import ROLE_RANK
from spinneret.records.db import Database
from spinneret.records.tokens import TokenNotFound, TokenRecord, authenticate, get_token

SESSION_COOKIE = "spn_session"
LOGIN_COOKIE = "spn_login"
SESSION_MAX_AGE_S = 12 * 3600


@dataclass(frozen=True)
class Principal:
    token_id: int
    name: str
    role: str
    session_nonce: str = ""  # set for UI sessions

    @property
    def actor(self) -> str:
        """How the audit log names this caller."""
        return f"api:{self.name}#{self.token_id}"

    def may(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]


def _principal(token: TokenRecord, nonce: str = "") -> Principal:
    return Principal(token.id, token.name, token.role, nonce)


class Auth:
    def __init__(self, db: Database, secret_key: bytes) -> None:
        self._db = db
        self._key = secret_key
        self._sessions = URLSafeTimedSerializer(secret_key, salt="spinneret.session")

    # -- API ----------------------------------------------------------------------------
    def bearer(self, request: web.Request) -> Principal | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        token = authenticate(self._db, value.strip())
        return _principal(token) if token else None

    # -- UI sessions ----------------------------------------------------------------------
    def login(self, secret: str) -> tuple[Principal, str] | None:
        """Check a pasted token; returns the principal and the session cookie value."""
        token = authenticate(self._db, secret.strip())
        if token is None:
            return None
        nonce = secrets.token_urlsafe(18)
        return _principal(token, nonce), self._sessions.dumps({"t": token.id, "n": nonce})

    def session(self, request: web.Request) -> Principal | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            data = self._sessions.loads(raw, max_age=SESSION_MAX_AGE_S)
            token = get_token(self._db, int(data["t"]))
        except (BadSignature, KeyError, TypeError, ValueError, TokenNotFound):
            return None
        if not token.active:
            return None
        return _principal(token, str(data.get("n", "")))

    # -- CSRF -----------------------------------------------------------------------------
    def csrf_token(self, nonce: str, purpose: str = "session") -> str:
        return hmac.new(self._key, f"csrf:{purpose}:{nonce}".encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, nonce: str, submitted: str | None, purpose: str = "session") -> bool:
        # As bytes: compare_digest refuses str with non-ASCII characters.
        return bool(nonce and submitted) and hmac.compare_digest(
            self.csrf_token(nonce, purpose).encode(), str(submitted).encode())


def set_cookie(response: web.StreamResponse, name: str, value: str, *, secure: bool,
               max_age: int | None = SESSION_MAX_AGE_S) -> None:
    response.set_cookie(name, value, httponly=True, samesite="Strict", secure=secure,
                        path="/", max_age=max_age)
