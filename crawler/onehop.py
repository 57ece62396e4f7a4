"""Fetch one reported URL and the images it embeds: exactly one hop, no links followed.

The same parts as a crawl (fetcher with its SSRF guard on every hop and redirect, body and
time caps, extraction with its per-page caps, byte sniffing), without the frontier: a report
is one page, not a site. robots.txt is not asked: a report is one fetch a person asked for,
not crawling (RFC 9309 addresses crawlers).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp.abc import AbstractResolver

from spinneret.crawler.errors import FetchError, SkipUrl
from spinneret.crawler.extract import extract_html
from spinneret.crawler.fetch import Fetcher, Response
from spinneret.crawler.sniff import sniff, sniff_image
from spinneret.crawler.types import CrawlSettings


@dataclass(frozen=True)
class HopImage:
    url: str  # for data: URIs, "data:<mime>;sha256=<hex>" as in crawls
    page_url: str
    data: bytes
    via: str


@dataclass
class HopStats:
    page_url: str = ""  # after redirects
    pages_fetched: int = 0
    images_found: int = 0
    images_sent: int = 0
    images_skipped: Counter[str] = field(default_factory=Counter)  # not fetched / not images


class PageUnreadable(FetchError):
    """The reported URL answered, but with neither an HTML page nor an image."""


ImageHandler = Callable[[HopImage], Awaitable[None]]


async def fetch_one_hop(url: str, settings: CrawlSettings, on_image: ImageHandler, *,
                        resolver: AbstractResolver | None = None) -> HopStats:
    """Fetch `url`; hand it to `on_image` if it is an image, else each image its HTML embeds.

    Raises `FetchError` (timeout, http_404, too_large, ...) or `SsrfBlocked` when the URL
    itself cannot be read, `PageUnreadable` when it is not HTML or an image. An image that
    cannot be fetched is counted in `images_skipped` by reason; the others go on."""
    stats = HopStats()
    async with Fetcher(settings, resolver=resolver) as fetcher:
        response = await _fetch_ok(fetcher, url)
        stats.page_url = response.url
        stats.pages_fetched = 1
        kind = sniff(response.body, response.content_type)
        if kind.startswith("image/"):
            stats.images_found = 1
            await on_image(HopImage(response.url, response.url, response.body, "page"))
            stats.images_sent = 1
            return stats
        if kind != "text/html":
            raise PageUnreadable("not_html", response.url,
                                 f"neither an HTML page nor an image ({kind})")
        extracted = extract_html(response.body, response.url,
                                 max_data_bytes=settings.max_response_bytes,
                                 max_links=settings.max_links_per_page,
                                 max_images=settings.max_images_per_page,
                                 content_type=response.headers.get("Content-Type"))
        if extracted.images_over_cap:
            stats.images_skipped["too_many_images"] += extracted.images_over_cap
        if extracted.bad_data_uris:
            stats.images_skipped["bad_data_uri"] += extracted.bad_data_uris
        image_urls: dict[str, str] = {}  # URL -> how it was embedded (the first way seen)
        for link in extracted.links:
            if link.kind == "image":
                image_urls.setdefault(link.url, link.via)
        seen: set[str] = set()
        for data_image in extracted.data_images:
            stats.images_found += 1
            mime = sniff_image(data_image.data)
            if mime is None:
                stats.images_skipped["not_image"] += 1
                continue
            digest = hashlib.sha256(data_image.data).hexdigest()
            pseudo = f"data:{mime};sha256={digest}"
            if pseudo not in seen:
                seen.add(pseudo)
                await on_image(HopImage(pseudo, response.url, data_image.data, data_image.via))
                stats.images_sent += 1
        limit = asyncio.Semaphore(max(1, settings.crawl_concurrency))

        async def one(image_url: str, via: str) -> None:
            async with limit:
                try:
                    image = await _fetch_ok(fetcher, image_url)
                except (FetchError, SkipUrl) as exc:
                    stats.images_skipped[getattr(exc, "kind", None)
                                         or getattr(exc, "reason", "error")] += 1
                    return
                if sniff_image(image.body) is None:
                    stats.images_skipped["not_image"] += 1
                    return
                await on_image(HopImage(image.url, response.url, image.body, via))
                stats.images_sent += 1

        stats.images_found += len(image_urls)
        await asyncio.gather(*(one(u, v) for u, v in image_urls.items()))
    return stats


async def _fetch_ok(fetcher: Fetcher, url: str) -> Response:
    response = await fetcher.fetch(url)
    if response.status >= 300:
        raise FetchError(f"http_{response.status}", response.url)
    return response
