"""Notices and their items, handed out as `NoticeRecord` / `NoticeItemRecord` dataclasses.

Every function works inside the caller's session (the notices policy commits a notice, its
items, its deliveries and their audit events together). What a state change means is the
policy's business (`spinneret.notices`); here is only how it is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from spinneret.records.models import Match, Notice, NoticeItem, OwnerResponse, Site
from spinneret.records.sites import to_record as site_record
from spinneret.records.states import MatchStatus, NoticeItemStatus, NoticeStatus, OwnerAction
from spinneret.records.types import (
    ListedEntry,
    NoticeItemRecord,
    NoticeRecord,
    OwnerResponseRecord,
    RecheckDue,
    SiteItemRow,
    SiteRecord,
)


def to_record(row: Notice) -> NoticeRecord:
    return NoticeRecord(
        id=row.id, site_id=row.site_id, status=row.status, window_start=row.window_start,
        window_end=row.window_end, reference=row.reference, created_at=row.created_at,
        updated_at=row.updated_at, reminder_count=row.reminder_count,
        escalated_at=row.escalated_at, owner_token_nonce=row.owner_token_nonce,
    )


def item_record(row: NoticeItem) -> NoticeItemRecord:
    return NoticeItemRecord(
        id=row.id, notice_id=row.notice_id, match_id=row.match_id, image_url=row.image_url,
        page_url=row.page_url, first_detected=row.first_detected, list_name=row.list_name,
        source=row.source, category=row.category, label=row.label, algorithm=row.algorithm,
        distance=row.distance, reference_id=row.reference_id, status=row.status, removed_at=row.removed_at, closed_reason=row.closed_reason,
        time_to_removal_s=row.time_to_removal_s, last_checked_at=row.last_checked_at,
        etag=row.etag, last_modified=row.last_modified,
    )


def get(session: Session, notice_id: int) -> NoticeRecord | None:
    row = session.get(Notice, notice_id)
    return None if row is None else to_record(row)


def listed(session: Session, *, site: str | None = None, statuses: Iterable[str] = (),
           limit: int = 1000) -> list[NoticeRecord]:
    """Notices oldest first, of the site named `site` and in `statuses` when given."""
    query = select(Notice).join(Site, Site.id == Notice.site_id).order_by(Notice.id)
    if site:
        query = query.where(Site.name == site)
    statuses = list(statuses)
    if statuses:
        query = query.where(Notice.status.in_(statuses))
    return [to_record(row) for row in session.scalars(query.limit(limit))]


def items_of(session: Session, notice_id: int) -> list[NoticeItemRecord]:
    rows = session.scalars(select(NoticeItem).where(NoticeItem.notice_id == notice_id)
                           .order_by(NoticeItem.id))
    return [item_record(row) for row in rows]


def site_of(session: Session, notice: NoticeRecord) -> SiteRecord | None:
    row = session.get(Site, notice.site_id)
    return None if row is None else site_record(row)


def item_count(session: Session, notice_id: int) -> int:
    return session.scalar(
        select(func.count()).select_from(NoticeItem).where(NoticeItem.notice_id == notice_id)
    ) or 0


def set_status(session: Session, notice_id: int, status: str, now: datetime, *,
               window_end: datetime | None = None) -> None:
    """Move a notice to `status` (and, when sealing it, say when its window ended)."""
    row = session.get(Notice, notice_id)
    row.status = NoticeStatus(status).value  # a typo raises here, before the database
    row.updated_at = now
    if window_end is not None:
        row.window_end = window_end
    session.flush()


def items_by_site(session: Session) -> list[SiteItemRow]:
    rows = session.execute(
        select(Site.name, Notice.id, Notice.status, NoticeItem.status,
               NoticeItem.time_to_removal_s)
        .join(Notice, Notice.site_id == Site.id)
        .join(NoticeItem, NoticeItem.notice_id == Notice.id))
    return [SiteItemRow(*row) for row in rows]


def collecting(session: Session, site_id: int, *,
               started_after: datetime) -> NoticeRecord | None:
    """The site's newest open notice whose window started after `started_after`."""
    row = session.scalars(
        select(Notice).where(
            Notice.site_id == site_id, Notice.status == NoticeStatus.OPEN,
            Notice.window_start > started_after,
        ).order_by(Notice.id.desc()).limit(1)).first()
    return None if row is None else to_record(row)


