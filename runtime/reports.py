"""Reported URLs end to end: fetch the page and its images once, hash + match + record them
through the crawl pipeline's `ImageProcessor`, then hand matches to the notice path.

The work runs where the rest of the pipeline runs: as the Celery task `REPORT_TASK` on a
worker (pipeline "celery"), else in the calling process (the CLI, the API server).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import Counter

from spinneret.crawler.errors import FetchError, SkipUrl
from spinneret.crawler.onehop import HopImage, fetch_one_hop
from spinneret.crawler.types import CrawlSettings
from spinneret.records.crawls import CrawlRepository
from spinneret.records.errors import InvalidCrawlState
from spinneret.records.matches import MatchRepository
from spinneret.records.reports import ReportRepository, site_for_url
from spinneret.records.types import CrawlFinish, ReportRecord, SiteRecord
from spinneret.runtime.context import AppContext
from spinneret.runtime.pipeline import ImageJob, ImageProcessor

log = logging.getLogger(__name__)

# How each refusal or fetch error reads in a failed report's reason.
FAILURE_TEXT = {
    "ssrf_blocked": "refused by the SSRF guard (a private or reserved address; allow it with "
                    "SPINNERET_ALLOWED_NETWORKS=<CIDR,...> or "
                    "SPINNERET_ALLOW_PRIVATE_NETWORKS=true)",
    "timeout": "the page did not answer in time",
    "too_large": "the page is larger than the response cap",
    "not_html": "the URL is neither an HTML page nor an image",
    "too_many_redirects": "too many redirects",
    "dns": "its host name does not resolve",
    "connection": "the connection failed",
    "bad_response": "the answer was malformed",
}
NO_CONTACT = "no contact"


async def notice_contacts(context: AppContext, site: SiteRecord) -> tuple[str, ...]:
    """Who a notice about `site` goes to: the contact resolver's answer for its host (a
    manual override, the registered contacts, security.txt, the RDAP abuse mailbox; cached,
    `notices.contacts`), and its webhook. Never raises: a failed lookup is recorded in the
    host's cache entry and counts as no contact."""
    from spinneret.notices.contacts import ContactResolver

    webhook = (site.webhook_url,) if site.webhook_url else ()
    try:
        found = await ContactResolver.from_settings(context.db, context.settings).resolve(
            site.base_url, site=site)
    except Exception:
        log.exception("report: contact lookup for site %s failed", site.name)
        return webhook
    return tuple(contact.email for contact in found.contacts) + webhook


def failure_reason(exc: Exception) -> str:
    kind = getattr(exc, "kind", None) or getattr(exc, "reason", None) or type(exc).__name__
    text = FAILURE_TEXT.get(kind) or (f"HTTP {kind[5:]}" if kind.startswith("http_") else kind)
    detail = getattr(exc, "detail", "")
    return f"{kind}: {text}" + (f" ({detail})" if detail else "")


def build_processor(context: AppContext, matcher) -> ImageProcessor:
    """The image step a crawl's pipeline process uses, for a process that has a matcher."""
    from spinneret.matcher.hash_cache import HashCache
    from spinneret.matcher.hashing import HashOptions
    from spinneret.records.images import ImageRecorder

    settings = context.settings
    return ImageProcessor(
        matcher, ImageRecorder(context.db), HashOptions.from_settings(settings),
        HashCache(context.redis, settings.redis_key_prefix, settings.hash_cache_ttl_s))


def dispatch(context: AppContext, report_id: int) -> bool:
    """Send the report to the workers when the pipeline is Celery (True); False: the caller
    runs it in its own process (`run_report`)."""
    if context.settings.pipeline != "celery":
        return False
    from spinneret.runtime.celery_app import REPORT_TASK, app, configure

    configure(context.settings, context.redis_url)
    app.send_task(REPORT_TASK, args=[report_id])
    return True


