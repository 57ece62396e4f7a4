"""Notice policy: group `auto` matches into one notice per site per batching window, the
review queue, reminders and escalation.

Every function takes an open SQLAlchemy session (the caller commits, so a notice and its
deliveries land in one transaction before anything is sent) and a clock for "now".

Lifecycle of a notice: `open` while its window collects matches -> `sent` once the window
has ended and its deliveries are queued in the outbox -> `acknowledged` / `disputed` (owner)
-> `removed` when every item is gone. `failed` when no delivery could be made.
"""

from __future__ import annotations

import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import Session

from notices.clock import Clock
from notices.errors import ReviewAlreadyDecided, ReviewNotFound
from notices.types import match_kind
from records.audit import write_event
from records.models import (
    Delivery,
    Match,
    Notice,
    NoticeItem,
    Review,
    Site,
    Suppression,
)

ACTIVE_ITEM_STATUSES = ("open", "reappeared")
# Notices whose owner is still being asked to act.
LIVE_NOTICE_STATUSES = ("sent", "acknowledged")
NOTIFY_KINDS = ("initial", "reminder")


@dataclass
class CollectResult:
    notices_touched: list[int] = field(default_factory=list)
    items_added: int = 0
    duplicates: int = 0
    suppressed: int = 0


@dataclass(frozen=True)
class ReviewEntry:
    match_id: int
    site_id: int
    site_name: str
    image_url: str
    page_url: str | None
    list_name: str
    category: str
    algorithm: str
    distance: int
    label: str
    created_at: datetime


def new_message_key() -> str:
    return f"spn-{uuid.uuid4().hex}"


def audit(session: Session, now: datetime, actor: str, action: str, target: str,
          **details) -> None:
    write_event(session, actor, action, target, {**details, "at": now.isoformat()})


def _suppressed_clause():
    return exists().where(
        and_(
            Suppression.image_url_key == Match.image_url_key,
            Suppression.list_name == Match.list_name,
            Suppression.algorithm == Match.algorithm,
            Suppression.entry_hash == Match.entry_hash,
        )
    )


def _match_rank(match: Match) -> tuple[int, int]:
    # Prefer an exact match, then the smallest distance, when one image hits a list twice.
    return (0 if match_kind(match.algorithm) == "exact" else 1, match.distance)


def collect(session: Session, *, clock: Clock, window_s: float) -> CollectResult:
    """Put every unnotified `auto` (or review-confirmed) match into its site's open notice.

    One item per image URL and list. A URL already in a live item of the site (any notice
    not yet removed/closed) is not notified again; suppressed URL+hash pairs are skipped.
    """
    now = clock.now()
    result = CollectResult()
    pending = select(Match).where(
        ((Match.status == "new") & (Match.decision == "auto"))
        | (Match.status == "reviewed_confirmed"),
        Match.list_kind == "block",
    ).order_by(Match.id)
    matches = list(session.scalars(pending))
    if not matches:
        return result
    suppressed_ids = set(session.scalars(
        select(Match.id).where(Match.id.in_([m.id for m in matches]), _suppressed_clause())
    ))
    by_site: dict[int, list[Match]] = defaultdict(list)
    for match in matches:
        if match.id in suppressed_ids:
            match.status = "suppressed"
            result.suppressed += 1
        else:
            by_site[match.site_id].append(match)
    for site_id, site_matches in by_site.items():
        notice = _open_notice(session, site_id, now, window_s)
        added = _add_items(session, notice, site_matches, result)
        if added:
            result.items_added += added
            result.notices_touched.append(notice.id)
            audit(session, now, "system", "notice.items_added", f"notice:{notice.id}",
                  items=added)
    return result


def _open_notice(session: Session, site_id: int, now: datetime, window_s: float) -> Notice:
    notice = session.scalars(
        select(Notice).where(
            Notice.site_id == site_id, Notice.status == "open", Notice.window_end > now
        ).order_by(Notice.id.desc()).limit(1)
    ).first()
    if notice is not None:
        return notice
    notice = Notice(
        site_id=site_id, status="open", window_start=now,
        window_end=now + timedelta(seconds=window_s),
        reference=f"SPN-{now:%Y%m%d}-{secrets.token_hex(4).upper()}",
        created_at=now, updated_at=now, reminder_count=0,
        owner_token_nonce=secrets.token_urlsafe(12),
    )
    session.add(notice)
    session.flush()
    return notice


