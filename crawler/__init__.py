"""Crawler: frontier, fetching, robots, politeness, extraction, SSRF guard.

Entry point: `Crawler(target, settings, frontier, sink).run()`.
"""

from crawler.crawl import Crawler
from crawler.errors import CrawlerError, FetchError, InvalidTarget, SkipUrl, SsrfBlocked
from crawler.frontier import RedisFrontier
from crawler.types import CrawlSettings, CrawlStats, CrawlTarget, FoundImage, ImageSink, SiteScope

__all__ = [
    "CrawlSettings", "CrawlStats", "CrawlTarget", "Crawler", "CrawlerError", "FetchError",
    "FoundImage", "ImageSink", "InvalidTarget", "RedisFrontier", "SiteScope", "SkipUrl",
    "SsrfBlocked",
]
