"""Conditional GET of one known URL (If-None-Match / If-Modified-Since): the recheck's
fetcher. It shares the crawler's guard and caps: the SSRF resolver and per-hop URL check
(`crawler.ssrf`), redirects followed by hand, the streamed size and decompression caps
(`crawler.body`). Unlike `crawler.fetch.Fetcher` it never raises for a network failure: the
answer says what happened, and whether the host name is gone for good.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass

import aiohttp
from yarl import URL

from spinneret.crawler.body import ACCEPT_ENCODING, read_bounded
from spinneret.crawler.errors import FetchError, SkipUrl, SsrfBlocked
from spinneret.crawler.fetch import REDIRECT_STATUSES
from spinneret.crawler.ssrf import GuardedResolver, SsrfPolicy


@dataclass(frozen=True)
class ConditionalResult:
    status: int | None  # None: no HTTP answer (network error, blocked)
    body: bytes | None = None  # only for a 200 within the caps
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None
    #: The host name does not resolve (NXDOMAIN / no address): the site is gone.
    host_unknown: bool = False


class ConditionalFetcher:
    """One conditional GET per call, redirects followed by hand (each hop SSRF-checked).
    Use as `async with ConditionalFetcher(...) as fetcher`."""

    def __init__(self, *, allow_private: bool, timeout_s: float, max_bytes: int,
                 max_redirects: int, user_agent: str, allowed_networks: Iterable[str] = (),
                 max_ratio: float = 200) -> None:
        self.policy = SsrfPolicy(allow_private, allowed_networks)
        self.max_ratio = max_ratio
        self.timeout_s = timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, settings) -> ConditionalFetcher:
        return cls(
            allow_private=settings.allow_private_networks, timeout_s=settings.fetch_timeout_s,
            max_bytes=min(settings.max_response_bytes, settings.max_image_bytes),
            max_redirects=settings.max_redirects, user_agent=settings.effective_user_agent,
            allowed_networks=settings.allowed_networks,
            max_ratio=settings.max_decompression_ratio,
        )

    async def __aenter__(self) -> ConditionalFetcher:
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.policy), limit=16)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            headers={"User-Agent": self.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
            auto_decompress=False,  # crawler.body decompresses, within its caps
        )
        return self

    async def __aexit__(self, *exc) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str, *, etag: str | None,
                    last_modified: str | None) -> ConditionalResult:
        if self._session is None:
            raise RuntimeError("use `async with ConditionalFetcher(...)`")
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        current = url
        try:
            for _ in range(self.max_redirects + 1):
                target = self.policy.check_url(current)
                async with self._session.get(target, headers=headers,
                                             allow_redirects=False) as response:
                    if response.status in REDIRECT_STATUSES and "Location" in response.headers:
                        current = str(target.join(URL(response.headers["Location"])))
                        continue
                    body, error = None, None
                    if response.status == 200:
                        try:
                            body = await read_bounded(response, str(target),
                                                      max_bytes=self.max_bytes,
                                                      max_ratio=self.max_ratio)
                        except FetchError as exc:  # too big to be the image we matched:
                            error = str(exc)  # "cannot tell"
                    return ConditionalResult(
                        status=response.status, body=body, etag=response.headers.get("ETag"),
                        last_modified=response.headers.get("Last-Modified"), error=error,
                    )
            return ConditionalResult(status=None, error="too many redirects")
        except (SsrfBlocked, SkipUrl) as exc:
            return ConditionalResult(status=None, error=str(exc))
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            return ConditionalResult(status=None, error=f"{type(exc).__name__}: {exc}",
                                     host_unknown=host_unknown(exc))


#: getaddrinfo answers that mean "no such name", not "try again" (EAI_AGAIN stays unknown).
_NO_SUCH_NAME = {getattr(socket, n) for n in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, n)}


def host_unknown(exc: BaseException) -> bool:
    """Did this fetch fail because the host name does not exist? A temporary resolver
    failure does not count: closing an item needs the name to be really gone."""
    if not isinstance(exc, aiohttp.ClientConnectorDNSError):
        return False
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return seen.errno in _NO_SUCH_NAME
        seen = seen.__cause__ or seen.__context__ or getattr(seen, "os_error", None)
        if seen is exc:
            break
    text = str(exc).lower()
    return "name or service not known" in text or "name not known" in text
