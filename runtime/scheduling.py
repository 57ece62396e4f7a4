"""Which registered sites are due for a crawl: the `spinneret crawler` service's schedule.

A site is due when it has an unfinished crawl (resume it, or join the crawler process working
on it), when it was never crawled, or when its last crawl ended `interval_s` ago or more.
"""

from __future__ import annotations

from datetime import UTC, datetime

from spinneret.records.crawls import CrawlRepository
from spinneret.records.sites import SiteRepository
from spinneret.runtime.context import AppContext


def due_sites(context: AppContext, interval_s: float, now: datetime | None = None) -> list[str]:
    now = now or datetime.now(UTC)
    crawls = CrawlRepository(context.db)
    due = []
    for site in SiteRepository(context.db).list(origin="registered"):  # not reported ones
        latest = crawls.list(site_id=site.id, limit=1, reports=False)
        if not latest:
            due.append(site.name)
            continue
        crawl = latest[0]
        if crawl.status in ("queued", "running"):
            due.append(site.name)
            continue
        ended = crawl.finished_at or crawl.created_at
        if ended.tzinfo is None:
            ended = ended.replace(tzinfo=UTC)
        if (now - ended).total_seconds() >= interval_s:
            due.append(site.name)
    return due
