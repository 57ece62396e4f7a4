"""The delivery outbox: rows in `deliveries` committed before anything is sent.

Claiming is a conditional UPDATE `pending -> sending` that also bumps `attempts`; while a row
is `sending`, `next_attempt_at` holds the claim's lease expiry, so a sender that died
mid-send loses its claim when the lease runs out and the next sender resends with the same
Message-ID / idempotency key. Completion is conditional on `status = 'sending'` and the
claim's attempt number (a fencing token): at most one completed send is recorded per row,
and a sender whose lease was taken over cannot mark it again.

The unavoidable at-least-once window: if a sender is killed after the SMTP server accepted
the message but before the `sent` commit, the message goes out a second time, with the same
Message-ID (and webhooks with the same `Idempotency-Key`) so receivers can drop it.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.orm import Session

from spinneret.notices.clock import Clock, SystemClock
from spinneret.notices.errors import DeliveryError, NoticeError, NoticeNotFound
from spinneret.notices.links import OwnerLinks, load_secret_key
from spinneret.notices.policy import audit, queue_deliveries
from spinneret.notices.queries import notice_view
from spinneret.notices.readiness import refusal
from spinneret.notices.render import Renderer, webhook_payload
from spinneret.notices.smtp import SmtpSender, build_message
from spinneret.notices.webhook import WebhookSender, webhook_secret
from spinneret.records import deliveries, notices
from spinneret.records.states import DeliveryChannel, DeliveryKind, DeliveryStatus, NoticeStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    notice_id: int
    channel: str
    recipient: str
    kind: str
    message_id: str
    attempt: int


@dataclass
class OutboxResult:
    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    lost_claim: list[int] = field(default_factory=list)
    held: list[int] = field(default_factory=list)  # due, but the deployment may not send
    refused: str | None = None  # why they are held (notices.readiness), one line


def backoff_s(attempt: int, *, base_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: a random point in the upper half of base * 2^(n-1)."""
    delay = min(max_s, base_s * (2 ** max(0, attempt - 1)))
    return delay * (0.5 + rng.random() / 2)


