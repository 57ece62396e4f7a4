"""The rules every request of a crawl passes, one small check each, in order: the crawler's
counterpart of Scrapy's ordered downloader middlewares (offsite, robots, ...).

The SSRF check comes first and is not in this list: `Fetcher.fetch` makes it on every hop
itself, so no caller of the fetcher (robots.txt, one-off fetches) can leave it out. Then
`HOP_CHECKS` in order. Each raises `SkipUrl(reason)` to refuse; the reason is what the
crawl's stats count. A new rule is one more function here and one more entry below.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from yarl import URL

from spinneret.crawler.errors import SkipUrl
from spinneret.crawler.scope import Scope
from spinneret.crawler.types import Frontier

if TYPE_CHECKING:
    from spinneret.crawler.robots import RobotsGate


@dataclass(frozen=True)
class Hop:
    """One request of a fetch: the URL as queued (number 1), or a redirect target."""

    url: URL
    number: int
    page: bool  # a page (held to the site's hosts) or a resource (image, stylesheet, sitemap)

    @property
    def is_redirect(self) -> bool:
        return self.number > 1


@dataclass(frozen=True)
class HopContext:
    """The parts of one crawl the checks consult."""

    scope: Scope
    frontier: Frontier
    robots: RobotsGate


HopRule = Callable[[Hop, HopContext], Awaitable[None]]


async def check_scope(hop: Hop, ctx: HopContext) -> None:
    # A queued URL was checked when its link was found; a redirect target was not.
    if hop.is_redirect:
        (ctx.scope.check_page if hop.page else ctx.scope.check_fetchable)(hop.url)


async def check_seen(hop: Hop, ctx: HopContext) -> None:
    # Likewise: the frontier let the queued URL in once; a redirect may lead to a known one.
    if hop.is_redirect and not await ctx.frontier.mark_seen(str(hop.url)):
        raise SkipUrl("duplicate", str(hop.url))


async def check_robots(hop: Hop, ctx: HopContext) -> None:
    await ctx.robots.check(hop.url)


HOP_CHECKS: tuple[HopRule, ...] = (check_scope, check_seen, check_robots)


def hop_checker(ctx: HopContext, *, page: bool,
                checks: tuple[HopRule, ...] = HOP_CHECKS) -> Callable[[URL], Awaitable[None]]:
    """The `check_hop` callback for one `Fetcher.fetch`: numbers the hops of its redirect
    chain and runs `checks` on each."""
    number = 0

    async def check_hop(url: URL) -> None:
        nonlocal number
        number += 1
        hop = Hop(url, number, page)
        for check in checks:
            await check(hop, ctx)

    return check_hop
