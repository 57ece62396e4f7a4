"""Recheck notified images: gone (404/410, or content whose hash no longer matches) closes an
item as removed with its time-to-removal; removed items are rechecked at a lower rate and a
re-upload is flagged `reappeared`.

Fetching uses conditional GET (If-None-Match / If-Modified-Since from the last check) and the
crawler's SSRF guard: the resolver refuses private addresses unless
`settings.allow_private_networks`, and each redirect hop is checked before it is followed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import aiohttp
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session
from yarl import URL

from crawler.body import ACCEPT_ENCODING, read_bounded
from crawler.errors import FetchError, SkipUrl, SsrfBlocked
from crawler.ssrf import GuardedResolver, SsrfPolicy
from matcher.algorithms import default_registry
from matcher.errors import MatcherError
from matcher.hashing import HashOptions, hash_image_decoded
from notices.clock import Clock, SystemClock
from notices.coverage import live_item_notice
from notices.policy import audit, first_notified_at
from records.models import Match, Notice, NoticeItem

log = logging.getLogger(__name__)

PRESENT, GONE, UNKNOWN = "present", "gone", "unknown"


@dataclass(frozen=True)
class FetchResult:
    status: int | None  # None: no HTTP answer (network error, blocked)
    body: bytes | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None


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
            return FetchResult(status=None, error=f"{type(exc).__name__}: {exc}")


def review_distance(settings, algorithm: str) -> int:
    value = getattr(settings, f"{algorithm}_review_distance", None)
    if value is None:
        value = default_registry().get(algorithm).default_review_distance
    return int(value)


def still_matches(body: bytes, algorithm: str, query_hash: str, settings) -> bool:
    """Does `body` hash (with the item's algorithm) to within review distance of the
    hash of the image originally found? Exact algorithms need equality.

    The found hash may be one of the query's variants (a cropdct crop guess, or a PDQ
    rotation when dihedral matching found it), so every hash matching would look the image
    up by is compared, not only the plain one."""
    options = HashOptions(algorithms=(algorithm,), max_pixels=settings.max_image_pixels,
                          working_size=settings.hash_working_size_px)
    plugin = default_registry().get(algorithm)
    try:
        hashes, decoded = hash_image_decoded(body, options, variants=True)
        values = [v.hex for v in (*hashes.values, *hashes.variants) if v.algorithm == algorithm]
        if hasattr(plugin, "compute_dihedral"):
            values += [v.hex for v in plugin.compute_dihedral(decoded)]
    except MatcherError:
        return False  # no longer an image we can decode: not the matched image
    if not values:
        return False
    if plugin.exact:
        return values[0] == query_hash.lower()
    found = int(query_hash, 16)
    distance = min((int(value, 16) ^ found).bit_count() for value in values)
    return distance <= review_distance(settings, algorithm)


def verdict(result: FetchResult, *, previous: str, algorithm: str, query_hash: str | None,
            settings) -> str:
    if result.status is None:
        return UNKNOWN
    if result.status in (404, 410):
        return GONE
    if result.status == 304:
        # Unchanged since the last check: the last verdict stands.
        return GONE if previous == "removed" else PRESENT
    if result.status == 200 and result.body is not None:
        if query_hash is None:
            return PRESENT  # nothing to compare with: it is still served
        return PRESENT if still_matches(result.body, algorithm, query_hash, settings) else GONE
    return UNKNOWN  # 403, 429, 5xx...: cannot tell, ask again next time


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
    algorithm: str
    query_hash: str | None
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

    def due(self, session: Session, limit: int) -> list[_Due]:
        now = self.clock.now()
        open_before = now - timedelta(seconds=self.settings.recheck_interval_s)
        removed_before = now - timedelta(seconds=self.settings.removed_recheck_interval_s)
        rows = session.execute(
            select(NoticeItem, Match.query_hash)
            .join(Notice, Notice.id == NoticeItem.notice_id)
            .outerjoin(Match, Match.id == NoticeItem.match_id)
            .where(Notice.status != "open")  # not yet notified: nothing to recheck
            .where(or_(
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
            _Due(item.id, item.image_url, item.status, item.algorithm, query_hash,
                 item.etag, item.last_modified)
            for item, query_hash in rows
        ]

    async def run_once(self, limit: int = 500) -> RecheckResult:
        with self.db.session() as session:
            due = self.due(session, limit)
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
            found = await asyncio.to_thread(
                verdict, fetched, previous=item.status, algorithm=item.algorithm,
                query_hash=item.query_hash, settings=self.settings,
            )
            self._apply(item, fetched, found, result)

    def _apply(self, due: _Due, fetched: FetchResult, found: str, result: RecheckResult) -> None:
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
                notified = first_notified_at(session, notice.id) or notice.window_end
                item.time_to_removal_s = max(0.0, (now - notified).total_seconds())
                result.removed.append(item.id)
                audit(session, now, "system", "notice_item.removed", f"notice:{notice.id}",
                      item=item.id, time_to_removal_s=item.time_to_removal_s)
            elif found == PRESENT and item.status == "removed":
                newer = live_item_notice(session, notice.site_id, item.image_url,
                                         except_item_id=item.id)
                if newer is None:
                    item.status = "reappeared"
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
