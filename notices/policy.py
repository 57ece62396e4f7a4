"""Notice policy: group `auto` matches into one notice per site per batching window,
reminders and escalation (the review queue is `notices.review`).

Every function takes an open SQLAlchemy session (the caller commits, so a notice and its
deliveries land in one transaction before anything is sent) and a clock for "now".

Lifecycle of a notice: `open` while its window collects matches -> `sent` once the window
has ended (or an analyst sent it now) and its deliveries are queued in the outbox -> `acknowledged` / `disputed` (owner)
-> `removed` when every item is gone. `failed` when no delivery could be made; `closed`
when a notice's window ended with no item in it (nothing is sent).

A window's end is its start plus the *current* `notice_batch_window_s`, so a changed
setting moves the send time of notices already waiting (`Notice.window_end` holds the
planned end until the notice is sealed, then the time it was).
"""

from __future__ import annotations

import secrets
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from spinneret.notices.clock import Clock, as_utc
from spinneret.notices.coverage import (
    in_live_item_clause,
    match_ids_where,
    removed_since_found_clause,
    suppressed_clause,
)
from spinneret.notices.errors import NoticeError, NoticeNotFound
from spinneret.notices.recipients import email_recipients
from spinneret.notices.types import match_kind
from spinneret.records import deliveries, notices
from spinneret.records.audit import write_event
from spinneret.records.models import Match
from spinneret.records.states import (
    DeliveryChannel,
    DeliveryKind,
    MatchDecision,
    MatchStatus,
    NoticeStatus,
)
from spinneret.records.types import NoticeRecord

# Notices whose owner is still being asked to act.
LIVE_NOTICE_STATUSES = (NoticeStatus.SENT, NoticeStatus.ACKNOWLEDGED)
NOTIFY_KINDS = (DeliveryKind.INITIAL, DeliveryKind.REMINDER)


@dataclass
class CollectResult:
    notices_touched: list[int] = field(default_factory=list)
    items_added: int = 0
    duplicates: int = 0  # URL already in a live item (or twice in one batch)
    already_removed: int = 0  # found before its item was closed as removed
    suppressed: int = 0


def new_message_key() -> str:
    return f"spn-{uuid.uuid4().hex}"


def audit(session: Session, now: datetime, actor: str, action: str, target: str,
          **details) -> None:
    write_event(session, actor, action, target, {**details, "at": now.isoformat()})


def _match_rank(match: Match) -> tuple[int, int]:
    # Prefer an exact match, then the smallest distance, when one image hits a list twice.
    return (0 if match_kind(match.algorithm) == "exact" else 1, match.distance)


def collect(session: Session, *, clock: Clock, window_s: float) -> CollectResult:
    """Put every unnotified `auto` (or review-confirmed) match into its site's open notice.

    One item per image URL and list. A match that is covered (see `notices.coverage`: its
    URL is in a live item, or was removed after the match was found) is not notified again,
    and suppressed URL+hash pairs are skipped. A notice is opened only for a site with at
    least one item to add, so nothing here ever creates an empty notice.
    """
    now = clock.now()
    result = CollectResult()
    pending = select(Match).where(
        ((Match.status == MatchStatus.NEW) & (Match.decision == MatchDecision.AUTO))
        | (Match.status == MatchStatus.REVIEWED_CONFIRMED),
        Match.list_kind == "block",
    ).order_by(Match.id)
    matches = list(session.scalars(pending))
    if not matches:
        return result
    suppressed_ids = match_ids_where(session, [m.id for m in matches], suppressed_clause())
    by_site: dict[int, list[Match]] = defaultdict(list)
    for match in matches:
        if match.id in suppressed_ids:
            match.status = MatchStatus.SUPPRESSED.value
            result.suppressed += 1
        else:
            by_site[match.site_id].append(match)
    for site_id, site_matches in by_site.items():
        notice = _collecting_notice(session, site_id, now, window_s)
        fresh = _fresh_matches(session, notice, site_matches, result)
        if not fresh:
            continue
        if notice is None:
            notice = _new_notice(session, site_id, now, window_s)
        _add_items(session, notice, fresh)
        result.items_added += len(fresh)
        result.notices_touched.append(notice.id)
        audit(session, now, "system", "notice.items_added", f"notice:{notice.id}",
              items=len(fresh))
    session.flush()
    return result


def window_end(notice: NoticeRecord, window_s: float) -> datetime:
    """When an open notice's window ends under the window setting in force now."""
    return notice.window_start + timedelta(seconds=window_s)


def _collecting_notice(session: Session, site_id: int, now: datetime,
                       window_s: float) -> NoticeRecord | None:
    return notices.collecting(session, site_id,
                              started_after=now - timedelta(seconds=window_s))


def _new_notice(session: Session, site_id: int, now: datetime,
                window_s: float) -> NoticeRecord:
    return notices.open_new(
        session, site_id, now=now, window_end=now + timedelta(seconds=window_s),
        reference=f"SPN-{now:%Y%m%d}-{secrets.token_hex(4).upper()}",
        owner_token_nonce=secrets.token_urlsafe(12),
    )


