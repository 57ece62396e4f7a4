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

from sqlalchemy.orm import Session

from spinneret.notices.clock import Clock, SystemClock
from spinneret.notices.coverage import live_item_notice
from spinneret.notices.errors import NoticeError
from spinneret.notices.policy import audit
from spinneret.notices.ports import (
    FetchedImage,
    FetchResult,
    ImageFetcher,
    RecheckPorts,
    StillMatches,
)
from spinneret.records import deliveries
from spinneret.records import notices as notices_repo
from spinneret.records.states import NoticeItemStatus, NoticeStatus
from spinneret.records.types import ListedEntry, NoticeRecord, RecheckDue

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


class Rechecker:
    """`ports`: the fetcher and the hasher (needed to run a pass, not to list what is due)."""

    def __init__(self, db, settings, *, ports: RecheckPorts | None = None,
                 clock: Clock | None = None, concurrency: int = 8) -> None:
        self.db = db
        self.settings = settings
        self.ports = ports
        self.clock = clock or SystemClock()
        self.concurrency = concurrency

    def due(self, session: Session, limit: int,
            notice_id: int | None = None) -> list[RecheckDue]:
        """Items due a recheck; with `notice_id`, every item of that notice, due or not (an
        analyst asked for it)."""
        now = self.clock.now()
        open_before = now - timedelta(seconds=self.settings.recheck_interval_s)
        removed_before = now - timedelta(seconds=self.settings.removed_recheck_interval_s)
        if notice_id is not None:
            open_before = removed_before = now
        return notices_repo.due_for_recheck(session, open_before=open_before,
                                            removed_before=removed_before, limit=limit,
                                            notice_id=notice_id)

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

    async def _check_all(self, fetcher: ImageFetcher, due: list[RecheckDue],
                         result: RecheckResult) -> None:
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(item: RecheckDue) -> tuple[RecheckDue, FetchedImage]:
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

    def _apply(self, due: RecheckDue, fetched: FetchedImage, found: str, reason: str | None,
               result: RecheckResult) -> None:
        now = self.clock.now()
        result.checked += 1
        with self.db.session() as session:
            item = notices_repo.get_item(session, due.item_id)
            notice = notices_repo.get(session, item.notice_id)
            validated = fetched.status in (200, 304)  # other answers' validators mean nothing
            notices_repo.record_check(
                session, item.id, now, etag=fetched.etag if validated else None,
                last_modified=fetched.last_modified if validated else None,
                forget_validators=fetched.status in (404, 410))
            active = item.status in (NoticeItemStatus.OPEN, NoticeItemStatus.REAPPEARED)
            if found == UNKNOWN:
                result.unknown.append(item.id)
                log.info("recheck %s: cannot tell (%s)", item.image_url,
                         fetched.error or fetched.status)
            elif found == GONE and active:
                notified = deliveries.first_sent_at(session, notice.id) or notice.window_end
                time_to_removal_s = max(0.0, (now - notified).total_seconds())
                notices_repo.close_item(session, item.id, now, reason=reason,
                                        time_to_removal_s=time_to_removal_s)
                result.removed.append(item.id)
                audit(session, now, "system", "notice_item.removed", f"notice:{notice.id}",
                      item=item.id, time_to_removal_s=time_to_removal_s, reason=reason)
            elif found == PRESENT and item.status == NoticeItemStatus.REMOVED:
                newer = live_item_notice(session, notice.site_id, item.image_url,
                                         except_item_id=item.id)
                if newer is None:
                    notices_repo.reopen_item(session, item.id)
                # else a crawl found the re-upload first and a newer notice follows it: the
                # owner hears about the URL once, so this item stays closed.
                result.reappeared.append(item.id)
                audit(session, now, "system", "notice_item.reappeared", f"notice:{notice.id}",
                      item=item.id, url=item.image_url, followed_by_notice=newer)
            elif found == PRESENT:
                result.present.append(item.id)
            self._update_notice(session, notice, now)

    @staticmethod
    def _update_notice(session: Session, notice: NoticeRecord, now) -> None:
        statuses = notices_repo.item_statuses(session, notice.id)
        if statuses == {NoticeItemStatus.REMOVED} and notice.status != NoticeStatus.REMOVED:
            notices_repo.set_status(session, notice.id, NoticeStatus.REMOVED, now)
        elif NoticeItemStatus.REAPPEARED in statuses and notice.status == NoticeStatus.REMOVED:
            # live again: reminders resume
            notices_repo.set_status(session, notice.id, NoticeStatus.SENT, now)
