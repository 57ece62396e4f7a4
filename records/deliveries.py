"""The delivery outbox's rows (`deliveries`), handed out as `DeliveryRecord`s.

Every function works inside the caller's session, so a notice and its deliveries commit
together. State changes are conditional UPDATEs on (status, attempts): the attempt number
is the claim's fencing token, and a caller learns from the boolean whether it still held
the row (see `notices.outbox` for the claim/lease design).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from spinneret.records.models import Delivery
from spinneret.records.states import DeliveryChannel, DeliveryKind, DeliveryStatus
from spinneret.records.types import DeliveryRecord

MAX_ERROR_CHARS = 2000


def to_record(row: Delivery) -> DeliveryRecord:
    return DeliveryRecord(
        id=row.id, notice_id=row.notice_id, channel=row.channel, recipient=row.recipient,
        kind=row.kind, status=row.status, attempts=row.attempts,
        next_attempt_at=row.next_attempt_at, last_error=row.last_error,
        message_id=row.message_id, created_at=row.created_at, sent_at=row.sent_at,
        recipient_source=row.recipient_source,
    )


def get(session: Session, delivery_id: int) -> DeliveryRecord | None:
    row = session.get(Delivery, delivery_id)
    return None if row is None else to_record(row)


def of_notice(session: Session, notice_id: int) -> list[DeliveryRecord]:
    rows = session.scalars(select(Delivery).where(Delivery.notice_id == notice_id)
                           .order_by(Delivery.id))
    return [to_record(row) for row in rows]


def queue(session: Session, notice_id: int, targets: Iterable[tuple[str, str, str]], *,
          kind: str, now: datetime, message_ids: Iterable[str]) -> int:
    """One pending row per (channel, recipient, where the recipient came from), due now.
    Returns how many."""
    count = 0
    for (channel, recipient, source), message_id in zip(targets, message_ids, strict=False):
        session.add(Delivery(
            notice_id=notice_id, channel=DeliveryChannel(channel).value, recipient=recipient,
            kind=DeliveryKind(kind).value,
            status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now,
            message_id=message_id, created_at=now, recipient_source=source,
        ))
        count += 1
    session.flush()
    return count


def due(session: Session, now: datetime, limit: int) -> list[DeliveryRecord]:
    """Rows to claim: pending and due, or sending with a lease that has run out."""
    rows = session.scalars(
        select(Delivery).where(or_(
            and_(Delivery.status == DeliveryStatus.PENDING, Delivery.next_attempt_at <= now),
            and_(Delivery.status == DeliveryStatus.SENDING, Delivery.next_attempt_at <= now),
        )).order_by(Delivery.next_attempt_at, Delivery.id).limit(limit))
    return [to_record(row) for row in rows]


def hold_due(session: Session, now: datetime, limit: int, reason: str) -> list[int]:
    """Record `reason` as the last error of up to `limit` due pending rows; nothing else."""
    ids = list(session.scalars(
        select(Delivery.id).where(Delivery.status == DeliveryStatus.PENDING,
                                  Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id).limit(limit)))
    if ids:
        session.execute(
            update(Delivery).where(Delivery.id.in_(ids), Delivery.status == DeliveryStatus.PENDING)
            .values(last_error=f"held: {reason}"[:MAX_ERROR_CHARS])
            .execution_options(synchronize_session=False))
    return ids


def _move(session: Session, delivery_id: int, expected: tuple[str, int],
          values: dict) -> bool:
    """Change the row only if it is still in (status, attempts) `expected`."""
    status, attempts = expected
    return session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id, Delivery.status == status,
               Delivery.attempts == attempts)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount == 1


def claim(session: Session, row: DeliveryRecord, *, lease_until: datetime) -> bool:
    """pending/sending -> sending with attempts + 1, if nobody moved the row since `row`."""
    return _move(session, row.id, (row.status, row.attempts), {
        "status": DeliveryStatus.SENDING, "attempts": row.attempts + 1,
        "next_attempt_at": lease_until})


def mark_sent(session: Session, delivery_id: int, attempt: int, now: datetime) -> bool:
    return _move(session, delivery_id, (DeliveryStatus.SENDING, attempt), {
        "status": DeliveryStatus.SENT, "sent_at": now, "next_attempt_at": None,
        "last_error": None})


def mark_retry(session: Session, delivery_id: int, attempt: int, error: str,
               next_attempt_at: datetime) -> bool:
    return _move(session, delivery_id, (DeliveryStatus.SENDING, attempt), {
        "status": DeliveryStatus.PENDING, "last_error": error[:MAX_ERROR_CHARS],
        "next_attempt_at": next_attempt_at})


def mark_failed(session: Session, delivery_id: int, attempt: int, error: str, *,
                from_status: str = DeliveryStatus.SENDING) -> bool:
    return _move(session, delivery_id, (from_status, attempt), {
        "status": DeliveryStatus.FAILED, "last_error": error[:MAX_ERROR_CHARS],
        "next_attempt_at": None})


def every_initial_failed(session: Session, notice_id: int) -> bool:
    """Has the notice initial deliveries, and has every one of them failed?"""
    initial = session.scalars(select(Delivery.status).where(
        Delivery.notice_id == notice_id, Delivery.kind == DeliveryKind.INITIAL)).all()
    return bool(initial) and all(status == DeliveryStatus.FAILED for status in initial)


def reminder_number(session: Session, notice_id: int, channel: str, delivery_id: int) -> int:
    """Which reminder of its notice (1, 2, ...) a reminder row is, on its channel; the same
    on every retry, whatever was queued after it."""
    return session.scalar(select(func.count()).select_from(Delivery).where(
        Delivery.notice_id == notice_id, Delivery.kind == DeliveryKind.REMINDER,
        Delivery.channel == channel, Delivery.id <= delivery_id,
    )) or 1


def last_notified_at(session: Session, notice_id: int, kinds: Iterable[str]) -> datetime | None:
    """When the owner was last told by one of `kinds`: sent time, else queued time; failed
    rows do not count."""
    rows = session.execute(
        select(Delivery.sent_at, Delivery.created_at).where(
            Delivery.notice_id == notice_id, Delivery.kind.in_(list(kinds)),
            Delivery.status != DeliveryStatus.FAILED,
        )).all()
    times = [sent or created for sent, created in rows]
    return max(times) if times else None


def first_sent_at(session: Session, notice_id: int) -> datetime | None:
    """When the notice's first initial message went out (None: not yet)."""
    return session.scalar(
        select(func.min(Delivery.sent_at)).where(
            Delivery.notice_id == notice_id, Delivery.kind == DeliveryKind.INITIAL,
            Delivery.sent_at.is_not(None),
        ))