async def run_report(context: AppContext, report_id: int, processor: ImageProcessor, *,
                     resolver=None) -> ReportRecord:
    """Fetch, match and record one report; ends it matched, no_match or failed (with the
    reason). Run twice (a redelivered task), an ended report is left as it is."""
    reports = ReportRepository(context.db)
    report = reports.start(report_id)
    if report is None:
        return reports.get(report_id)
    crawls = CrawlRepository(context.db)
    site = site_for_url(context.db, report.url)
    # The report's images are recorded under a one-page crawl of its site, so matches,
    # review and notices treat them as crawled images. A restarted report keeps its crawl.
    crawl_id = report.crawl_id or crawls.create(site.id).id
    reports.attach(report_id, site_id=site.id, crawl_id=crawl_id)
    try:
        crawls.start(crawl_id)
    except InvalidCrawlState:
        pass  # ended by an earlier run that died before the report was
    lock = asyncio.Lock()  # one image at a time through the processor (its matcher, cache)

    async def record(image: HopImage) -> None:
        job = ImageJob(crawl_id, site.id, image.page_url, image.url, image.via)
        async with lock:
            await asyncio.to_thread(processor.process, job, image.data)

    try:
        stats = await fetch_one_hop(report.url, CrawlSettings.from_settings(context.settings),
                                    record, resolver=resolver)
    except (FetchError, SkipUrl) as exc:
        reason = failure_reason(exc)
        _end_crawl(crawls, crawl_id, "failed", Counter(), 0, 0, reason)
        log.info("report %s failed: %s", report_id, reason)
        return reports.finish(report_id, "failed", reason)
    except Exception as exc:  # a bug or an outage: the report says so instead of hanging
        log.exception("report %s failed", report_id)
        reason = f"internal error: {type(exc).__name__}: {exc}"
        _end_crawl(crawls, crawl_id, "failed", Counter(), 0, 0, reason)
        return reports.finish(report_id, "failed", reason)
    crawl = _end_crawl(crawls, crawl_id, "finished", stats.images_skipped,
                       stats.pages_fetched, stats.images_found, None)
    matches = MatchRepository(context.db).list(crawl_id=crawl_id, limit=1_000_000)
    blocking = [m for m in matches if m.list_kind == "block" and m.status != "suppressed"]
    reports.fetched(report_id, pages=stats.pages_fetched, found=stats.images_found,
                    hashed=crawl.images_hashed if crawl else 0,
                    skipped=crawl.images_skipped if crawl else sum(stats.images_skipped.values()),
                    matches=len(blocking))
    if not blocking:
        return reports.finish(report_id, "no_match",
                              "matched only allow lists or rejected entries" if matches else None)
    return await hand_to_notices(context, report_id, site, blocking)


async def hand_to_notices(context: AppContext, report_id: int, site: SiteRecord, matches
                          ) -> ReportRecord:
    """Matched: put its `auto` matches into the site's notice (the normal grouping policy;
    the outbox sends it on its schedule). No contact known: the report stays "matched" with
    the reason, and nothing is queued for it."""
    from spinneret.notices.service import NoticeService

    reports = ReportRepository(context.db)
    if not await notice_contacts(context, site):
        return reports.finish(report_id, "matched", NO_CONTACT)
    reason = None if any(m.decision == "auto" for m in matches) else "awaiting review"
    # Grouped before the report ends, so whoever waits for its end sees it noticed.
    try:
        NoticeService(context.db, context.settings).apply_policy(actor="report")
    except Exception as exc:  # the next notices run (beat, `notices send`) groups it instead
        log.exception("report %s: grouping its matches into a notice failed", report_id)
        reason = f"not in a notice yet ({type(exc).__name__}: {exc}); the next notices run adds it"
    return reports.finish(report_id, "matched", reason)


def _end_crawl(crawls: CrawlRepository, crawl_id: int, status: str, skipped: Counter,
               pages: int, found: int, reason: str | None):
    try:
        return crawls.finish(crawl_id, CrawlFinish(
            status=status, pages_fetched=pages, images_found=found,
            skipped_reasons=dict(skipped), failure_reason=reason))
    except InvalidCrawlState:
        return None


class HourlyLimit:
    """At most `per_hour` reports per caller and clock hour, counted in Redis (so every API
    process shares the count). A refused call is not counted."""

    def __init__(self, client, prefix: str, per_hour: int) -> None:
        self._client = client
        self._prefix = prefix
        self._per_hour = per_hour

    def take(self, who: str, now: float | None = None) -> int | None:
        """Count one report for `who`; None if allowed, else seconds until it would be."""
        now = time.time() if now is None else now
        window = int(now // 3600)
        key = f"{self._prefix}:reports:rate:{{{who}}}:{window}"
        count = int(self._client.incr(key))
        if count == 1:
            self._client.expire(key, 3600 + 60)
        if count <= self._per_hour:
            return None
        self._client.decr(key)
        return max(1, math.ceil((window + 1) * 3600 - now))


def run_report_in_process(context: AppContext, report_id: int, *, resolver=None
                          ) -> ReportRecord:
    """Run one report here: the embedded path of the CLI (pipeline "inprocess"), with a
    matcher loaded for it, like a worker's."""
    from spinneret.matcher.following import FollowingMatcher
    from spinneret.matcher.matching import Thresholds

    settings = context.settings
    matcher = FollowingMatcher(context.store, Thresholds.from_settings(settings),
                               dihedral=settings.match_dihedral,
                               poll_interval_s=settings.index_sync_interval_s).start()
    try:
        return asyncio.run(run_report(context, report_id, build_processor(context, matcher),
                                      resolver=resolver))
    finally:
        matcher.stop()


async def wait_until_ended(context: AppContext, report_id: int, timeout_s: float
                           ) -> ReportRecord:
    """The report once a worker has ended it (matched, no_match, failed: or later), or as
    it is when `timeout_s` has passed."""
    reports = ReportRepository(context.db)
    deadline = time.monotonic() + timeout_s
    while True:
        report = reports.get(report_id)
        if report.status not in ("queued", "fetched") or time.monotonic() >= deadline:
            return report
        await asyncio.sleep(0.2)
