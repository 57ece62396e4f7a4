"""Crawler: frontier, fetching, robots, politeness, extraction, SSRF guard.

Entry point: `Crawler(target, settings, frontier, sink).run()`.
"""

from spinneret.crawler.crawl import Crawler
from spinneret.crawler.errors import CrawlerError, FetchError, InvalidTarget, SkipUrl, SsrfBlocked
from spinneret.crawler.frontier import RedisFrontier
from spinneret.crawler.types import (
    CrawlSettings,
    CrawlStats,
    CrawlTarget,
    FoundImage,
    Frontier,
    ImageSink,
    SiteScope,
)

__all__ = [
    "CrawlSettings", "CrawlStats", "CrawlTarget", "Crawler", "CrawlerError", "FetchError",
    "FoundImage", "Frontier", "ImageSink", "InvalidTarget", "RedisFrontier", "SiteScope", "SkipUrl",
    "SsrfBlocked",
]
