"""Crawl a loopback site through the real in-process pipeline (`run_crawl`), for fault tests."""

from __future__ import annotations

import asyncio

from aiohttp import web

from spinneret.demo.site import serve_on_loopback
from spinneret.records.images import ImageRecorder
from spinneret.records.sites import SiteRepository
from spinneret.records.types import ImageEventRecord, NewSite
from spinneret.runtime.context import AppContext
from spinneret.runtime.crawling import CrawlSummary, run_crawl


async def crawl_app(settings, app: web.Application, timeout_s: float = 180,
                    **overrides) -> tuple[CrawlSummary, dict[str, ImageEventRecord]]:
    """Crawl `app` as a new site; returns the summary and the image events by URL path."""
    context = AppContext(settings.model_copy(update={
        "pipeline": "inprocess", "hash_processes": 1, **overrides}))
    runner, base_url = await serve_on_loopback(app)
    try:
        SiteRepository(context.db).add(NewSite(base_url=base_url, name="fault",
                                               owner_email="owner@example.invalid",
                                               rate_per_s=1000))
        summary = await asyncio.wait_for(run_crawl(context, "fault"), timeout_s)
        events = ImageRecorder(context.db).events(summary.crawl.id)
    finally:
        await runner.cleanup()
        context.close()
    by_path = {}
    for event in events:
        path = "/" + event.url.split("/", 3)[3]
        assert path not in by_path, f"{path} recorded twice"
        by_path[path] = event
    return summary, by_path
