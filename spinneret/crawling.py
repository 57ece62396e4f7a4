"""Run one crawl of a registered site end to end: crawl record, frontier, sink, summary.

The crawler fetches; the sink (local process pool or Celery workers, by the `pipeline`
setting) hashes, matches and records. A crawl killed midway is resumed by running it again:
the unfinished crawl record and its Redis frontier are picked up where they stopped.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from crawler.crawl import Crawler
from crawler.frontier import RedisFrontier
from crawler.types import CrawlSettings, CrawlStats, CrawlTarget, SiteScope
from records.crawls import CrawlRepository
from records.errors import InvalidCrawlState
from records.images import ImageRecorder
from records.matches import MatchRepository
from records.sites import SiteRepository
from records.types import CrawlFinish, CrawlRecord, SiteRecord
from spinneret.context import AppContext
from spinneret.errors import CrawlIncomplete

RECORD_WAIT_TIMEOUT_S = 600.0
START_LOCK_S = 60.0


@dataclass
class CrawlProgress:
    """What a progress display shows: crawler counters plus images recorded so far."""

    stats: CrawlStats
    images_recorded: int = 0
    phase: str = "crawling"  # crawling | recording | done


@dataclass(frozen=True)
class CrawlSummary:
    crawl: CrawlRecord
    images_sent: int
    matches_by_list: dict[tuple[str, str], int] = field(default_factory=dict)  # (list, decision)
    resumed: bool = False


def target_for(site: SiteRecord, crawl_id: int) -> CrawlTarget:
    hosts = site.hosts or ()
    scope_hosts = hosts if hosts else (CrawlTarget.for_url(site.base_url).scope.hosts)
    return CrawlTarget(
        site_id=site.id,
        crawl_id=crawl_id,
        start_urls=(site.base_url,),
        scope=SiteScope(
            hosts=tuple(scope_hosts),
            include=tuple(site.include_patterns),
            exclude=tuple(site.exclude_patterns),
        ),
        ignore_robots=site.ignore_robots,
        max_pages=site.max_pages,
        max_depth=site.max_depth,
        rate_per_s=site.rate_per_s,
    )


def _unfinished_crawl(crawls: CrawlRepository, site_id: int) -> CrawlRecord | None:
    for status in ("running", "queued"):
        found = crawls.list(site_id=site_id, status=status, limit=1)
        if found:
            return found[0]
    return None


def child_env(context: AppContext) -> dict[str, str]:
    """Environment that points pipeline processes at the same Redis, SQL and data dir."""
    settings = context.settings
    env = {
        "SPINNERET_DATA_DIR": str(settings.data_dir),
        "SPINNERET_REDIS_URL": context.redis_url,
        "SPINNERET_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "SPINNERET_DATABASE_URL": settings.effective_database_url,
    }
    if settings.redis_cluster:
        env["SPINNERET_REDIS_CLUSTER"] = "true"
    return env


async def run_crawl(
    context: AppContext,
    site_name: str,
    *,
    on_progress: Callable[[CrawlProgress], None] | None = None,
) -> CrawlSummary:
    settings = context.settings
    sites = SiteRepository(context.db)
    crawls = CrawlRepository(context.db)
    site = sites.get(site_name)
    # Crawler processes starting the same site together must pick the same crawl (they then
    # share its frontier), so finding or creating it is done under a lock.
    with context.redis.lock(f"{settings.redis_key_prefix}:crawlstart:{{{site.id}}}",
                            timeout=START_LOCK_S, blocking_timeout=START_LOCK_S):
        existing = _unfinished_crawl(crawls, site.id)
        resumed = existing is not None
        crawl = existing or crawls.create(site.id)
        crawl = crawls.start(crawl.id)

    sink = _make_sink(context)
    redis_client = context.new_async_redis()
    frontier = RedisFrontier(redis_client, settings.redis_key_prefix, crawl.id)
    progress = CrawlProgress(CrawlStats())

    def report(stats: CrawlStats) -> None:
        progress.stats = stats
        if on_progress:
            on_progress(progress)

    crawler = Crawler(
        target_for(site, crawl.id),
        CrawlSettings.from_settings(settings),
        frontier,
        sink,
        on_progress=report,
    )
    started = time.monotonic()
    status = "failed"
    stats = CrawlStats()
    try:
        stats = await crawler.run()
        progress.stats = stats
        progress.phase = "recording"
        await _wait_recorded(context, crawl.id, sink, progress, on_progress)
        status = "finished"
    except asyncio.CancelledError:
        status = "stopped"
        raise
    finally:
        _close_sink(sink)
        try:
            if status != "stopped":
                # A stopped (killed, interrupted) crawl stays "running" so the next run
                # resumes it. With other crawler processes on it, the last one finishes it.
                crawl = await _finish(crawls, crawl.id, frontier, status, stats,
                                      time.monotonic() - started)
        finally:
            await redis_client.aclose()
    progress.phase = "done"
    if on_progress:
        on_progress(progress)
    return CrawlSummary(
        crawl=crawl,
        images_sent=stats.images_sent,
        matches_by_list=matches_by_list(context, crawl.id),
        resumed=resumed,
    )


async def _finish(crawls: CrawlRepository, crawl_id: int, frontier: RedisFrontier,
                  status: str, stats: CrawlStats, duration_s: float) -> CrawlRecord:
    try:
        others = await frontier.live_owners()
    except redis.RedisError:
        others = 0  # a crawl that failed on Redis is still recorded as failed
    if others:
        return crawls.get(crawl_id)  # still being crawled by another process
    if status == "finished":
        stats = await frontier.load_stats()  # every process's counters
    try:
        crawl = crawls.finish(
            crawl_id,
            CrawlFinish(
                status=status,
                pages_fetched=stats.pages_fetched,
                images_found=stats.images_found,
                skipped_reasons=dict(stats.images_skipped),
                errors=dict(stats.errors),
                duration_s=duration_s,
            ),
        )
    except InvalidCrawlState:  # another process finishing at the same moment won
        return crawls.get(crawl_id)
    if status == "finished":
        await frontier.clear()
    return crawl


def matches_by_list(context: AppContext, crawl_id: int) -> dict[tuple[str, str], int]:
    counts: Counter[tuple[str, str]] = Counter()
    for match in MatchRepository(context.db).list(crawl_id=crawl_id, limit=1_000_000):
        counts[(match.list_name, match.decision)] += 1
    return dict(counts)


def _make_sink(context: AppContext):
    settings = context.settings
    if settings.pipeline == "celery":
        from worker.celery_app import configure
        from worker.sink import CelerySink

        configure(settings, context.redis_url)
        return CelerySink(settings, context.redis)
    from spinneret.inprocess import ProcessPoolSink

    return ProcessPoolSink(
        settings.hash_processes or os.cpu_count() or 1,
        settings.queue_max_depth,
        child_env(context),
    )


def _close_sink(sink) -> None:
    close = getattr(sink, "close", None)
    if close:
        close()


async def _wait_recorded(context, crawl_id, sink, progress, on_progress) -> None:
    """Wait until every image handed to the sink in this run has its record (hashed or
    skipped). Followed by URL, not by count: an image in flight when an earlier run was
    killed may be sent again although its record already exists."""
    drain = getattr(sink, "drain", None)
    if drain is not None:
        await drain()
    recorder = ImageRecorder(context.db)
    pending = set(sink.sent_urls)
    deadline = time.monotonic() + RECORD_WAIT_TIMEOUT_S
    while True:
        pending -= recorder.recorded_among(crawl_id, pending)
        progress.images_recorded = len(sink.sent_urls) - len(pending)
        if on_progress:
            on_progress(progress)
        if not pending:
            return
        if time.monotonic() > deadline:
            raise CrawlIncomplete(
                f"{len(pending)} images were not recorded within {RECORD_WAIT_TIMEOUT_S:.0f} s "
                "(is a worker running? see `spinneret worker`)"
            )
        await asyncio.sleep(0.2)