def _add_items(session: Session, notice: Notice, matches: list[Match],
               result: CollectResult) -> int:
    live_urls = set(session.scalars(
        select(NoticeItem.image_url).join(Notice, Notice.id == NoticeItem.notice_id).where(
            Notice.site_id == notice.site_id,
            Notice.id != notice.id,
            NoticeItem.status.in_(ACTIVE_ITEM_STATUSES),
        )
    ))
    in_this = {(i.image_url, i.list_name) for i in session.scalars(
        select(NoticeItem).where(NoticeItem.notice_id == notice.id))}
    best: dict[tuple[str, str], Match] = {}
    for match in matches:
        match.status = "in_notice"
        key = (match.image_url, match.list_name)
        if match.image_url in live_urls or key in in_this:
            result.duplicates += 1
            continue
        if key not in best or _match_rank(match) < _match_rank(best[key]):
            if key in best:
                result.duplicates += 1
            best[key] = match
        else:
            result.duplicates += 1
    count = session.scalar(
        select(func.count()).select_from(NoticeItem).where(NoticeItem.notice_id == notice.id)
    ) or 0
    for match in best.values():
        count += 1
        session.add(NoticeItem(
            notice_id=notice.id, match_id=match.id, image_url=match.image_url,
            page_url=match.page_url, first_detected=match.created_at,
            list_name=match.list_name, source=match.source, category=match.category,
            label=match.label, algorithm=match.algorithm, distance=match.distance,
            reference_id=f"{notice.reference}-{count}", status="open",
        ))
    session.flush()
    return len(best)


def seal_due(session: Session, *, clock: Clock) -> list[int]:
    """Close every notice whose window has ended: queue its deliveries, mark it `sent`."""
    now = clock.now()
    due = list(session.scalars(
        select(Notice).where(Notice.status == "open", Notice.window_end <= now)
        .order_by(Notice.id)
    ))
    sealed = []
    for notice in due:
        site = session.get(Site, notice.site_id)
        created = queue_deliveries(session, notice, site, kind="initial", now=now)
        notice.status = "sent" if created else "failed"
        notice.updated_at = now
        audit(session, now, "system", "notice.sealed", f"notice:{notice.id}",
              deliveries=created)
        sealed.append(notice.id)
    session.flush()
    return sealed


def queue_deliveries(session: Session, notice: Notice, site: Site | None, *, kind: str,
                     now: datetime) -> int:
    """Outbox rows for one message of `kind` to the site's channels. Returns how many."""
    if site is None:
        return 0
    targets: list[tuple[str, str]] = []
    if kind == "escalation":
        if site.abuse_email:
            targets.append(("email", site.abuse_email))
    else:
        if site.owner_email:
            targets.append(("email", site.owner_email))
        if site.webhook_url:
            targets.append(("webhook", site.webhook_url))
    for channel, recipient in targets:
        session.add(Delivery(
            notice_id=notice.id, channel=channel, recipient=recipient, kind=kind,
            status="pending", attempts=0, next_attempt_at=now, message_id=new_message_key(),
            created_at=now,
        ))
    session.flush()
    return len(targets)


def last_notified_at(session: Session, notice_id: int) -> datetime | None:
    """When the owner was last told (initial or reminder): sent time, else queued time."""
    rows = session.execute(
        select(Delivery.sent_at, Delivery.created_at).where(
            Delivery.notice_id == notice_id, Delivery.kind.in_(NOTIFY_KINDS),
            Delivery.status != "failed",
        )
    ).all()
    times = [sent or created for sent, created in rows]
    return max(times) if times else None


def first_notified_at(session: Session, notice_id: int) -> datetime | None:
    return session.scalar(
        select(func.min(Delivery.sent_at)).where(
            Delivery.notice_id == notice_id, Delivery.kind == "initial",
            Delivery.sent_at.is_not(None),
        )
    )


@dataclass
class FollowUpResult:
    reminders: list[int] = field(default_factory=list)
    escalations: list[int] = field(default_factory=list)