class Outbox:
    def __init__(
        self, db, *, renderer: Renderer, links: OwnerLinks, smtp: SmtpSender,
        webhook: WebhookSender, secret_key: bytes, max_attempts: int, backoff_base_s: float,
        backoff_max_s: float, lease_s: float, clock: Clock | None = None,
        rng: random.Random | None = None, refused: str | None = None,
        reply_to: str | None = None,
    ) -> None:
        """`refused`: why nothing may be sent (deliveries are held, not failed)."""
        self.db = db
        self.refused = refused
        self.reply_to = reply_to
        self.renderer = renderer
        self.links = links
        self.smtp = smtp
        self.webhook = webhook
        self.secret_key = secret_key
        self.max_attempts = max_attempts
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.lease_s = lease_s
        self.clock = clock or SystemClock()
        self.rng = rng or random.Random()

    @classmethod
    def from_settings(cls, db, settings, *, clock: Clock | None = None,
                      rng: random.Random | None = None) -> Outbox:
        clock = clock or SystemClock()
        return cls(
            db,
            renderer=Renderer.from_settings(settings),
            links=OwnerLinks.from_settings(settings, clock=clock),
            smtp=SmtpSender.from_settings(settings),
            webhook=WebhookSender.from_settings(settings, clock=clock),
            secret_key=load_secret_key(settings),
            max_attempts=settings.delivery_max_attempts,
            backoff_base_s=settings.delivery_backoff_base_s,
            backoff_max_s=settings.delivery_backoff_max_s,
            # Longer than one attempt can take, so a live sender keeps its claim.
            lease_s=2 * max(settings.smtp_timeout_s, settings.webhook_timeout_s) + 30,
            clock=clock,
            rng=rng,
            refused=refusal(settings),
            reply_to=settings.notice_contact_email.strip() or None,
        )

    # --- claiming ------------------------------------------------------------------------

    def claim(self, limit: int = 50) -> list[Claim]:
        """Claim up to `limit` due deliveries (pending and due, or sending with a dead lease)."""
        now = self.clock.now()
        claims: list[Claim] = []
        with self.db.session() as session:
            for row in deliveries.due(session, now, limit):
                if row.status == DeliveryStatus.SENDING and row.attempts >= self.max_attempts:
                    self._finish_failed(session, row.id, row.attempts,
                                        "sender stopped during the last attempt",
                                        DeliveryStatus.SENDING)
                    continue
                lease_until = now + timedelta(seconds=self.lease_s)
                if deliveries.claim(session, row, lease_until=lease_until):
                    claims.append(Claim(
                        delivery_id=row.id, notice_id=row.notice_id, channel=row.channel,
                        recipient=row.recipient, kind=row.kind, message_id=row.message_id,
                        attempt=row.attempts + 1,
                    ))
        return claims

    def hold_due(self, limit: int, reason: str) -> list[int]:
        """Record `reason` on up to `limit` due pending deliveries, changing nothing else."""
        with self.db.session() as session:
            return deliveries.hold_due(session, self.clock.now(), limit, reason)

    # --- sending -------------------------------------------------------------------------

    async def run_once(self, limit: int = 50) -> OutboxResult:
        """Claim and send every due delivery once; failures are rescheduled or marked failed.

        While the deployment may not send (`refused`), due deliveries are not claimed: each
        keeps its attempts and records the reason as its last error, and goes out on the
        first pass after the settings are fixed."""
        result = OutboxResult()
        if self.refused:
            result.held = self.hold_due(limit, self.refused)
            result.refused = self.refused
            if result.held:
                log.warning("%d notice deliveries held: %s", len(result.held), self.refused)
            return result
        for claim in self.claim(limit):
            outcome = await self.deliver(claim)
            getattr(result, outcome).append(claim.delivery_id)
        return result

    async def deliver(self, claim: Claim) -> str:
        try:
            await self._send(claim)
        except DeliveryError as exc:
            return self._record_failure(claim, str(exc), permanent=exc.permanent)
        except NoticeError as exc:  # e.g. a broken operator template: retrying may help later
            return self._record_failure(claim, str(exc), permanent=False)
        return self._record_sent(claim)

    async def _send(self, claim: Claim) -> None:
        with self.db.session() as session:
            view = notice_view(session, claim.notice_id)
            notice = notices.get(session, claim.notice_id)
            site = notices.site_of(session, notice)
            created_at = deliveries.get(session, claim.delivery_id).created_at
            number = (reminder_number(session, claim) if claim.kind == DeliveryKind.REMINDER
                      else None)
            nonce = notice.owner_token_nonce or ""
            site_secret = site.webhook_secret if site else None
        # Issued at the delivery's creation so every resend carries the same link.
        owner_url = self.links.url(claim.notice_id, nonce=nonce, issued_at=created_at)
        if claim.channel == DeliveryChannel.EMAIL:
            content = self.renderer.mail(view, claim.kind, owner_url, reminder_number=number,
                                         issued_at=created_at)
            message = build_message(
                content, mail_from=self.smtp.mail_from, to=[claim.recipient],
                idempotency_key=claim.message_id, date_epoch=created_at.timestamp(),
                reply_to=self.reply_to,
            )
            await self.smtp.send(message)
        elif claim.channel == DeliveryChannel.WEBHOOK:
            secret = (site_secret.encode() if site_secret
                      else webhook_secret(self.secret_key, view.site_id))
            await self.webhook.send(
                claim.recipient, webhook_payload(
                    view, claim.kind, owner_url,
                    request=self.renderer.removal_request(view, created_at)),
                secret=secret, idempotency_key=claim.message_id,
            )
        else:
            raise DeliveryError(f"unknown channel {claim.channel!r}", permanent=True)

    def _record_sent(self, claim: Claim) -> str:
        now = self.clock.now()
        with self.db.session() as session:
            done = deliveries.mark_sent(session, claim.delivery_id, claim.attempt, now)
        if not done:
            log.warning("delivery %s: claim lost before completion (sent again elsewhere?)",
                        claim.delivery_id)
            return "lost_claim"
        return "sent"

    def _record_failure(self, claim: Claim, error: str, *, permanent: bool) -> str:
        now = self.clock.now()
        with self.db.session() as session:
            if permanent or claim.attempt >= self.max_attempts:
                done = self._finish_failed(session, claim.delivery_id, claim.attempt, error,
                                           DeliveryStatus.SENDING)
                return "failed" if done else "lost_claim"
            delay = backoff_s(claim.attempt, base_s=self.backoff_base_s,
                              max_s=self.backoff_max_s, rng=self.rng)
            done = deliveries.mark_retry(session, claim.delivery_id, claim.attempt, error,
                                         now + timedelta(seconds=delay))
        return "retrying" if done else "lost_claim"

    def _finish_failed(self, session: Session, delivery_id: int, attempt: int, error: str,
                       from_status: str) -> bool:
        done = deliveries.mark_failed(session, delivery_id, attempt, error,
                                      from_status=from_status)
        if done:
            notice_id = deliveries.get(session, delivery_id).notice_id
            if deliveries.every_initial_failed(session, notice_id):
                notices.set_status(session, notice_id, NoticeStatus.FAILED, self.clock.now())
        return done


def reminder_number(session: Session, claim: Claim) -> int:
    """Which reminder of its notice (1, 2, ...) a reminder delivery is, on its channel; the
    same on every retry, whatever was queued after it."""
    return deliveries.reminder_number(session, claim.notice_id, claim.channel,
                                      claim.delivery_id)


def resend(session: Session, notice_id: int, *, clock: Clock, actor: str = "cli") -> int:
    """Queue the notice again to the site's current channels (new Message-IDs)."""
    notice = notices.get(session, notice_id)
    if notice is None:
        raise NoticeNotFound(notice_id)
    if not notices.item_count(session, notice.id):
        raise NoticeError(f"notice {notice_id} has no items: nothing to send")
    now = clock.now()
    created = queue_deliveries(session, notice, notices.site_of(session, notice),
                               kind=DeliveryKind.INITIAL, now=now)
    if created and notice.status in (NoticeStatus.FAILED, NoticeStatus.OPEN):
        # An open notice is sealed now, so its window's end does not queue it a second time.
        notices.set_status(session, notice.id, NoticeStatus.SENT, now,
                           window_end=min(notice.window_end, now))
    audit(session, now, actor, "notice.resend", f"notice:{notice.id}", deliveries=created)
    return created
