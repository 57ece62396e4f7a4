"""aiohttp fetcher: per-host slots (concurrency + rate), streamed size cap (crawler.body),
time cap per response, 429/503 Retry-After, and redirects followed by hand so every hop is
checked.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

import aiohttp
from aiohttp.abc import AbstractResolver
from aiolimiter import AsyncLimiter
from multidict import CIMultiDictProxy
from yarl import URL

from spinneret.crawler.body import ACCEPT_ENCODING, read_bounded
from spinneret.crawler.errors import FetchError, SsrfBlocked, TooManyRedirects
from spinneret.crawler.scope import strip_fragment
from spinneret.crawler.ssrf import GuardedResolver, SsrfPolicy
from spinneret.crawler.types import CrawlSettings

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_AFTER_STATUSES = frozenset({429, 503})
RETRY_STATUSES = RETRY_AFTER_STATUSES | {502, 504}
HopCheck = Callable[[URL], Awaitable[None]]


@dataclass(frozen=True)
class Response:
    url: str  # final URL after redirects
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes  # empty for error statuses (>= 400)
    redirects: tuple[str, ...] = ()

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("Content-Type")
        return value.split(";", 1)[0].strip().lower() if value else None


@dataclass
class HostSlot:
    semaphore: asyncio.Semaphore
    limiter: AsyncLimiter
    blocked_until: float = 0.0  # monotonic time before which nothing is sent (Retry-After)

    async def wait_turn(self) -> None:
        while True:
            delay = self.blocked_until - time.monotonic()
            if delay <= 0:
                break
            await asyncio.sleep(delay)
        await self.limiter.acquire()


@dataclass
class FetchCounters:
    requests: int = 0
    bytes: int = 0
    retries: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


class Fetcher:
    def __init__(self, settings: CrawlSettings, *, rate_per_s: float | None = None,
                 resolver: AbstractResolver | None = None) -> None:
        self.settings = settings
        self.rate_per_s = rate_per_s or settings.default_rate_per_s
        self.policy = SsrfPolicy(settings.allow_private_networks, settings.allowed_networks)
        self._inner_resolver = resolver
        self._session: aiohttp.ClientSession | None = None
        self._slots: dict[str, HostSlot] = {}
        self.counters = FetchCounters()

    async def __aenter__(self) -> Fetcher:
        await self.open()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self.policy, self._inner_resolver),
            limit=self.settings.crawl_concurrency * 2, limit_per_host=0,
            ttl_dns_cache=60, enable_cleanup_closed=True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self.settings.user_agent, "Accept": "*/*",
                     "Accept-Encoding": ACCEPT_ENCODING},
            cookie_jar=aiohttp.DummyCookieJar(), trust_env=False, auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.settings.connect_timeout_s),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def slot(self, url: URL) -> HostSlot:
        key = f"{url.host}:{url.port}"
        slot = self._slots.get(key)
        if slot is None:
            slot = HostSlot(asyncio.Semaphore(self.settings.per_host_concurrency),
                            _limiter(self.rate_per_s))
            self._slots[key] = slot
        return slot

    def space_requests(self, url: URL, delay_s: float) -> None:
        """At most one request every `delay_s` to one host, without the burst a rate allows
        (robots.txt Crawl-delay / Request-rate). Never makes the host faster."""
        slot = self.slot(url)
        if delay_s >= slot.limiter.time_period / slot.limiter.max_rate:
            slot.limiter = AsyncLimiter(1, delay_s)

    async def fetch(self, url: str, *, check_hop: HopCheck | None = None,
                    max_bytes: int | None = None) -> Response:
        """GET `url`, following up to max_redirects redirects; every hop (the first too)
        passes the SSRF check and `check_hop` (scope, robots, seen-set)."""
        cap = max_bytes or self.settings.max_response_bytes
        current = URL(url)
        hops: list[str] = []
        while True:
            self.policy.check_url(current)
            if check_hop is not None:
                await check_hop(current)
            response = await self._get_with_retries(current, cap)
            if response.status in REDIRECT_STATUSES and "Location" in response.headers:
                if len(hops) >= self.settings.max_redirects:
                    raise TooManyRedirects(url, self.settings.max_redirects)
                hops.append(str(current))
                target = strip_fragment(urljoin(str(current), response.headers["Location"]))
                try:
                    current = URL(target)
                except (ValueError, TypeError):
                    raise FetchError("bad_redirect", str(current), target) from None
                continue
            return Response(str(current), response.status, response.headers, response.body,
                            tuple(hops))

    async def _get_with_retries(self, url: URL, cap: int) -> Response:
        slot = self.slot(url)
        attempt = 0
        while True:
            async with slot.semaphore:
                await slot.wait_turn()
                try:
                    response: Response | None = await self._get_once(url, cap)
                except FetchError as exc:
                    if exc.kind != "connection" or attempt >= self.settings.max_retries:
                        raise
                    response = None
                if response is not None and (response.status not in RETRY_STATUSES
                                             or attempt >= self.settings.max_retries):
                    return response
                delay = None
                if response is not None and response.status in RETRY_AFTER_STATUSES:
                    delay = parse_retry_after(response.headers.get("Retry-After"))
                if delay is None:
                    delay = 0.5 * 2 ** attempt
                delay = min(delay, self.settings.retry_after_max_s)
                # The whole host waits, not just this request.
                slot.blocked_until = max(slot.blocked_until, time.monotonic() + delay)
            attempt += 1
            self.counters.retries += 1

    async def _get_once(self, url: URL, cap: int) -> Response:
        if self._session is None:
            raise RuntimeError("Fetcher used before open()")
        self.counters.requests += 1
        try:
            async with asyncio.timeout(self.settings.fetch_timeout_s):
                async with self._session.get(url, allow_redirects=False) as resp:
                    statuses = self.counters.statuses
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                    body = b""
                    if resp.status < 300:
                        body = await read_bounded(
                            resp, str(url), max_bytes=cap,
                            max_ratio=self.settings.max_decompression_ratio)
                        self.counters.bytes += len(body)
                    return Response(str(url), resp.status, resp.headers, body)
        except TimeoutError:
            raise FetchError("timeout", str(url), f"over {self.settings.fetch_timeout_s}s") from None
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error if isinstance(exc.os_error, SsrfBlocked) else exc.__cause__
            if isinstance(cause, SsrfBlocked):
                raise SsrfBlocked(str(url), cause.detail) from None
            kind = "dns" if isinstance(exc, aiohttp.ClientConnectorDNSError) else "connection"
            raise FetchError(kind, str(url), str(exc)) from None
        except SsrfBlocked:
            raise
        except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as exc:
            raise FetchError("bad_response", str(url), str(exc)) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise FetchError("connection", str(url), str(exc)) from None


def _limiter(rate_per_s: float) -> AsyncLimiter:
    # Bucket of one second's worth (at least one request): smooth, allows small bursts.
    if rate_per_s >= 1:
        return AsyncLimiter(rate_per_s, 1.0)
    return AsyncLimiter(1, 1.0 / rate_per_s)
