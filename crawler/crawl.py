"""The crawl loop: workers pop from the Redis frontier, fetch, extract, and hand images on.

Pages and stylesheets are followed only in scope; images may come from any host. Images
are preferred over pages (so the image queue stays short) unless the sink asks to back
out, in which case only pages are fetched until it recovers.

The parts, along Scrapy's seams: the frontier (scheduler, `types.Frontier`), the fetcher
(downloader, crawler.fetch), the rules each request passes (crawler.hops, with robots.txt
in `robots.RobotsGate`), one handler per item kind (`Crawler._handlers`), and the counters
(crawler.tally). This module schedules and wires them.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp.abc import AbstractResolver
from yarl import URL

from spinneret.crawler.body import decode_bounded
from spinneret.crawler.errors import CrawlerError, FetchError, SkipUrl
from spinneret.crawler.extract import (
    DataImage,
    Extracted,
    extract_css,
    extract_html,
    extract_sitemap,
)
from spinneret.crawler.fetch import Fetcher, Response
from spinneret.crawler.frontier import IMAGES, PAGES, QueueItem
from spinneret.crawler.hops import HopContext, hop_checker
from spinneret.crawler.robots import RobotsGate
from spinneret.crawler.scope import Scope
from spinneret.crawler.sniff import sniff, sniff_image
from spinneret.crawler.tally import StatsTally
from spinneret.crawler.types import CrawlStats, FoundImage

if TYPE_CHECKING:
    from spinneret.crawler.types import CrawlSettings, CrawlTarget, Frontier, ImageSink

log = logging.getLogger(__name__)
ProgressCallback = Callable[[CrawlStats], None]
_IDLE_POLL_S = 0.02
_FLUSH_INTERVAL_S = 0.5
_PROGRESS_INTERVAL_S = 0.1
# A crawler process renews its lease on the crawl at every flush; one silent for this long
# is taken for dead and its in-flight items are requeued by the others.
OWNER_LEASE_S = 15.0
# URLs this process remembers having queued (a shortcut before Redis): bounded memory.
MAX_KNOWN_URLS = 100_000


class Crawler:
    """One crawler process's work on one crawl; `settings` from `CrawlSettings.from_settings`."""

    def __init__(self, site: CrawlTarget, settings: CrawlSettings,
                 frontier: Frontier, sink: ImageSink, *,
                 on_progress: ProgressCallback | None = None,
                 resolver: AbstractResolver | None = None) -> None:
        self.site = site
        self.settings = settings
        self.frontier = frontier
        self.sink = sink
        self.on_progress = on_progress
        self.resolver = resolver
        self.scope = Scope(site.scope)
        self.max_pages = site.max_pages or self.settings.default_max_pages
        self.max_depth = (site.max_depth if site.max_depth is not None
                          else self.settings.default_max_depth)
        self._tally = StatsTally()
        self._processing = 0
        self._refilling = False
        self._buffer: deque[tuple[QueueItem, bytes]] = deque()
        self._pending_done: list[bytes] = []
        self._known: set[str] = set()  # URLs already handed to the frontier by this run
        self._done = False
        self._pages_started = 0
        self._resources_started = 0  # stylesheets and sitemaps fetched by this process
        self._last_progress = 0.0
        self._requests_counted = 0
        self._bytes_counted = 0
        self._counted_until = 0.0  # time.monotonic() up to which duration_s is counted
        # Built here, opened by run(): a Fetcher holds no connection until open().
        self.fetcher = Fetcher(settings, rate_per_s=site.rate_per_s, resolver=resolver)
        self.robots = RobotsGate(self.fetcher, settings.user_agent, obey=not site.ignore_robots,
                                 on_fetch_error=lambda kind: self._tally.count("errors", kind))
        self._hops = HopContext(self.scope, frontier, self.robots)
        # Dispatch on item.kind; a kind this version does not know is passed over.
        self._handlers: dict[str, Callable[[QueueItem], Awaitable[None]]] = {
            "page": self._do_page, "image": self._do_image,
            "css": self._do_css, "sitemap": self._do_sitemap,
        }
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @property
    def stats(self) -> CrawlStats:
        return self._tally.stats

    # --- public -------------------------------------------------------------------
    async def run(self) -> CrawlStats:
        self._tally.stats = await self.frontier.load_stats()
        self._counted_until = time.monotonic()
        self._pages_started = self.stats.pages_fetched
        await self.fetcher.open()
        workers: list[asyncio.Task] = []
        flusher: asyncio.Task | None = None
        try:
            others = await self.frontier.join(self.owner, OWNER_LEASE_S)
            if await self.frontier.started():
                if others:  # their in-flight items are theirs; a dead one's expire (_all_idle)
                    log.info("crawl %s: joining %d other crawler(s)", self.site.crawl_id, others)
                else:
                    requeued = await self.frontier.requeue_inflight()
                    log.info("crawl %s resumes; %d in-flight items requeued",
                             self.site.crawl_id, requeued)
            else:
                await self._seed()
                await self.frontier.set_meta(started_at=time.time())
            workers = [asyncio.create_task(self._worker())
                       for _ in range(self.settings.crawl_concurrency)]
            flusher = asyncio.create_task(self._flush_loop())
            await asyncio.gather(*workers)
            self.stats.finished = True
            await self.frontier.set_meta(finished_at=time.time())
        finally:
            for task in [*workers, flusher]:
                if task is not None:
                    task.cancel()
            await asyncio.gather(*[t for t in [*workers, flusher] if t is not None],
                                 return_exceptions=True)
            await asyncio.shield(self._flush())
            await asyncio.shield(self.frontier.leave(self.owner))
            await self.fetcher.close()
        self._progress(force=True)
        return self.stats.snapshot()

    # --- seeding --------------------------------------------------------------------
    async def _seed(self) -> None:
        items: list[QueueItem] = []
        for url in self.site.start_urls:
            try:
                self.scope.check_page(URL(url))
            except SkipUrl as exc:
                self._tally.count("urls_skipped", exc.reason)
                self._start_not_fetched(exc.reason, exc)
                continue
            items.append(QueueItem(url, "page", 0, "", "start"))
        origins = {str(URL(u).origin()) for u in self.site.start_urls}
        for origin in sorted(origins):
            rules = await self.robots.rules(URL(origin))
            for sitemap in (rules.sitemaps if rules else ()):
                items.append(QueueItem(sitemap, "sitemap", 0, origin + "/robots.txt",
                                       "robots"))
        await self._enqueue(items)

    # --- the worker loop ---------------------------------------------------------
    async def _worker(self) -> None:
        # Items are popped in batches into a local buffer (still "in flight" in Redis) and
        # marked done in batches with the next pop: two Redis round trips saved per item.
        while not self._done:
            if not self._buffer:
                if await self._refill():
                    continue
                if await self._all_idle():
                    self._done = True
                    return
                await asyncio.sleep(_IDLE_POLL_S)
                continue
            item, raw = self._buffer.popleft()
            self._processing += 1
            try:
                await self._process(item)
            finally:
                self._processing -= 1
            self._pending_done.append(raw)
            self._progress()

    async def _refill(self) -> bool:
        if self._refilling:
            return False
        self._refilling = True
        try:
            queues = [] if self.sink.needs_backout() else [IMAGES]
            queues.append(PAGES)
            done, self._pending_done = self._pending_done, []
            try:
                batch = await self.frontier.pop_batch(queues, self.settings.crawl_concurrency,
                                                      done)
            except BaseException:
                self._pending_done.extend(done)
                raise
            self._buffer.extend(batch)
            return bool(batch)
        finally:
            self._refilling = False

    def _busy(self) -> bool:
        return bool(self._processing or self._buffer or self._refilling)

    async def _all_idle(self) -> bool:
        """Done when this process is idle and nothing is queued or in flight anywhere
        (another crawler process on the same crawl may still add links)."""
        if self._busy():
            return False
        done, self._pending_done = self._pending_done, []
        try:
            await self.frontier.done_many(done)
        except BaseException:
            self._pending_done.extend(done)  # still to be marked done by the final flush
            raise
        pages, images, inflight = await self.frontier.pending()
        if self._busy() or pages or images:
            return False
        if inflight and not await self.frontier.join(self.owner, OWNER_LEASE_S) \
                and not self._busy():
            # Left by a crawler process whose lease ran out: it died; do its items.
            await self.frontier.requeue_inflight()
            return False
        return not inflight

    async def _process(self, item: QueueItem) -> None:
        handler = self._handlers.get(item.kind)
        if handler is None:
            return
        is_image = item.kind == "image"
        try:
            await handler(item)
        except SkipUrl as exc:
            self._tally.count("images_skipped" if is_image else "urls_skipped", exc.reason)
            if item.via == "start":
                self._start_not_fetched(exc.reason, exc)
        except FetchError as exc:
            self._tally.count("errors", exc.kind)
            if is_image:
                self._tally.count("images_skipped", exc.kind)
            elif exc.kind == "too_large":  # a page, stylesheet or sitemap not read: say why
                self._tally.count("urls_skipped", "too_large")
            if item.via == "start":
                self._start_not_fetched(exc.kind, exc)
            log.debug("%s", exc)

    def _start_not_fetched(self, reason: str, exc: Exception) -> None:
        self._tally.count("start_skipped", reason)
        log.warning("crawl %s: start URL not fetched: %s", self.site.crawl_id, exc)

    # --- per kind ----------------------------------------------------------------------
    async def _fetch_ok(self, item: QueueItem, *, page_scope: bool,
                        max_bytes: int | None = None) -> Response:
        response = await self.fetcher.fetch(item.url, max_bytes=max_bytes,
                                            check_hop=hop_checker(self._hops, page=page_scope))
        if response.status >= 300:
            raise FetchError(f"http_{response.status}", response.url)
        return response

    async def _do_page(self, item: QueueItem) -> None:
        if self._pages_started >= self.max_pages:
            raise SkipUrl("max_pages", item.url)
        self._pages_started += 1
        response = await self._fetch_ok(item, page_scope=True)
        self._tally.add("pages_fetched")
        kind = sniff(response.body, response.content_type)
        if kind.startswith("image/"):  # a link without an image extension, to an image
            self._tally.add("images_found")
            await self._submit(response.url, item.page_url or response.url, response.body,
                               kind, item.via or "page")
        elif kind == "text/html":
            extracted = extract_html(response.body, response.url,
                                     max_data_bytes=self.settings.max_response_bytes,
                                     max_links=self.settings.max_links_per_page,
                                     max_images=self.settings.max_images_per_page,
                                     content_type=response.headers.get("Content-Type"))
            await self._handle_extracted(extracted, response.url, item.depth)
        elif kind == "text/css":
            extracted = self._extract_css(response)
            await self._handle_extracted(extracted, response.url, item.depth)
        else:
            self._tally.count("urls_skipped", "not_html")

    async def _do_image(self, item: QueueItem) -> None:
        response = await self._fetch_ok(item, page_scope=False)
        mime = sniff_image(response.body)
        if mime is None:
            raise SkipUrl("not_image", response.url)
        await self._submit(response.url, item.page_url, response.body, mime, item.via)

    def _start_resource(self, item: QueueItem) -> None:
        # Stylesheets and sitemaps lead to more of themselves (an endless @import or
        # sitemap-index chain): as many of them as pages, at most.
        if self._resources_started >= self.max_pages:
            raise SkipUrl("max_pages", item.url)
        self._resources_started += 1

    def _extract_css(self, response: Response) -> Extracted:
        return extract_css(response.body, response.url,
                           max_links=self.settings.max_links_per_page,
                           max_images=self.settings.max_images_per_page)

    async def _do_css(self, item: QueueItem) -> None:
        self._start_resource(item)
        response = await self._fetch_ok(item, page_scope=False)
        extracted = self._extract_css(response)
        await self._handle_extracted(extracted, response.url, item.depth)

    async def _do_sitemap(self, item: QueueItem) -> None:
        self._start_resource(item)
        response = await self._fetch_ok(item, page_scope=False)
        body = response.body
        if body[:2] == b"\x1f\x8b":  # a .xml.gz file (not a Content-Encoding)
            body = decode_bounded(body, response.url, max_bytes=self.settings.max_response_bytes,
                                  max_ratio=self.settings.max_decompression_ratio)
        extracted = extract_sitemap(body, response.url,
                                    max_images=self.settings.max_images_per_page)
        # Pages listed in a sitemap are one step from the start page.
        await self._handle_extracted(extracted, response.url, 0)

    # --- links and images ------------------------------------------------------
    async def _handle_extracted(self, extracted: Extracted, page_url: str, depth: int) -> None:
        if extracted.links_over_cap:
            self._tally.count("urls_skipped", "too_many_links", extracted.links_over_cap)
        if extracted.images_over_cap:
            self._tally.count("images_skipped", "too_many_images", extracted.images_over_cap)
        items: list[QueueItem] = []
        for link in extracted.links:
            try:
                url = URL(link.url)
                if link.kind == "page":
                    if depth + 1 > self.max_depth:
                        raise SkipUrl("max_depth", link.url)
                    if self._pages_started >= self.max_pages:
                        raise SkipUrl("max_pages", link.url)  # never fetched: not queued
                    self.scope.check_page(url)
                    items.append(QueueItem(link.url, "page", depth + 1, page_url, link.via))
                else:
                    self.scope.check_fetchable(url)
                    items.append(QueueItem(link.url, link.kind, depth, page_url, link.via))
            except SkipUrl as exc:
                self._tally.count("urls_skipped", exc.reason)
            except (ValueError, TypeError):
                self._tally.count("urls_skipped", "bad_url")
        await self._enqueue(items)
        if extracted.bad_data_uris:
            self._tally.count("images_skipped", "bad_data_uri", extracted.bad_data_uris)
        for data_image in extracted.data_images:
            await self._handle_data_image(data_image, page_url)

    async def _enqueue(self, items: list[QueueItem]) -> None:
        known = self._known
        if len(known) > MAX_KNOWN_URLS:  # only a shortcut; the Redis seen-set is the truth
            known.clear()
        items = [item for item in items if item.url not in known]
        if not items:
            return
        known.update(item.url for item in items)
        statuses = await self.frontier.add(items, self.site.max_query_variants)
        for item, status in zip(items, statuses, strict=True):
            if status == "added" and item.kind == "image":
                self._tally.add("images_found")
            elif status == "query_trap":
                self._tally.count("urls_skipped", "query_trap")

    async def _handle_data_image(self, image: DataImage, page_url: str) -> None:
        digest = hashlib.sha256(image.data).hexdigest()
        mime = sniff_image(image.data)
        pseudo_url = f"data:{mime or image.declared_type};sha256={digest}"
        if not await self.frontier.mark_seen(pseudo_url):
            return
        self._tally.add("images_found")
        if mime is None:
            self._tally.count("images_skipped", "not_image")
            return
        await self._submit(pseudo_url, page_url, image.data, mime, image.via)

    async def _submit(self, url: str, page_url: str, data: bytes, mime: str, via: str) -> None:
        while self.sink.needs_backout():
            await asyncio.sleep(_IDLE_POLL_S)
        image = FoundImage(url=url, page_url=page_url, data=data, content_type=mime,
                           site_id=self.site.site_id, crawl_id=self.site.crawl_id, via=via)
        try:
            await self.sink.submit(image)
        except CrawlerError:
            raise
        except Exception:  # the sink's own failure must not stop the crawl; it is counted
            log.exception("image sink failed for %s", url)
            self._tally.count("errors", "sink")
            self._tally.count("images_skipped", "sink_error")
            return
        self._tally.add("images_sent")

    # --- stats -----------------------------------------------------------------
    async def _flush(self) -> None:
        counters = self.fetcher.counters
        if counters.requests > self._requests_counted:
            self._tally.add("requests", counters.requests - self._requests_counted)
            self._requests_counted = counters.requests
        if counters.bytes > self._bytes_counted:
            self._tally.add("bytes_fetched", counters.bytes - self._bytes_counted)
            self._bytes_counted = counters.bytes
        # Crawling time is added as it passes, so a killed run's time is not lost either.
        now = time.monotonic()
        self._tally.add("duration_s", now - self._counted_until)
        self._counted_until = now
        deltas = self._tally.take_deltas()
        done, self._pending_done = self._pending_done, []
        await self.frontier.done_many(done)
        await self.frontier.add_stats(deltas)

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(_FLUSH_INTERVAL_S)
            pages, images = await self.frontier.queue_lengths()
            self.stats.pages_queued, self.stats.images_queued = pages, images
            await self._flush()
            await self.frontier.join(self.owner, OWNER_LEASE_S)

    def _progress(self, force: bool = False) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_progress >= _PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.on_progress(self.stats.snapshot())
