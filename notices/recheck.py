"""Recheck notified images: gone (404/410, a host name that no longer resolves, or content
that no longer matches) closes an item as removed with its time-to-removal and the reason;
removed items are rechecked at a lower rate and a re-upload is flagged `reappeared`.

"Still matches" is decided by the crawl's own function (`matcher.service.matches_listed`:
every query variant incl. border trim and dihedral turns, the same quality floor and
corroboration) against the listed entries that matched the image when it was found, so an
image the crawl matched is never closed as removed while it is still served.

Fetching uses conditional GET (If-None-Match / If-Modified-Since from the last check) and the
crawler's SSRF guard: the resolver refuses private addresses unless
`settings.allow_private_networks`, and each redirect hop is checked before it is followed.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import aiohttp
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from yarl import URL

from spinneret.crawler.body import ACCEPT_ENCODING, read_bounded
from spinneret.crawler.errors import FetchError, SkipUrl, SsrfBlocked
from spinneret.crawler.ssrf import GuardedResolver, SsrfPolicy
from spinneret.matcher.errors import MatcherError
from spinneret.matcher.hashing import HashOptions
from spinneret.matcher.matching import Thresholds
from spinneret.matcher.service import matches_listed
from spinneret.matcher.store import ListEntry
from spinneret.notices.clock import Clock, SystemClock
from spinneret.notices.coverage import live_item_notice
from spinneret.notices.policy import audit, first_notified_at
from spinneret.records.models import Match, Notice, NoticeItem

log = logging.getLogger(__name__)

PRESENT, GONE, UNKNOWN = "present", "gone", "unknown"


@dataclass(frozen=True)
class FetchResult:
    status: int | None  # None: no HTTP answer (network error, blocked)
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    #: The host name does not resolve (NXDOMAIN / no address): the site is gone.
    host_unknown: bool = False


class ImageFetcher(Protocol):
    async def fetch(self, url: str, *, etag: str | None,
                    last_modified: str | None) -> FetchResult: ...


class HttpImageFetcher:
    """One conditional GET per call, redirects followed by hand (each hop SSRF-checked)."""

    def __init__(self, *, allow_private: bool, timeout_s: float, max_bytes: int,
                 max_redirects: int, user_agent: str, allowed_networks: Iterable[str] = (),
                 max_ratio: float = 200) -> None:
        self.policy = SsrfPolicy(allow_private, allowed_networks)
        self.max_ratio = max_ratio
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings) -> HttpImageFetcher:
        return cls(
            allow_private=settings.allow_private_networks, timeout_s=settings.fetch_timeout_s,
            max_bytes=min(settings.max_response_bytes, settings.max_image_bytes),
            max_redirects=settings.max_redirects, user_agent=settings.effective_user_agent,
            allowed_networks=settings.allowed_networks,
            max_ratio=settings.max_decompression_ratio,
        )

    async def __aenter__(self) -> HttpImageFetcher:
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.policy), limit=16)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            headers={"User-Agent": self.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            auto_decompress=False,  # crawler.body decompresses, within its caps
        )
        return self

    async def __aexit__(self, *exc) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str, *, etag: str | None,
                    last_modified: str | None) -> FetchResult:
        if self._session is None:
            raise RuntimeError("use `async with HttpImageFetcher(...)`")
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        try:
            for _ in range(self.max_redirects + 1):
                target = self.policy.check_url(current)
                async with self._session.get(target, headers=headers,
                                             allow_redirects=False) as response:
                    if response.status in (301, 302, 303, 307, 308) and "Location" in response.headers:
                        current = str(target.join(URL(response.headers["Location"])))
                        continue
                    body, error = None, None
                    if response.status == 200:
                        try:
                            body = await read_bounded(response, str(target),
                                                      max_bytes=self.max_bytes,
                                                      max_ratio=self.max_ratio)
                        except FetchError as exc:  # too big to be the image we matched:
                            error = str(exc)  # "cannot tell"
                    return FetchResult(
                        status=response.status, body=body, etag=response.headers.get("ETag"),
                        last_modified=response.headers.get("Last-Modified"), error=error,
                    )
            return FetchResult(status=None, error="too many redirects")
        except (SsrfBlocked, SkipUrl) as exc:
            return FetchResult(status=None, error=str(exc))
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            return FetchResult(status=None, error=f"{type(exc).__name__}: {exc}",
                               host_unknown=host_unknown(exc))


#: getaddrinfo answers that mean "no such name", not "try again" (EAI_AGAIN stays unknown).
_NO_SUCH_NAME = {getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, n)}


def host_unknown(exc: BaseException) -> bool:
    """Did this fetch fail because the host name does not exist? A temporary resolver
    failure does not count: closing an item needs the name to be really gone."""
    if not isinstance(exc, aiohttp.ClientConnectorDNSError):
        return False
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return seen.errno in _NO_SUCH_NAME
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "os_error", None)
        if seen is exc:
            break
    text = str(exc).lower()
    return "name or service not known" in text or "name not known" in text


def still_matches(body: bytes, evidence: list[ListEntry], settings) -> bool:
    """Does `body` still match the listed entries that matched the image (`evidence`), under
    exactly the rules the crawl used? A body that no longer decodes does not."""
    try:
        return bool(matches_listed(
            body, evidence, Thresholds.from_settings(settings),
            HashOptions.from_settings(settings), dihedral=settings.match_dihedral))
    except MatcherError:
        return False


def verdict(result: FetchResult, *, previous: str, evidence: list[ListEntry] | None,
            settings) -> tuple[str, str | None]:
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
        if still_matches(result.body, evidence, settings):
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
    evidence: list[ListEntry] | None
    etag: str | None
    last_modified: str | None


class Rechecker:
    def __init__(self, db, settings, *, clock: Clock | None = None,
                 fetcher: ImageFetcher | None = None, concurrency: int = 8) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock or SystemClock()
        self.fetcher = fetcher
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
        if self.fetcher is not None:
            await self._check_all(self.fetcher, due, result)
        else:
            async with HttpImageFetcher.from_settings(self.settings) as fetcher:
                await self._check_all(fetcher, due, result)
        return result

    async def _check_all(self, fetcher: ImageFetcher, due: list[_Due],
                         result: RecheckResult) -> None:
        semaphore = asyncio.Semaphore(self.concurrency)

        async def one(item: _Due) -> tuple[_Due, FetchResult]:
            async with semaphore:
                return item, await fetcher.fetch(item.url, etag=item.etag,
                                                 last_modified=item.last_modified)

        for item, fetched in await asyncio.gather(*(one(item) for item in due)):
            # Hashing is CPU work; keep it off the event loop only where it matters (bodies).
            found, reason = await asyncio.to_thread(
                verdict, fetched, previous=item.status, evidence=item.evidence,
                settings=self.settings,
            )
            self._apply(item, fetched, found, reason, result)

    def _apply(self, due: _Due, fetched: FetchResult, found: str, reason: str | None,
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


def _evidence(session: Session, match: Match) -> list[ListEntry]:
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
    entries = {ListEntry(*row) for row in session.execute(same_image.distinct())}
    entries.add(ListEntry(match.algorithm, match.entry_hash, match.label, match.source_id))
    return sorted(entries, key=lambda e: (e.algorithm, e.hash, e.source_id))
