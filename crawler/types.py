"""Dataclasses that cross the crawler's boundary: targets, settings, found images, stats."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from yarl import URL

from spinneret.crawler.errors import InvalidTarget

if TYPE_CHECKING:
    from spinneret.config import Settings

ALLOWED_SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True)
class FoundImage:
    url: str  # the image URL (for data: URIs, "data:<mime>;sha256=<hex>")
    page_url: str  # the page (or stylesheet/sitemap) it was found on
    data: bytes
    content_type: str | None  # sniffed from the bytes, e.g. "image/png"
    site_id: int
    crawl_id: int
    via: str  # img, srcset, picture, a, og, style, css, data-uri, lazy, sitemap, page


@runtime_checkable
class ImageSink(Protocol):
    async def submit(self, image: FoundImage) -> None: ...

    def needs_backout(self) -> bool:
        """True = the crawler must pause fetching images (backpressure)."""
        ...


@dataclass(frozen=True)
class SiteScope:
    """Which pages may be crawled. Images (and stylesheets) may come from any host.

    hosts: registered host names; "*.example.org" also admits every subdomain.
    include: regexes; if any are given, a page URL must match one (re.search).
    exclude: regexes; a page or image URL matching one is never fetched.
    """

    hosts: tuple[str, ...]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.hosts:
            raise InvalidTarget("a crawl scope needs at least one host")
        cleaned = []
        for host in self.hosts:
            name = host.strip().lower().rstrip(".")
            if not name or "/" in name or " " in name:
                raise InvalidTarget(f"invalid host in scope: {host!r}")
            cleaned.append(name)
        object.__setattr__(self, "hosts", tuple(cleaned))
        for kind, patterns in (("include", self.include), ("exclude", self.exclude)):
            for pattern in patterns:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise InvalidTarget(f"invalid {kind} pattern {pattern!r}: {exc}") from None


@dataclass(frozen=True)
class CrawlTarget:
    """One crawl of one registered site (built by the caller from the site record)."""

    site_id: int
    crawl_id: int
    start_urls: tuple[str, ...]
    scope: SiteScope
    ignore_robots: bool = False
    max_pages: int | None = None  # None = settings.default_max_pages
    max_depth: int | None = None  # None = settings.default_max_depth
    rate_per_s: float | None = None  # per host; None = settings.default_rate_per_s
    # Distinct query strings followed per (host, path): stops calendar-style traps.
    max_query_variants: int = 100

    def __post_init__(self) -> None:
        if not self.start_urls:
            raise InvalidTarget("a crawl target needs at least one start URL")
        for url in self.start_urls:
            try:
                parsed = URL(url)
            except (ValueError, TypeError) as exc:
                raise InvalidTarget(f"invalid start URL {url!r}: {exc}") from None
            if parsed.scheme not in ALLOWED_SCHEMES or not parsed.host:
                raise InvalidTarget(f"start URL must be http(s) with a host: {url!r}")
        for name in ("max_pages", "max_depth", "rate_per_s"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "max_depth" else 1e-9):
                raise InvalidTarget(f"{name} must be positive, got {value}")
        if self.max_query_variants < 1:
            raise InvalidTarget("max_query_variants must be at least 1")

    @classmethod
    def for_url(cls, url: str, *, site_id: int = 0, crawl_id: int = 0, **kwargs) -> CrawlTarget:
        """A target whose scope is the host of `url`."""
        try:
            host = URL(url).host
        except (ValueError, TypeError) as exc:
            raise InvalidTarget(f"invalid start URL {url!r}: {exc}") from None
        if not host:
            raise InvalidTarget(f"start URL must be http(s) with a host: {url!r}")
        scope_kwargs = {k: kwargs.pop(k) for k in ("include", "exclude") if k in kwargs}
        return cls(site_id=site_id, crawl_id=crawl_id, start_urls=(url,),
                   scope=SiteScope(hosts=(host,), **scope_kwargs), **kwargs)


@dataclass(frozen=True)
class CrawlSettings:
    """The crawler's slice of `config.Settings`."""

    user_agent: str = "SpinneretBot/0.1"
    allow_private_networks: bool = False
    # Extra networks allowed even when private ones are refused (e.g. one test address).
    allowed_networks: tuple[str, ...] = ()
    fetch_timeout_s: float = 30.0
    connect_timeout_s: float = 10.0
    max_response_bytes: int = 20 * 1024 * 1024
    max_decompression_ratio: int = 200
    max_links_per_page: int = 10_000
    max_images_per_page: int = 10_000
    max_redirects: int = 5
    default_max_pages: int = 10_000
    default_max_depth: int = 10
    default_rate_per_s: float = 10.0
    per_host_concurrency: int = 4
    crawl_concurrency: int = 32
    max_retries: int = 3
    retry_after_max_s: float = 300.0
    redis_key_prefix: str = "spinneret"

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> CrawlSettings:
        values = dict(
            user_agent=settings.effective_user_agent,
            allow_private_networks=settings.allow_private_networks,
            allowed_networks=tuple(settings.allowed_networks),
            fetch_timeout_s=settings.fetch_timeout_s,
            connect_timeout_s=settings.connect_timeout_s,
            max_response_bytes=settings.max_response_bytes,
            max_decompression_ratio=settings.max_decompression_ratio,
            max_links_per_page=settings.max_links_per_page,
            max_images_per_page=settings.max_images_per_page,
            max_redirects=settings.max_redirects,
            default_max_pages=settings.default_max_pages,
            default_max_depth=settings.default_max_depth,
            default_rate_per_s=settings.default_rate_per_s,
            per_host_concurrency=settings.per_host_concurrency,
            crawl_concurrency=settings.crawl_concurrency,
            max_retries=settings.max_retries,
            retry_after_max_s=settings.retry_after_max_s,
            redis_key_prefix=settings.redis_key_prefix,
        )
        values.update(overrides)
        return cls(**values)


@dataclass
class CrawlStats:
    pages_fetched: int = 0
    images_found: int = 0
    images_sent: int = 0
    images_skipped: Counter[str] = field(default_factory=Counter)
    urls_skipped: Counter[str] = field(default_factory=Counter)  # pages/links not followed
    # Why a start URL was not fetched (refused: robots, out_of_scope, ssrf_blocked...; or a
    # fetch error: http_404, timeout...). Also counted under urls_skipped / errors.
    start_skipped: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    bytes_fetched: int = 0
    duration_s: float = 0.0
    pages_queued: int = 0
    images_queued: int = 0
    finished: bool = False

    def snapshot(self) -> CrawlStats:
        return CrawlStats(
            pages_fetched=self.pages_fetched, images_found=self.images_found,
            images_sent=self.images_sent, images_skipped=Counter(self.images_skipped),
            urls_skipped=Counter(self.urls_skipped), errors=Counter(self.errors),
            start_skipped=Counter(self.start_skipped),
            requests=self.requests, bytes_fetched=self.bytes_fetched,
            duration_s=self.duration_s, pages_queued=self.pages_queued,
            images_queued=self.images_queued, finished=self.finished,
        )

    def as_dict(self) -> dict:
        return {
            "pages_fetched": self.pages_fetched, "images_found": self.images_found,
            "images_sent": self.images_sent, "images_skipped": dict(self.images_skipped),
            "urls_skipped": dict(self.urls_skipped), "errors": dict(self.errors),
            "start_skipped": dict(self.start_skipped),
            "requests": self.requests, "bytes_fetched": self.bytes_fetched,
            "duration_s": round(self.duration_s, 3), "finished": self.finished,
        }
