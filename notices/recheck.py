"""Recheck notified images: gone (404/410, a host name that no longer resolves, or content
that no longer matches) closes an item as removed with its time-to-removal and the reason;
removed items are rechecked at a lower rate and a re-upload is flagged `reappeared`.

The fetching and the hashing come in through ports (`notices.ports`), wired by the
composition root (`spinneret.runtime.recheck`): a conditional GET (If-None-Match /
If-Modified-Since from the last check) behind the crawler's SSRF guard, and "still matches"
decided by the crawl's own rules against the listed entries that matched the image when it
was found, so an image the crawl matched is never closed as removed while it is still served.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from spinneret.notices.clock import Clock, SystemClock
from spinneret.notices.coverage import live_item_notice
from spinneret.notices.errors import NoticeError
from spinneret.notices.policy import audit, first_notified_at
from spinneret.notices.ports import (
    FetchedImage,
    FetchResult,
    ImageFetcher,
    RecheckPorts,
    StillMatches,
)
from spinneret.records.models import Match, Notice, NoticeItem
from spinneret.records.types import ListedEntry

log = logging.getLogger(__name__)

PRESENT, GONE, UNKNOWN = "present", "gone", "unknown"

__all__ = ["GONE", "PRESENT", "UNKNOWN", "FetchResult", "RecheckResult", "Rechecker", "verdict"]


def verdict(result: FetchedImage, *, previous: str, evidence: list[ListedEntry] | None,
            still_matches: StillMatches) -> tuple[str, str | None]:
    """(PRESENT / GONE / UNKNOWN, why it is gone)."""
    if result.status is None:
        if result.host_unknown:
            return GONE, "host name no longer resolves"
        return UNKNOWN, None
    if result.status in (404, 410):
        return GONE, f"HTTP {result.status}"
    if result.status == 304:
        # Unchanged since the last check: the last verdict stands.
        return (GONE, None) if previous == "removed" else (PRESENT, None)
    if result.status == 200 and result.body is not None:
        if not evidence:
            return PRESENT, None  # nothing to compare with: it is still served
        if still_matches(result.body, evidence):
            return PRESENT, None
        return GONE, "no longer matches the listed image (served 200, compared as a crawl would)"
    return UNKNOWN, None  # 403, 429, 5xx...: cannot tell, ask again next time


@dataclass
class RecheckResult:
    checked: int = 0
    removed: list[int] = field(default_factory=list)
    present: list[int] = field(default_factory=list)
    reappeared: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class _Due:
    item_id: int
    url: str
    status: str
    #: The listed entries that matched the image when it was found (None: not recorded).
    evidence: list[ListedEntry] | None
    etag: str | None
    last_modified: str | None


class Rechecker:
    """`ports`: the fetcher and the hasher (needed to run a pass, not to list what is due)."""

    def __init__(self, db, settings, *, ports: RecheckPorts | None = None,
                 clock: Clock | None = None, concurrency: int = 8) -> None:
        self.db = db
        self.settings = settings
        self.ports = ports
        self.clock = clock or SystemClock()
        self.concurrency = concurrency

    def due(self, session: Session, limit: int, notice_id: int | None = None) -> list[_Due]:
        """Items due a recheck; with `notice_id`, every item of that notice, due or not (an
        analyst asked for it)."""
        now = self.clock.now()
        open_before = now - timedelta(seconds=self.settings.recheck_interval_s)
        removed_before = now - timedelta(seconds=self.settings.removed_recheck_interval_s)
        if notice_id is not None:
            open_before = removed_before = now
        query = (
            select(NoticeItem, Match)
            .join(Notice, Notice.id == NoticeItem.notice_id)
            .outerjoin(Match, Match.id == NoticeItem.match_id)
            .where(Notice.status != "open")  # not yet notified: nothing to recheck
        )
        if notice_id is not None:
            query = query.where(Notice.id == notice_id)
        rows = session.execute(
            query.where(or_(
                and_(NoticeItem.status.in_(("open", "reappeared")),
                     or_(NoticeItem.last_checked_at.is_(None),
                         NoticeItem.last_checked_at <= open_before)),
                and_(NoticeItem.status == "removed",
                     or_(NoticeItem.last_checked_at.is_(None),
                         NoticeItem.last_checked_at <= removed_before)),
            ))
            .order_by(NoticeItem.last_checked_at.is_not(None), NoticeItem.last_checked_at,
                      NoticeItem.id)
            .limit(limit)
        ).all()
        return [
            _Due(item.id, item.image_url, item.status,
                 None if match is None else _evidence(session, match),
                 item.etag, item.last_modified)
            for item, match in rows
        ]

    async def run_once(self, limit: int = 500, notice_id: int | None = None) -> RecheckResult:
        with self.db.session() as session:
            due = self.due(session, limit, notice_id)
        result = RecheckResult()
        if not due:
            return result
        if self.ports is None:
            raise NoticeError("the recheck has no fetcher and hasher wired in "
                              "(build the notices service through spinneret.runtime)")
        async with self.ports.open_fetcher() as fetcher:
            await self._check_all(fetcher, due, result)
        return result

    async def _check_all(self, fetcher: ImageFetcher, due: list[_Due],
                         result: RecheckResult) -> None:
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(item: _Due) -> tuple[_Due, FetchedImage]:
            async with semaphore:
                return item, await fetcher.fetch(item.url, etag=item.etag,
                                                 last_modified=item.last_modified)

        for item, fetched in await asyncio.gather(*(one(item) for item in due)):
            # Hashing is CPU work; keep it off the event loop only where it matters (bodies).
            found, reason = await asyncio.to_thread(
                verdict, fetched, previous=item.status, evidence=item.evidence,
                still_matches=self.ports.still_matches,
            )
            self._apply(item, fetched, found, reason, result)

    def _apply(self, due: _Due, fetched: FetchedImage, found: str, reason: str | None,
               result: RecheckResult) -> None:
        now = self.clock.now()
        result.checked += 1
        with self.db.session() as session:
            item = session.get(NoticeItem, due.item_id)
            notice = session.get(Notice, item.notice_id)
            item.last_checked_at = now
            if fetched.status in (200, 304):
                item.etag = fetched.etag or item.etag
                item.last_modified = fetched.last_modified or item.last_modified
            elif fetched.status in (404, 410):
                item.etag = item.last_modified = None
            if found == UNKNOWN:
                result.unknown.append(item.id)
                log.info("recheck %s: cannot tell (%s)", item.image_url,
                         fetched.error or fetched.status)
            elif found == GONE and item.status in ("open", "reappeared"):
                item.status = "removed"
                item.removed_at = now
                item.closed_reason = reason
                notified = first_notified_at(session, notice.id) or notice.window_end
                item.time_to_removal_s = max(0.0, (now - notified).total_seconds())
                result.removed.append(item.id)
                audit(session, now, "system", "notice_item.removed", f"notice:{notice.id}",
                      item=item.id, time_to_removal_s=item.time_to_removal_s, reason=reason)
            elif found == PRESENT and item.status == "removed":
                newer = live_item_notice(session, notice.site_id, item.image_url,
                                         except_item_id=item.id)
                if newer is None:
                    item.status = "reappeared"
                    item.closed_reason = None
                # else a crawl found the re-upload first and a newer notice follows it: the
                # owner hears about the URL once, so this item stays closed.
                result.reappeared.append(item.id)
                audit(session, now, "system", "notice_item.reappeared", f"notice:{notice.id}",
                      item=item.id, url=item.image_url, followed_by_notice=newer)
            elif found == PRESENT:
                result.present.append(item.id)
            self._update_notice(session, notice, now)

    @staticmethod
    def _update_notice(session: Session, notice: Notice, now) -> None:
        statuses = set(session.scalars(
            select(NoticeItem.status).where(NoticeItem.notice_id == notice.id)))
        if statuses == {"removed"} and notice.status != "removed":
            notice.status = "removed"
            notice.updated_at = now
        elif "reappeared" in statuses and notice.status == "removed":
            notice.status = "sent"  # live again: reminders resume
            notice.updated_at = now


def _evidence(session: Session, match: Match) -> list[ListedEntry]:
    """The listed entries that matched this image when it was found: the item's own match and
    every other match of the same image (URL and bytes) on the same list and listed image
    (source id) — what the crawl's corroboration saw. Rejected reviews are not evidence."""
    same_image = select(Match.algorithm, Match.entry_hash, Match.label, Match.source_id).where(
        Match.image_url_key == match.image_url_key, Match.sha256 == match.sha256,
        Match.list_name == match.list_name, Match.status != "reviewed_rejected")
    if match.source_id:
        same_image = same_image.where(Match.source_id == match.source_id)
    else:
        same_image = same_image.where(Match.algorithm == match.algorithm,
                                      Match.entry_hash == match.entry_hash)
    entries = {ListedEntry(*row) for row in session.execute(same_image.distinct())}
    entries.add(ListedEntry(match.algorithm, match.entry_hash, match.label, match.source_id))
    return sorted(entries, key=lambda e: (e.algorithm, e.hash, e.source_id))
