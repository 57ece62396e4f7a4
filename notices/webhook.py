"""Webhook delivery: a JSON POST signed with HMAC-SHA256 over `timestamp + "." + body`.

Headers (see docs/webhooks.md):
  X-Spinneret-Timestamp: unix seconds when this attempt was signed
  X-Spinneret-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.".encode() + body)>
  X-Spinneret-Delivery / Idempotency-Key: the same key on every retry of one delivery
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from spinneret.crawler.errors import SsrfBlocked
from spinneret.crawler.ssrf import GuardedResolver, SsrfPolicy
from spinneret.notices.clock import Clock, SystemClock
from spinneret.notices.errors import DeliveryError, WebhookSignatureError

TIMESTAMP_HEADER = "X-Spinneret-Timestamp"
SIGNATURE_HEADER = "X-Spinneret-Signature"
DELIVERY_HEADER = "X-Spinneret-Delivery"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_S = 300


def webhook_secret(secret_key: bytes, site_id: int) -> bytes:
    """The per-site signing secret, derived from the service key (show it to the owner once)."""
    digest = hmac.new(secret_key, f"webhook:{site_id}".encode(), hashlib.sha256).hexdigest()
    return digest.encode()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Raise `WebhookSignatureError` unless the signature matches and the timestamp is fresh.

    Requests signed more than `tolerance_s` ago (or that far in the future) are refused, so a
    captured request cannot be replayed later.
    """
    if not timestamp or not signature:
        raise WebhookSignatureError("missing signature headers")
    try:
        ts = int(timestamp)
    except ValueError:
        raise WebhookSignatureError("timestamp is not an integer") from None
    if abs(now - ts) > tolerance_s:
        raise WebhookSignatureError("timestamp outside the allowed window (replay?)")
    if not hmac.compare_digest(sign(secret, ts, body), signature):
        raise WebhookSignatureError("signature does not match")


def verify_request(
    secret: bytes, headers: Mapping[str, str], body: bytes, *, now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    verify_signature(
        secret, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER), body,
        now=now, tolerance_s=tolerance_s,
    )


@dataclass(frozen=True)
class WebhookRequest:
    url: str
    body: bytes
    headers: dict[str, str]


def build_request(
    url: str, payload: dict[str, Any], *, secret: bytes, idempotency_key: str, timestamp: int
) -> WebhookRequest:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        DELIVERY_HEADER: idempotency_key,
        IDEMPOTENCY_HEADER: idempotency_key,
    }
    return WebhookRequest(url=url, body=body, headers=headers)


class WebhookSender:
    """POSTs through the crawler's SSRF guard: the URL is checked before each attempt (DNS
    may have changed since the site was registered) and the connector connects only to the
    addresses the guarded resolver checked (pinned: no second lookup). Default: public
    addresses only."""

    def __init__(self, *, timeout_s: float, user_agent: str, clock: Clock | None = None,
                 policy: SsrfPolicy | None = None) -> None:
        self.timeout_s = timeout_s
        self.user_agent = user_agent
        self.clock = clock or SystemClock()
        self.policy = policy or SsrfPolicy()

    @classmethod
    def from_settings(cls, settings, clock: Clock | None = None) -> WebhookSender:
        return cls(
            timeout_s=settings.webhook_timeout_s,
            user_agent=settings.effective_user_agent,
            clock=clock,
            policy=SsrfPolicy(settings.allow_private_networks, settings.allowed_networks),
        )

    async def send(
        self, url: str, payload: dict[str, Any], *, secret: bytes, idempotency_key: str
    ) -> None:
        """POST once; raise `DeliveryError` (permanent for 4xx other than 408/425/429)."""
        request = build_request(
            url, payload, secret=secret, idempotency_key=idempotency_key,
            timestamp=int(self.clock.now().timestamp()),
        )
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        headers = {**request.headers, "User-Agent": self.user_agent}
        try:
            target = self.policy.check_url(url)
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.policy),
                                             use_dns_cache=False)
            async with aiohttp.ClientSession(timeout=timeout, connector=connector,
                                             trust_env=False) as session:
                async with session.post(
                    target, data=request.body, headers=headers, allow_redirects=False
                ) as response:
                    status = response.status
        except SsrfBlocked as exc:
            raise _refused(url, exc) from None
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error if isinstance(exc.os_error, SsrfBlocked) else exc.__cause__
            if isinstance(cause, SsrfBlocked):
                raise _refused(url, cause) from None
            raise DeliveryError(f"webhook {url}: {type(exc).__name__}: {exc}") from None
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            raise DeliveryError(f"webhook {url}: {type(exc).__name__}: {exc}") from None
        if 200 <= status < 300:
            return
        permanent = 400 <= status < 500 and status not in (408, 425, 429)
        raise DeliveryError(f"webhook {url}: HTTP {status}", permanent=permanent)


def _refused(url: str, exc: SsrfBlocked) -> DeliveryError:
    # Permanent, and nothing of the target's answer in it: not an internal port scanner.
    return DeliveryError(f"webhook {url}: refused by the SSRF guard ({exc.detail})",
                         permanent=True)
