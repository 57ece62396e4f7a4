"""Read notices as `NoticeView`s for the CLI, the API, templates and the outbox."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from spinneret.notices.errors import NoticeNotFound
from spinneret.notices.policy import window_end
from spinneret.notices.types import DeliveryView, NoticeItemView, NoticeView, match_kind
from spinneret.records import deliveries, notices
from spinneret.records.states import NoticeStatus
from spinneret.records.types import NoticeRecord


def notice_view(session: Session, notice_id: int, *,
                window_s: float | None = None) -> NoticeView:
    """`window_s`: the batching window in force, so an open notice says when it goes out."""
    notice = notices.get(session, notice_id)
    if notice is None:
        raise NoticeNotFound(notice_id)
    return _view(session, notice, window_s)


def list_notices(
    session: Session, *, site: str | None = None, statuses: Iterable[str] = (),
    limit: int = 1000, window_s: float | None = None,
) -> list[NoticeView]:
    return [_view(session, notice, window_s)
            for notice in notices.listed(session, site=site, statuses=statuses, limit=limit)]


def _view(session: Session, notice: NoticeRecord, window_s: float | None) -> NoticeView:
    site = notices.site_of(session, notice)
    ends = notice.window_end
    is_open = notice.status == NoticeStatus.OPEN
    if is_open and window_s is not None:
        ends = window_end(notice, window_s)
    return NoticeView(
        id=notice.id, reference=notice.reference, site_id=notice.site_id,
        site_name=site.name if site else "", site_url=site.base_url if site else "",
        status=notice.status, created_at=notice.created_at,
        window_ends_at=ends, sends_at=ends if is_open else None,
        sent_at=deliveries.first_sent_at(session, notice.id),
        closed_at=(notice.updated_at if notice.status in (NoticeStatus.REMOVED,
                                                           NoticeStatus.CLOSED) else None),
        reminders_sent=notice.reminder_count, escalated_at=notice.escalated_at,
        items=[
            NoticeItemView(
                id=i.id, reference=i.reference_id, image_url=i.image_url,
                page_url=i.page_url or "", first_detected_at=i.first_detected,
                list_name=i.list_name, list_source=i.source, category=i.category,
                label=i.label, algorithm=i.algorithm, distance=i.distance,
                match_kind=match_kind(i.algorithm), status=i.status, removed_at=i.removed_at,
                time_to_removal_s=i.time_to_removal_s, closed_reason=i.closed_reason,
            )
            for i in notices.items_of(session, notice.id)
        ],
        deliveries=[
            DeliveryView(
                id=d.id, channel=d.channel, recipient=d.recipient, purpose=d.kind,
                status=d.status, attempts=d.attempts, idempotency_key=d.message_id,
                next_attempt_at=d.next_attempt_at, sent_at=d.sent_at,
                last_error=d.last_error, created_at=d.created_at,
                recipient_source=d.recipient_source,
            )
            for d in deliveries.of_notice(session, notice.id)
        ],
    )