def open_new(session: Session, site_id: int, *, now: datetime, window_end: datetime,
             reference: str, owner_token_nonce: str) -> NoticeRecord:
    row = Notice(
        site_id=site_id, status=NoticeStatus.OPEN.value, window_start=now,
        window_end=window_end, reference=reference, created_at=now, updated_at=now,
        reminder_count=0, owner_token_nonce=owner_token_nonce,
    )
    session.add(row)
    session.flush()
    return to_record(row)


def open_notices(session: Session, *, started_by: datetime | None = None,
                 ids: Iterable[int] | None = None) -> list[NoticeRecord]:
    """Open notices (whose window started by `started_by`), oldest first; with `ids`, those
    notices whatever their status."""
    if ids is not None:
        query = select(Notice).where(Notice.id.in_(list(ids)))
    else:
        query = select(Notice).where(Notice.status == NoticeStatus.OPEN)
        if started_by is not None:
            query = query.where(Notice.window_start <= started_by)
    return [to_record(row) for row in session.scalars(query.order_by(Notice.id))]


def with_live_items(session: Session, statuses: Iterable[str]) -> list[NoticeRecord]:
    """Notices in `statuses` with at least one item still online, oldest first."""
    rows = session.scalars(
        select(Notice).where(Notice.status.in_(list(statuses))).where(
            exists().where(NoticeItem.notice_id == Notice.id,
                           NoticeItem.status.in_((NoticeItemStatus.OPEN,
                                                  NoticeItemStatus.REAPPEARED)))
        ).order_by(Notice.id))
    return [to_record(row) for row in rows]


def count_reminder(session: Session, notice_id: int, now: datetime) -> int:
    """One more reminder queued; returns how many the notice has had."""
    row = session.get(Notice, notice_id)
    row.reminder_count += 1
    row.updated_at = now
    session.flush()
    return row.reminder_count


def mark_escalated(session: Session, notice_id: int, now: datetime) -> None:
    row = session.get(Notice, notice_id)
    row.escalated_at = row.updated_at = now
    session.flush()


def item_keys(session: Session, notice_id: int) -> set[tuple[str, str]]:
    """(image URL, list) of every item of the notice."""
    rows = session.execute(select(NoticeItem.image_url, NoticeItem.list_name)
                           .where(NoticeItem.notice_id == notice_id))
    return {(url, list_name) for url, list_name in rows}


def add_items(session: Session, notice: NoticeRecord, match_ids: Iterable[int]) -> None:
    """One open item per match, numbered on from the notice's last item."""
    count = item_count(session, notice.id)
    for match_id in match_ids:
        match = session.get(Match, match_id)
        count += 1
        session.add(NoticeItem(
            notice_id=notice.id, match_id=match.id, image_url=match.image_url,
            page_url=match.page_url, first_detected=match.created_at,
            list_name=match.list_name, source=match.source, category=match.category,
            label=match.label, algorithm=match.algorithm, distance=match.distance,
            reference_id=f"{notice.reference}-{count}", status=NoticeItemStatus.OPEN.value,
        ))
    session.flush()


def touch(session: Session, notice_id: int, now: datetime) -> None:
    """Something happened to the notice that changes no status (its updated time moves)."""
    session.get(Notice, notice_id).updated_at = now
    session.flush()


# --- owner responses ------------------------------------------------------------------------


def add_owner_response(session: Session, notice_id: int, action: str, comment: str, *,
                       at: datetime, ip: str | None) -> None:
    session.add(OwnerResponse(notice_id=notice_id, action=OwnerAction(action).value,
                              comment=comment, at=at, ip=ip))
    session.flush()


def owner_responses(session: Session, notice_id: int) -> list[OwnerResponseRecord]:
    rows = session.scalars(select(OwnerResponse).where(OwnerResponse.notice_id == notice_id)
                           .order_by(OwnerResponse.id))
    return [OwnerResponseRecord(id=r.id, notice_id=r.notice_id, action=r.action,
                                comment=r.comment, at=r.at, ip=r.ip) for r in rows]


# --- items and the recheck ------------------------------------------------------------------


def get_item(session: Session, item_id: int) -> NoticeItemRecord | None:
    row = session.get(NoticeItem, item_id)
    return None if row is None else item_record(row)


