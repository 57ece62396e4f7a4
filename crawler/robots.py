"""robots.txt per origin (protego): allow/deny, crawl delay, and the sitemaps it lists.

Missing robots.txt (4xx) allows everything; an unreachable one (5xx, network error) denies
everything for that origin (RFC 9309 §2.3.1.4), unless robots are ignored for the target.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from protego import Protego
from yarl import URL

from spinneret.crawler.errors import CrawlerError, FetchError, SkipUrl

if TYPE_CHECKING:
    from spinneret.crawler.fetch import Fetcher

log = logging.getLogger(__name__)
MAX_ROBOTS_BYTES = 512 * 1024


@dataclass(frozen=True)
class RobotsFile:
    status: int  # HTTP status, or 0 if it could not be fetched
    body: bytes = b""


@dataclass
class RobotsRules:
    parser: Protego | None  # None = no rules
    allow_all: bool
    sitemaps: tuple[str, ...] = ()
    crawl_delay_s: float | None = None
    error: str | None = None  # why robots.txt could not be read (e.g. "ssrf_blocked")

    def allowed(self, url: str, user_agent: str) -> bool:
        if self.parser is None:
            return self.allow_all
        return self.parser.can_fetch(url, user_agent)


RobotsFetch = Callable[[str], Awaitable[RobotsFile]]


def origin_of(url: URL) -> str:
    """scheme://host[:port] without user info (cheaper than str(url.origin()))."""
    host = url.raw_host or ""
    if ":" in host:
        host = f"[{host}]"
    port = url.explicit_port
    return f"{url.scheme}://{host}:{port}" if port is not None else f"{url.scheme}://{host}"


def parse_robots(robots: RobotsFile, user_agent: str) -> RobotsRules:
    if 400 <= robots.status < 500:
        return RobotsRules(None, allow_all=True)
    if robots.status == 0 or robots.status >= 500 or robots.status < 200:
        return RobotsRules(None, allow_all=False)
    text = robots.body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
    parser = Protego.parse(text)
    delay = parser.crawl_delay(user_agent)
    rate = parser.request_rate(user_agent)
    if rate is not None and rate.requests:
        per_request = rate.seconds / rate.requests
        delay = max(delay or 0.0, per_request)
    return RobotsRules(parser, allow_all=True, sitemaps=tuple(parser.sitemaps),
                       crawl_delay_s=float(delay) if delay else None)


class RobotsCache:
    """One robots.txt fetch per origin per crawl; concurrent askers share the fetch."""

    def __init__(self, fetch: RobotsFetch, user_agent: str, *, obey: bool = True) -> None:
        self._fetch = fetch
        self.user_agent = user_agent
        self.obey = obey
        self._rules: dict[str, asyncio.Future[RobotsRules]] = {}

    async def rules(self, url: URL) -> RobotsRules:
        origin = origin_of(url)
        future = self._rules.get(origin)
        if future is not None and future.done() and not future.cancelled():
            return future.result()  # the common case: no shield (a future + callbacks) per URL
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._rules[origin] = future
            error = None
            try:
                robots = await self._fetch(origin + "/robots.txt")
            except CrawlerError as exc:
                log.info("robots.txt of %s unreachable: %s", origin, exc)
                robots = RobotsFile(0)
                error = getattr(exc, "kind", None) or getattr(exc, "reason", "unreachable")
            except BaseException:
                del self._rules[origin]
                future.cancel()
                raise
            rules = parse_robots(robots, self.user_agent)
            rules.error = error
            future.set_result(rules)
        return await asyncio.shield(future)

    async def allowed(self, url: URL) -> bool:
        if not self.obey:
            return True
        rules = await self.rules(url)
        return rules.allowed(str(url), self.user_agent)


class RobotsGate:
    """robots.txt as one crawl applies it: fetched once per origin through the crawl's
    fetcher, its Crawl-delay applied to the host, and the check every request passes.

    `on_fetch_error(kind)` is told about a robots.txt that could not be read (too_large...),
    so the crawl counts it among its errors.
    """

    def __init__(self, fetcher: Fetcher, user_agent: str, *, obey: bool,
                 on_fetch_error: Callable[[str], None]) -> None:
        self.fetcher = fetcher
        self.user_agent = user_agent
        self.obey = obey
        self._on_fetch_error = on_fetch_error
        self.cache = RobotsCache(self._fetch, user_agent, obey=obey)
        self._delay_applied: set[str] = set()  # origins whose Crawl-delay was looked at

    async def _fetch(self, url: str) -> RobotsFile:
        try:
            response = await self.fetcher.fetch(url, max_bytes=MAX_ROBOTS_BYTES)
        except SkipUrl as exc:  # e.g. SSRF refusal
            raise FetchError(exc.reason, url) from None
        except FetchError as exc:  # e.g. too_large: the robots error is counted too
            self._on_fetch_error(exc.kind)
            raise
        return RobotsFile(response.status, response.body)

    async def rules(self, url: URL) -> RobotsRules | None:
        """The rules for `url`'s origin; None if robots.txt could not be read at all."""
        try:
            rules = await self.cache.rules(url)
        except CrawlerError:
            return None
        origin = origin_of(url)
        if origin not in self._delay_applied:
            self._delay_applied.add(origin)
            if rules.crawl_delay_s and self.obey:
                self.fetcher.space_requests(url, rules.crawl_delay_s)
        return rules

    async def check(self, url: URL) -> None:
        """`SkipUrl` unless `url` may be fetched: ssrf_blocked (robots.txt itself was refused,
        even when robots are ignored), robots_unreachable or robots."""
        rules = await self.rules(url)
        if rules is not None and rules.error == "ssrf_blocked":
            raise SkipUrl("ssrf_blocked", str(url))
        if not self.obey:
            return
        if rules is None or rules.error:
            raise SkipUrl("robots_unreachable", str(url))
        if not rules.allowed(str(url), self.user_agent):
            raise SkipUrl("robots", str(url))
