"""Dataclasses that cross the crawler's boundary: targets, settings, found images, stats."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from yarl import URL

from spinneret.crawler.errors import InvalidTarget

if TYPE_CHECKING:
    from spinneret.config import Settings
    from spinneret.crawler.frontier import QueueItem

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


class Frontier(Protocol):
    """What the crawler needs of a crawl's shared queues (crawler.frontier.RedisFrontier is
    the one implementation; see its docstring for the semantics)."""

    async def add(self, items: Sequence[QueueItem], max_query_variants: int = 100,
                  ) -> list[str]: ...
    async def mark_seen(self, url: str) -> bool: ...
    async def pop_batch(self, queues: Iterable[int], n: int, done: Sequence[bytes] = (),
                        ) -> list[tuple[QueueItem, bytes]]: ...
    async def done_many(self, raws: Sequence[bytes]) -> None: ...
    async def requeue_inflight(self) -> int: ...
    async def pending(self) -> tuple[int, int, int]: ...
    async def queue_lengths(self) -> tuple[int, int]: ...
    async def join(self, owner: str, lease_s: float) -> int: ...
    async def leave(self, owner: str) -> int: ...
    async def started(self) -> bool: ...
    async def set_meta(self, **values: str | float | int) -> None: ...
    async def load_stats(self) -> CrawlStats: ...
    async def add_stats(self, deltas: dict[str, float]) -> None: ...


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


def _from_config(name: str) -> Any:
    """The default of `config.Settings.<name>`: a default is written once, there."""
    from spinneret.config.settings import Settings  # pydantic; config imports nothing of ours

    return dataclasses.field(default=Settings.model_fields[name].default)


@dataclass(frozen=True)
class CrawlSettings:
    """The crawler's slice of `config.Settings` (same names; defaults taken from there)."""

    # Not the config's template: that one needs contact_url filled in (effective_user_agent).
    user_agent: str = "SpinneretBot/0.1"
    allow_private_networks: bool = _from_config("allow_private_networks")
    # Extra networks allowed even when private ones are refused (e.g. one test address).
    allowed_networks: tuple[str, ...] = ()
    fetch_timeout_s: float = _from_config("fetch_timeout_s")
    connect_timeout_s: float = _from_config("connect_timeout_s")
    max_response_bytes: int = _from_config("max_response_bytes")
    max_decompression_ratio: int = _from_config("max_decompression_ratio")
    max_links_per_page: int = _from_config("max_links_per_page")
    max_images_per_page: int = _from_config("max_images_per_page")
    max_redirects: int = _from_config("max_redirects")
    default_max_pages: int = _from_config("default_max_pages")
    default_max_depth: int = _from_config("default_max_depth")
    default_rate_per_s: float = _from_config("default_rate_per_s")
    per_host_concurrency: int = _from_config("per_host_concurrency")
    crawl_concurrency: int = _from_config("crawl_concurrency")
    max_retries: int = _from_config("max_retries")
    retry_after_max_s: float = _from_config("retry_after_max_s")
    redis_key_prefix: str = _from_config("redis_key_prefix")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides) -> CrawlSettings:
        values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)}
        values["user_agent"] = settings.effective_user_agent
        values["allowed_networks"] = tuple(settings.allowed_networks)
        values.update(overrides)
        return cls(**values)


CounterGroup = Literal["images_skipped", "urls_skipped", "start_skipped", "errors"]
COUNTER_GROUPS: tuple[CounterGroup, ...] = ("images_skipped", "urls_skipped", "start_skipped",
                                            "errors")


def stats_field(group: CounterGroup, reason: str) -> str:
    """The name a reason's count is stored under in the crawl's stats hash (frontier)."""
    return f"{group}:{reason}"


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
    pages_queued: int = 0  # a reading of the queues, not a count: never stored
    images_queued: int = 0
    finished: bool = False

    def count(self, group: CounterGroup, reason: str, n: int = 1) -> None:
        """One more (or `n` more) for `reason` in `group`, e.g. ("urls_skipped", "robots")."""
        getattr(self, group)[reason] += n

    def add(self, total: str, n: float = 1) -> None:
        """Add to a running total: pages_fetched, images_sent, requests, duration_s, ..."""
        if total not in _TOTALS:
            raise ValueError(f"not a crawl total: {total!r}")
        setattr(self, total, getattr(self, total) + n)

    @classmethod
    def from_fields(cls, fields: Mapping[str, float]) -> CrawlStats:
        """Read back the stats hash: totals by name, reasons as `stats_field` names them."""
        stats = cls()
        for name, number in fields.items():
            group, _, reason = name.partition(":")
            if reason:
                stats.count(group, reason, int(number))  # type: ignore[arg-type]
            elif name == "duration_s":
                stats.duration_s = number
            else:
                setattr(stats, name, int(number))
        return stats

    def snapshot(self) -> CrawlStats:
        copies = {group: Counter(getattr(self, group)) for group in COUNTER_GROUPS}
        return dataclasses.replace(self, **copies)

    def as_dict(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("pages_queued", "images_queued")}
        out.update({group: dict(getattr(self, group)) for group in COUNTER_GROUPS})
        out["duration_s"] = round(self.duration_s, 3)
        return out


_TOTALS = frozenset(f.name for f in dataclasses.fields(CrawlStats)) - set(COUNTER_GROUPS)