def _fresh_matches(session: Session, notice: NoticeRecord | None, matches: list[Match],
                   result: CollectResult) -> list[Match]:
    """The matches of one site that become items: one per URL and list, none covered.

    Every match leaves the pending state: `in_notice` (an item, or a duplicate of one) or
    `removed` (the image was already gone when it was found)."""
    ids = [m.id for m in matches]
    live = match_ids_where(session, ids, in_live_item_clause(
        except_notice_id=notice.id if notice is not None else None))
    gone = match_ids_where(session, ids, removed_since_found_clause())
    in_this = set() if notice is None else notices.item_keys(session, notice.id)
    best: dict[tuple[str, str], Match] = {}
    for match in matches:
        key = (match.image_url, match.list_name)
        if match.id in gone and match.id not in live:
            match.status = MatchStatus.REMOVED.value
            result.already_removed += 1
            continue
        match.status = MatchStatus.IN_NOTICE.value
        if match.id in live or key in in_this:
            result.duplicates += 1
        elif key not in best:
            best[key] = match
        else:
            result.duplicates += 1
            if _match_rank(match) < _match_rank(best[key]):
                best[key] = match
    return list(best.values())


def _add_items(session: Session, notice: NoticeRecord, matches: list[Match]) -> None:
    notices.add_items(session, notice, [match.id for match in matches])


def seal_due(session: Session, *, clock: Clock, window_s: float) -> list[int]:
    """Close every notice whose window has ended: queue its deliveries, mark it `sent`.

    A notice without items is never sent: it is closed (`collect` does not create such
    notices; older databases may hold some)."""
    now = clock.now()
    due = notices.open_notices(session, started_by=now - timedelta(seconds=window_s))
    sealed = [notice.id for notice in due if _seal(session, notice, now)]
    session.flush()
    return sealed


def send_now(session: Session, *, clock: Clock, actor: str, window_s: float,
             notice_ids: list[int] | None = None) -> list[int]:
    """Seal open notices now, before their window ends (all of them, or `notice_ids`);
    each is audited as `notice.send_now` by `actor`. Returns the notices sealed.

    A listed notice that is not open raises `NoticeError` (nothing is changed)."""
    now = clock.now()
    listed = notices.open_notices(session, ids=notice_ids)
    if notice_ids is not None:
        found = {notice.id: notice for notice in listed}
        for notice_id in notice_ids:
            if notice_id not in found:
                raise NoticeNotFound(notice_id)
            if found[notice_id].status != NoticeStatus.OPEN:
                raise NoticeError(f"notice {notice_id} is {found[notice_id].status}, not "
                                  "waiting to be sent (resend it instead)")
    sealed = []
    for notice in listed:
        planned = as_utc(window_end(notice, window_s))
        if _seal(session, notice, now):
            sealed.append(notice.id)
            audit(session, now, actor, "notice.send_now", f"notice:{notice.id}",
                  window_was_to_end=planned.replace(microsecond=0).isoformat())
    session.flush()
    return sealed


def _seal(session: Session, notice: NoticeRecord, now: datetime) -> bool:
    """End an open notice's window now: queue its deliveries (`sent`, or `failed` without
    a channel), or close it when it has no item. True when it was sealed."""
    if not item_count(session, notice.id):
        notices.set_status(session, notice.id, NoticeStatus.CLOSED, now, window_end=now)
        audit(session, now, "system", "notice.closed_empty", f"notice:{notice.id}")
        return False
    site = notices.site_of(session, notice)
    created = queue_deliveries(session, notice, site, kind=DeliveryKind.INITIAL, now=now)
    notices.set_status(session, notice.id, NoticeStatus.SENT if created else NoticeStatus.FAILED,
                       now, window_end=now)
    audit(session, now, "system", "notice.sealed", f"notice:{notice.id}",
          deliveries=created)
    return True


def item_count(session: Session, notice_id: int) -> int:
    return notices.item_count(session, notice_id)


def queue_deliveries(session: Session, notice, site, *, kind: str, now: datetime) -> int:
    """Outbox rows for one message of `kind` to the site's channels (`site`: a row or a
    `SiteRecord`; None: nowhere to send). Returns how many."""
    if site is None:
        return 0
    targets: list[tuple[str, str, str]] = []  # channel, recipient, where it came from
    if kind == DeliveryKind.ESCALATION:
        if site.abuse_email:
            targets.append((DeliveryChannel.EMAIL, site.abuse_email, "registered"))
    else:
        # The owner e-mail as registered, or an override, or a looked-up contact.
        targets.extend((DeliveryChannel.EMAIL, email, source)
                       for email, source in email_recipients(session, site))
        if site.webhook_url:
            targets.append((DeliveryChannel.WEBHOOK, site.webhook_url, "registered"))
    return deliveries.queue(session, notice.id, targets, kind=kind, now=now,
                            message_ids=(new_message_key() for _ in targets))


def last_notified_at(session: Session, notice_id: int) -> datetime | None:
    """When the owner was last told (initial or reminder): sent time, else queued time."""
    return deliveries.last_notified_at(session, notice_id, NOTIFY_KINDS)


def first_notified_at(session: Session, notice_id: int) -> datetime | None:
    return deliveries.first_sent_at(session, notice_id)


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
    for notice in notices.with_live_items(session, LIVE_NOTICE_STATUSES):
        if notice.escalated_at is not None:
            continue
        last = last_notified_at(session, notice.id)
        if last is None or (now - last).total_seconds() < reminder_after_s:
            continue
        site = notices.site_of(session, notice)
        if notice.reminder_count < max_reminders:
            if queue_deliveries(session, notice, site, kind=DeliveryKind.REMINDER, now=now):
                number = notices.count_reminder(session, notice.id, now)
                result.reminders.append(notice.id)
                audit(session, now, "system", "notice.reminder", f"notice:{notice.id}",
                      number=number)
        elif site is not None and site.abuse_email:
            queue_deliveries(session, notice, site, kind=DeliveryKind.ESCALATION, now=now)
            notices.mark_escalated(session, notice.id, now)
            result.escalations.append(notice.id)
            audit(session, now, "system", "notice.escalated", f"notice:{notice.id}",
                  to=site.abuse_email)
    session.flush()
    return result
