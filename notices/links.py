"""Signed, expiring owner links (itsdangerous) and the CSRF tokens bound to them.

A token carries the notice id and an expiry time; the signature covers both, so a changed
token is refused as tampered and an old one as expired. The expiry is checked against the
injected clock, never the wall clock.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from itsdangerous import BadSignature, URLSafeSerializer

from spinneret.notices.clock import Clock, SystemClock, as_utc
from spinneret.notices.errors import CsrfError, LinkExpired, LinkTampered

_SALT = "spinneret.owner-link"
SECRET_KEY_FILE = "secret_key"


def load_secret_key(settings) -> bytes:
    """`settings.secret_key`, else a key generated once into `<data_dir>/secret_key` (0600)."""
    configured = settings.secret_key.get_secret_value() if settings.secret_key else ""
    if configured:
        return configured.encode()
    path = Path(settings.data_dir) / SECRET_KEY_FILE
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: when two processes race, one writes and both read the same key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_text().strip()
    if not key:
        raise FileNotFoundError(path)
    return key.encode()


@dataclass(frozen=True)
class OwnerLink:
    notice_id: int
    expires_at: float  # epoch seconds
    nonce: str = ""  # must equal the notice's owner_token_nonce (lets links be revoked)


class OwnerLinks:
    """Makes and checks owner-page tokens and URLs."""

    def __init__(
        self, secret_key: bytes, *, base_url: str, ttl_s: float, clock: Clock | None = None
    ) -> None:
        self._key = secret_key
        self._serializer = URLSafeSerializer(secret_key, salt=_SALT)
        self.base_url = base_url.rstrip("/")
        self.ttl_s = ttl_s
        self.clock = clock or SystemClock()

    @classmethod
    def from_settings(cls, settings, clock: Clock | None = None) -> OwnerLinks:
        return cls(
            load_secret_key(settings),
            base_url=settings.public_base_url,
            ttl_s=settings.owner_link_ttl_s,
            clock=clock,
        )

    def token(self, notice_id: int, *, nonce: str = "", issued_at: datetime | None = None) -> str:
        issued = as_utc(issued_at) if issued_at else self.clock.now()
        expires = issued.timestamp() + self.ttl_s
        return self._serializer.dumps({"n": int(notice_id), "e": int(expires), "k": nonce})

    def url(self, notice_id: int, *, nonce: str = "", issued_at: datetime | None = None) -> str:
        token = self.token(notice_id, nonce=nonce, issued_at=issued_at)
        return f"{self.base_url}/owner/{token}"

    def verify(self, token: str) -> OwnerLink:
        """The link's notice, or `LinkTampered` / `LinkExpired`."""
        try:
            payload = self._serializer.loads(token)
        except BadSignature:
            raise LinkTampered() from None
        if not isinstance(payload, dict) or not {"n", "e"} <= payload.keys():
            raise LinkTampered()
        link = OwnerLink(notice_id=int(payload["n"]), expires_at=float(payload["e"]),
                         nonce=str(payload.get("k", "")))
        if self.clock.now().timestamp() >= link.expires_at:
            raise LinkExpired()
        return link

    def csrf_token(self, token: str) -> str:
        """A form token bound to one owner link: valid only with that link."""
        return hmac.new(self._key, b"csrf:" + token.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, token: str, submitted: str | None) -> None:
        # Compared as bytes: compare_digest refuses non-ASCII text, and a token is ASCII.
        expected = self.csrf_token(token).encode()
        if not submitted or not hmac.compare_digest(expected, submitted.encode("utf-8", "replace")):
            raise CsrfError()
