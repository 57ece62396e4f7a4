"""Is a match already taken care of? SQL conditions on `Match`, shared by the grouping policy
(which matches become notice items) and the review queue (which matches an analyst sees).

A match is *covered* when its site already has a notice item for the same image URL that is

- live: `open` or `reappeared` (the owner is being asked about it), or
- `removed` at or after the match was found: the sighting predates the removal, so the image
  is already gone. A match found after the removal is a new sighting and is not covered.

A *suppressed* match is one whose URL + list entry an analyst rejected.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from spinneret.records.models import Match, Notice, NoticeItem, Suppression
from spinneret.records.states import NoticeItemStatus

ACTIVE_ITEM_STATUSES = (NoticeItemStatus.OPEN.value, NoticeItemStatus.REAPPEARED.value)


def suppressed_clause():
    return exists().where(
        and_(
            Suppression.image_url_key == Match.image_url_key,
            Suppression.list_name == Match.list_name,
            Suppression.algorithm == Match.algorithm,
            Suppression.entry_hash == Match.entry_hash,
        )
    )


def _same_url_item(*conditions):
    return exists().where(
        NoticeItem.notice_id == Notice.id,
        Notice.site_id == Match.site_id,
        NoticeItem.image_url == Match.image_url,
        *conditions,
    )


def in_live_item_clause(*, except_notice_id: int | None = None):
    """The URL is in a live item (of any notice but `except_notice_id`)."""
    conditions = [NoticeItem.status.in_(ACTIVE_ITEM_STATUSES)]
    if except_notice_id is not None:
        conditions.append(Notice.id != except_notice_id)
    return _same_url_item(*conditions)


def removed_since_found_clause():
    """The URL's item was closed as removed at or after this match was found."""
    return _same_url_item(NoticeItem.status == "removed",
                          NoticeItem.removed_at >= Match.created_at)


def covered_clause():
    return in_live_item_clause() | removed_since_found_clause()


def live_item_notice(session: Session, site_id: int, image_url: str, *,
                     except_item_id: int) -> int | None:
    """The notice of another live item of the site for this URL, if any: a re-upload found
    by a crawl gets a new notice, which then follows the URL instead of the old item."""
    return session.scalar(
        select(NoticeItem.notice_id).join(Notice, Notice.id == NoticeItem.notice_id)
        .where(Notice.site_id == site_id, NoticeItem.image_url == image_url,
               NoticeItem.status.in_(ACTIVE_ITEM_STATUSES), NoticeItem.id != except_item_id)
        .limit(1))


def match_ids_where(session: Session, match_ids: list[int], clause) -> set[int]:
    """The ids among `match_ids` for which `clause` holds."""
    if not match_ids:
        return set()
    return set(session.scalars(select(Match.id).where(Match.id.in_(match_ids), clause)))
