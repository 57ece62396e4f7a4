"""Crawls started from the API run as asyncio tasks in the server process.

Progress is kept in memory while a crawl runs. Stopping cancels the task: `run_crawl` then
leaves the crawl record `running` with its Redis frontier, so starting the site again
resumes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from spinneret.api.errors import CrawlAlreadyRunning
from spinneret.records.crawls import CrawlRepository
from spinneret.records.sites import SiteRepository
from spinneret.records.types import CrawlRecord
from spinneret.runtime.crawling import CrawlProgress, run_crawl

log = logging.getLogger(__name__)


@dataclass
class LiveCrawl:
    crawl_id: int
    site_name: str
    started: float = field(default_factory=time.monotonic)
    phase: str = "starting"
    pages_fetched: int = 0
    pages_queued: int = 0
    images_found: int = 0
    images_sent: int = 0
    images_recorded: int = 0
    error: str | None = None
    task: asyncio.Task | None = None

    def update(self, progress: CrawlProgress) -> None:
        stats = progress.stats
        self.phase = progress.phase
        self.pages_fetched = stats.pages_fetched
        self.pages_queued = stats.pages_queued
        self.images_found = stats.images_found
        self.images_sent = stats.images_sent
        self.images_recorded = progress.images_recorded

    @property
    def pages_per_s(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.pages_fetched / elapsed if elapsed > 0 else 0.0

    @property
    def percent(self) -> int:
        """A rough progress figure for a bar: pages fetched of pages known so far."""
        known = self.pages_fetched + self.pages_queued
        return int(100 * self.pages_fetched / known) if known else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "phase": self.phase, "pages_fetched": self.pages_fetched,
            "pages_queued": self.pages_queued, "images_found": self.images_found,
            "images_sent": self.images_sent, "images_recorded": self.images_recorded,
            "pages_per_s": round(self.pages_per_s, 3), "percent": self.percent,
            "error": self.error,
        }


class CrawlManager:
    def __init__(self, context: Any) -> None:
        self._context = context
        self._live: dict[int, LiveCrawl] = {}

    def live(self) -> list[LiveCrawl]:
        return list(self._live.values())

    def get(self, crawl_id: int) -> LiveCrawl | None:
        return self._live.get(crawl_id)

    def start(self, site_name: str) -> CrawlRecord:
        """Start (or resume) a crawl of a site; returns its record."""
        db = self._context.db
        site = SiteRepository(db).get(site_name)
        if any(live.site_name == site.name for live in self._live.values()):
            raise CrawlAlreadyRunning(site.name)
        crawls = CrawlRepository(db)
        # run_crawl resumes a running crawl, else takes a queued one: name it beforehand.
        unfinished = (crawls.list(site_id=site.id, status="running", limit=1)
                      or crawls.list(site_id=site.id, status="queued", limit=1))
        crawl = unfinished[0] if unfinished else crawls.create(site.id)
        live = LiveCrawl(crawl.id, site.name)
        live.task = asyncio.get_running_loop().create_task(self._run(live),
                                                            name=f"crawl-{crawl.id}")
        self._live[crawl.id] = live
        return crawl

    async def _run(self, live: LiveCrawl) -> None:
        try:
            await run_crawl(self._context, live.site_name, on_progress=live.update)
        except asyncio.CancelledError:
            live.phase = "stopped"
        except Exception as exc:  # recorded as failed by run_crawl; keep the server up
            live.error = str(exc) or type(exc).__name__
            log.exception("crawl %s of %s failed", live.crawl_id, live.site_name)
        finally:
            self._live.pop(live.crawl_id, None)

    async def stop(self, crawl_id: int) -> bool:
        """Cancel a running crawl; False if it is not running in this process."""
        live = self._live.get(crawl_id)
        if live is None or live.task is None:
            return False
        live.task.cancel()
        await asyncio.gather(live.task, return_exceptions=True)
        return True

    async def close(self) -> None:
        for crawl_id in list(self._live):
            await self.stop(crawl_id)
