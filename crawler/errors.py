"""Crawler errors. `SkipUrl` and its kin carry a short machine-readable reason for the stats."""

from __future__ import annotations


class CrawlerError(Exception):
    """Base of every error the crawler raises on purpose."""


class InvalidTarget(CrawlerError):
    """A crawl target (start URL, hosts, patterns, limits) is not usable."""


class SkipUrl(CrawlerError):
    """A URL is not fetched or not handed on; `reason` is recorded in the crawl stats."""

    def __init__(self, reason: str, url: str = "", detail: str = "") -> None:
        self.reason = reason
        self.url = url
        self.detail = detail
        text = f"{reason}: {url}" if url else reason
        self.message = f"{text} ({detail})" if detail else text
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class SsrfBlocked(SkipUrl, OSError):
    """The URL's scheme or resolved address is not allowed (loopback, private, ...).

    Also an OSError so aiohttp passes it through its connector as the cause of the
    connection error, where the fetcher finds it again.
    """

    def __init__(self, url: str, detail: str) -> None:
        SkipUrl.__init__(self, "ssrf_blocked", url, detail)


class FetchError(CrawlerError):
    """Fetching failed; `kind` is the error class counted in the stats (timeout, http_500...)."""

    def __init__(self, kind: str, url: str, detail: str = "") -> None:
        self.kind = kind
        self.url = url
        self.detail = detail
        super().__init__(f"{kind}: {url}" + (f" ({detail})" if detail else ""))


class ResponseTooLarge(FetchError):
    """Recorded as `too_large`: over the byte cap (raw or decompressed) or the ratio cap."""

    def __init__(self, url: str, limit: int, detail: str = "") -> None:
        super().__init__("too_large", url, detail or f"more than {limit} bytes")


class TooManyRedirects(FetchError):
    def __init__(self, url: str, limit: int) -> None:
        super().__init__("too_many_redirects", url, f"more than {limit} redirects")