def follow_up(session: Session, *, clock: Clock, reminder_after_s: float,
              max_reminders: int) -> FollowUpResult:
    """Reminders for notices whose images are still up `reminder_after_s` after the last
    message, up to `max_reminders`; then one escalation to the site's abuse contact."""
    now = clock.now()
    result = FollowUpResult()
    live = list(session.scalars(
        select(Notice).where(Notice.status.in_(LIVE_NOTICE_STATUSES)).where(
            exists().where(NoticeItem.notice_id == Notice.id,
                           NoticeItem.status.in_(ACTIVE_ITEM_STATUSES))
        ).order_by(Notice.id)
    ))
    for notice in live:
        if notice.escalated_at is not None:
            continue
        last = last_notified_at(session, notice.id)
        if last is None or (now - last).total_seconds() < reminder_after_s:
            continue
        site = session.get(Site, notice.site_id)
        if notice.reminder_count < max_reminders:
            if queue_deliveries(session, notice, site, kind="reminder", now=now):
                notice.reminder_count += 1
                notice.updated_at = now
                result.reminders.append(notice.id)
                audit(session, now, "system", "notice.reminder", f"notice:{notice.id}",
                      number=notice.reminder_count)
        elif site is not None and site.abuse_email:
            queue_deliveries(session, notice, site, kind="escalation", now=now)
            notice.escalated_at = now
            notice.updated_at = now
            result.escalations.append(notice.id)
            audit(session, now, "system", "notice.escalated", f"notice:{notice.id}",
                  to=site.abuse_email)
    session.flush()
    return result


# --- review queue ---------------------------------------------------------------------

def review_queue(session: Session, *, site_id: int | None = None,
                 limit: int = 1000) -> list[ReviewEntry]:
    """Matches with decision `review` waiting for an analyst (suppressed ones left out)."""
    query = (
        select(Match, Site.name).join(Site, Site.id == Match.site_id)
        .where(Match.decision == "review", Match.status == "new", ~_suppressed_clause())
        .order_by(Match.id).limit(limit)
    )
    if site_id is not None:
        query = query.where(Match.site_id == site_id)
    return [
        ReviewEntry(
            match_id=m.id, site_id=m.site_id, site_name=name, image_url=m.image_url,
            page_url=m.page_url, list_name=m.list_name, category=m.category,
            algorithm=m.algorithm, distance=m.distance, label=m.label, created_at=m.created_at,
        )
        for m, name in session.execute(query)
    ]


def _pending_review(session: Session, match_id: int) -> Match:
    match = session.get(Match, match_id)
    if match is None or match.decision != "review":
        raise ReviewNotFound(match_id)
    if match.status != "new":
        raise ReviewAlreadyDecided(match_id, match.status)
    return match


def confirm_review(session: Session, match_id: int, *, by: str, note: str = "",
                   clock: Clock) -> None:
    """The analyst confirms: the match goes into its site's next notice."""
    now = clock.now()
    match = _pending_review(session, match_id)
    session.add(Review(match_id=match.id, decision="confirm", note=note, by=by, at=now))
    match.status = "reviewed_confirmed"
    match.updated_at = now
    audit(session, now, by, "review.confirm", f"match:{match.id}", note=note)
    session.flush()


def reject_review(session: Session, match_id: int, *, by: str, note: str = "",
                  clock: Clock) -> None:
    """The analyst rejects: the reason is recorded and this URL + hash is suppressed."""
    now = clock.now()
    match = _pending_review(session, match_id)
    review = Review(match_id=match.id, decision="reject", note=note, by=by, at=now)
    session.add(review)
    session.flush()
    already = session.scalar(select(Suppression.id).where(
        Suppression.image_url_key == match.image_url_key,
        Suppression.list_name == match.list_name,
        Suppression.algorithm == match.algorithm,
        Suppression.entry_hash == match.entry_hash,
    ))
    if already is None:
        session.add(Suppression(
            image_url=match.image_url, image_url_key=match.image_url_key,
            list_name=match.list_name, algorithm=match.algorithm,
            entry_hash=match.entry_hash, review_id=review.id, created_at=now,
        ))
    match.status = "reviewed_rejected"
    match.updated_at = now
    audit(session, now, by, "review.reject", f"match:{match.id}", note=note)
    session.flush()
