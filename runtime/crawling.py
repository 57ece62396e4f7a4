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

from spinneret.crawler.crawl import Crawler
from spinneret.crawler.frontier import RedisFrontier
from spinneret.crawler.types import CrawlSettings, CrawlStats, CrawlTarget, SiteScope
from spinneret.records.crawls import CrawlRepository
from spinneret.records.errors import InvalidCrawlState
from spinneret.records.images import ImageRecorder
from spinneret.records.matches import MatchRepository
from spinneret.records.sites import SiteRepository
from spinneret.records.types import CrawlFinish, CrawlRecord, SiteRecord
from spinneret.runtime.context import AppContext
from spinneret.runtime.errors import CrawlIncomplete
from spinneret.runtime.pipeline_sink import PipelineSink

RECORD_WAIT_TIMEOUT_S = 600.0
START_LOCK_S = 60.0
# Why a start URL was not fetched, in words (other reasons are fetch errors: http_404, ...).
START_REASONS = {
    "robots": "robots.txt disallows it",
    "robots_unreachable": "robots.txt could not be read, which disallows the whole site",
    "ssrf_blocked": "its address is private or reserved (SSRF guard; allow it with "
                    "SPINNERET_ALLOWED_NETWORKS=<CIDR,...> or SPINNERET_ALLOW_PRIVATE_NETWORKS=true)",
    "out_of_scope": "it is not on the site's hosts, or redirects off them",
    "not_included": "it matches none of the site's include patterns",
    "excluded": "it matches one of the site's exclude patterns",
}


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
    start_problem: str | None = None  # why the start URL was not fetched (see start_problem)


def start_problem(stats: CrawlStats) -> str | None:
    """Why the start URL was not fetched, in words; None when it was."""
    if not stats.start_skipped:
        return None
    reasons = [f"{reason} ({START_REASONS[reason]})" if reason in START_REASONS else reason
               for reason in sorted(stats.start_skipped)]
    return "start URL not fetched: " + "; ".join(reasons)


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
        found = crawls.list(site_id=site_id, status=status, limit=1, reports=False)
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
    if settings.pipeline == "celery":
        # With SPINNERET_REDIS_URL set, a child would not pick the embedded broker itself.
        env["SPINNERET_BROKER_URL"] = context.broker_url
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

    sink = _make_sink(context, crawl.id)
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
    ending = _Ending(started=time.monotonic())
    stats = CrawlStats()
    try:
        stats = await crawler.run()
        ending.crawled = time.monotonic()
        progress.stats = stats
        progress.phase = "recording"
        await _wait_recorded(context, crawl.id, sink, progress, on_progress)
        ending.status = "finished"
    except asyncio.CancelledError:
        ending.status = "stopped"
        raise
    except Exception as exc:
        ending.failure = str(exc) or type(exc).__name__
        raise
    finally:
        sink.close()
        try:
            if ending.status != "stopped":
                # A stopped (killed, interrupted) crawl stays "running" so the next run
                # resumes it. With other crawler processes on it, the last one finishes it.
                crawl, stats = await _finish(crawls, crawl.id, frontier, stats, ending)
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
        start_problem=start_problem(stats),
    )


@dataclass
class _Ending:
    """How this run of a crawl ended, for `_finish`."""

    started: float  # time.monotonic() when this run started crawling
    crawled: float | None = None  # ... and when its crawler was done (recording follows)
    status: str = "failed"  # finished | failed | stopped
    failure: str | None = None


async def _finish(crawls: CrawlRepository, crawl_id: int, frontier: RedisFrontier,
                  stats: CrawlStats, ending: _Ending) -> tuple[CrawlRecord, CrawlStats]:
    """Record the end of the crawl (unless another crawler process is still on it), with
    every run's and every process's counters; returns the record and those counters."""
    now = time.monotonic()
    try:
        others = await frontier.live_owners()
        # Counters of every run (a resumed crawl) and every crawler process; duration_s is
        # the crawling time of every run, to which this run's recording time is added.
        totals = await frontier.load_stats()
    except redis.RedisError:  # a crawl that failed on Redis is still recorded as failed
        others, totals = 0, None
    if others:
        return crawls.get(crawl_id), stats  # still being crawled by another process
    if totals is not None:
        stats = totals
        duration_s = totals.duration_s + (now - ending.crawled if ending.crawled else 0.0)
    else:
        duration_s = now - ending.started
    status, failure = ending.status, ending.failure
    problem = start_problem(stats)
    if status == "finished" and problem and not stats.pages_fetched:
        status, failure = "failed", problem  # nothing of the site was crawled
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
                urls_skipped=dict(stats.urls_skipped),
                failure_reason=failure,
            ),
        )
    except InvalidCrawlState:  # another process finishing at the same moment won
        return crawls.get(crawl_id), stats
    if ending.status == "finished":  # ran to its end: nothing left to resume
        await frontier.clear()
    return crawl, stats


def matches_by_list(context: AppContext, crawl_id: int) -> dict[tuple[str, str], int]:
    """Images (URL + content) matched per (list, decision), not match rows: an image that
    hits a list through several algorithms or entries counts once, as `auto` if any of its
    hits on that list is."""
    decisions: dict[tuple[str, str, str], str] = {}
    for match in MatchRepository(context.db).list(crawl_id=crawl_id, limit=1_000_000):
        key = (match.list_name, match.image_url, match.sha256)
        if decisions.get(key) != "auto":
            decisions[key] = match.decision
    return dict(Counter((list_name, decision)
                        for (list_name, _, _), decision in decisions.items()))


def _make_sink(context: AppContext, crawl_id: int) -> PipelineSink:
    settings = context.settings
    if settings.pipeline == "celery":
        from spinneret.runtime.celery_app import configure
        from spinneret.runtime.sink import CelerySink

        configure(settings, context.redis_url)
        recorder = ImageRecorder(context.db)
        return CelerySink(settings, context.transit_redis,
                          recorded_among=lambda urls: recorder.recorded_among(crawl_id, urls))
    from spinneret.runtime.inprocess import ProcessPoolSink

    return ProcessPoolSink(
        settings.hash_processes or os.cpu_count() or 1,
        settings.queue_max_depth,
        child_env(context),
    )


async def _wait_recorded(context: AppContext, crawl_id: int, sink: PipelineSink,
                         progress: CrawlProgress,
                         on_progress: Callable[[CrawlProgress], None] | None) -> None:
    """Wait until every image handed to the sink in this run has its record (hashed or
    skipped). Followed by URL, not by count: an image in flight when an earlier run was
    killed may be sent again although its record already exists."""
    await sink.drain()
    recorder = ImageRecorder(context.db)
    pending = set(sink.sent_urls)
    deadline = time.monotonic() + RECORD_WAIT_TIMEOUT_S
    while True:
        pending -= recorder.recorded_among(crawl_id, pending)
        # The sink forgets URLs once recorded, so recorded = sent - still pending.
        progress.images_recorded = max(0, sink.sent - len(pending))
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