def item_statuses(session: Session, notice_id: int) -> set[str]:
    return set(session.scalars(
        select(NoticeItem.status).where(NoticeItem.notice_id == notice_id)))


def due_for_recheck(session: Session, *, open_before: datetime, removed_before: datetime,
                    limit: int, notice_id: int | None = None) -> list[RecheckDue]:
    """Items of notified notices last checked before `open_before` (open, reappeared) or
    `removed_before` (removed), never-checked first; only `notice_id`'s with one."""
    query = (
        select(NoticeItem, Match)
        .join(Notice, Notice.id == NoticeItem.notice_id)
        .outerjoin(Match, Match.id == NoticeItem.match_id)
        .where(Notice.status != NoticeStatus.OPEN)  # not yet notified: nothing to recheck
    )
    if notice_id is not None:
        query = query.where(Notice.id == notice_id)
    active = (NoticeItemStatus.OPEN, NoticeItemStatus.REAPPEARED)
    rows = session.execute(
        query.where(or_(
            and_(NoticeItem.status.in_(active),
                 or_(NoticeItem.last_checked_at.is_(None),
                     NoticeItem.last_checked_at <= open_before)),
            and_(NoticeItem.status == NoticeItemStatus.REMOVED,
                 or_(NoticeItem.last_checked_at.is_(None),
                     NoticeItem.last_checked_at <= removed_before)),
        ))
        .order_by(NoticeItem.last_checked_at.is_not(None), NoticeItem.last_checked_at,
                  NoticeItem.id)
        .limit(limit)
    ).all()
    return [
        RecheckDue(item.id, item.image_url, item.status,
                   None if match is None else _evidence(session, match),
                   item.etag, item.last_modified)
        for item, match in rows
    ]


def _evidence(session: Session, match: Match) -> list[ListedEntry]:
    """The listed entries that matched this image when it was found: the item's own match and
    every other match of the same image (URL and bytes) on the same list and listed image
    (source id) — what the crawl's corroboration saw. Rejected reviews are not evidence."""
    same_image = select(Match.algorithm, Match.entry_hash, Match.label, Match.source_id).where(
        Match.image_url_key == match.image_url_key, Match.sha256 == match.sha256,
        Match.list_name == match.list_name, Match.status != MatchStatus.REVIEWED_REJECTED)
    if match.source_id:
        same_image = same_image.where(Match.source_id == match.source_id)
    else:
        same_image = same_image.where(Match.algorithm == match.algorithm,
                                      Match.entry_hash == match.entry_hash)
    entries = {ListedEntry(*row) for row in session.execute(same_image.distinct())}
    entries.add(ListedEntry(match.algorithm, match.entry_hash, match.label, match.source_id))
    return sorted(entries, key=lambda e: (e.algorithm, e.hash, e.source_id))


def recheck_soon(session: Session, notice_id: int) -> None:
    """Make the notice's live items due on the next recheck pass (the owner says removed)."""
    session.execute(
        update(NoticeItem)
        .where(NoticeItem.notice_id == notice_id,
               NoticeItem.status.in_((NoticeItemStatus.OPEN, NoticeItemStatus.REAPPEARED)))
        .values(last_checked_at=None)
        .execution_options(synchronize_session=False))


def record_check(session: Session, item_id: int, now: datetime, *, etag: str | None,
                 last_modified: str | None, forget_validators: bool = False) -> None:
    """A recheck looked at the item now; keep the validators it was given (a None keeps
    the old one), or forget them (the URL answered 404/410)."""
    row = session.get(NoticeItem, item_id)
    row.last_checked_at = now
    if forget_validators:
        row.etag = row.last_modified = None
    else:
        row.etag = etag or row.etag
        row.last_modified = last_modified or row.last_modified
    session.flush()


def close_item(session: Session, item_id: int, now: datetime, *, reason: str | None,
               time_to_removal_s: float) -> None:
    row = session.get(NoticeItem, item_id)
    row.status = NoticeItemStatus.REMOVED.value
    row.removed_at = now
    row.closed_reason = reason
    row.time_to_removal_s = time_to_removal_s
    session.flush()


def reopen_item(session: Session, item_id: int) -> None:
    """A removed image is served again: the item is `reappeared`, open once more."""
    row = session.get(NoticeItem, item_id)
    row.status = NoticeItemStatus.REAPPEARED.value
    row.closed_reason = None
    session.flush()
