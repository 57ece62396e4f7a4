"""Crawler against real aiohttp sites on loopback and a real Redis frontier."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from aiohttp.test_utils import TestServer

from spinneret.crawler import (
    Crawler,
    CrawlSettings,
    CrawlTarget,
    FoundImage,
    RedisFrontier,
    SiteScope,
    SsrfBlocked,
)
from spinneret.crawler.fetch import Fetcher
from spinneret.crawler.ssrf import StaticResolver
from tests.sites import (
    REQUEST_LOG,
    ROUTES,
    Route,
    build_site,
    discovery_site,
    html,
    png_bytes,
)


@dataclass
class ListSink:
    images: list[FoundImage] = field(default_factory=list)
    backout: bool = False
    stall_after: int | None = None  # accept this many images, then hang every later submit
    stalled: asyncio.Event = field(default_factory=asyncio.Event)

    async def submit(self, image: FoundImage) -> None:
        if self.stall_after is not None and len(self.images) >= self.stall_after:
            # Hanging here (rather than counting and hoping the test task wakes first)
            # freezes the crawl at a known point however fast the machine is.
            self.stalled.set()
            await asyncio.Future()
        self.images.append(image)

    def needs_backout(self) -> bool:
        return self.backout

    @property
    def urls(self) -> set[str]:
        return {image.url for image in self.images}


@pytest.fixture
async def aredis(redis_server_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server_url)
    yield client
    await client.aclose()


@pytest.fixture
def crawl_settings(settings) -> CrawlSettings:
    return CrawlSettings.from_settings(
        settings, fetch_timeout_s=0.5, max_response_bytes=1024 * 1024, default_rate_per_s=1000,
        per_host_concurrency=8, crawl_concurrency=8, max_retries=1, retry_after_max_s=5)


class Sites:
    """Two loopback servers reachable as site.test and cdn.test through a static resolver."""

    def __init__(self) -> None:
        self.site_app = build_site()
        self.cdn_app = build_site()
        self.site = TestServer(self.site_app, host="127.0.0.1")
        self.cdn = TestServer(self.cdn_app, host="127.0.0.1")

    async def start(self) -> None:
        await self.site.start_server()
        await self.cdn.start_server()
        self.base = f"http://site.test:{self.site.port}"
        self.cdn_base = f"http://cdn.test:{self.cdn.port}"
        self.resolver = StaticResolver({"site.test": ["127.0.0.1"], "cdn.test": ["127.0.0.1"]})

    async def close(self) -> None:
        await self.site.close()
        await self.cdn.close()

    def routes(self, site: dict[str, Route], cdn: dict[str, Route] | None = None) -> None:
        self.site_app[ROUTES].update(site)
        self.cdn_app[ROUTES].update(cdn or {})

    def target(self, **kwargs) -> CrawlTarget:
        kwargs.setdefault("scope", SiteScope(hosts=("site.test",)))
        return CrawlTarget(site_id=7, crawl_id=kwargs.pop("crawl_id", 1),
                           start_urls=(self.base + "/",), **kwargs)


@pytest.fixture
async def sites() -> AsyncIterator[Sites]:
    s = Sites()
    await s.start()
    yield s
    await s.close()


def frontier_for(aredis, crawl_settings: CrawlSettings, crawl_id: int = 1) -> RedisFrontier:
    return RedisFrontier(aredis, crawl_settings.redis_key_prefix, crawl_id)


def paths(app) -> list[str]:
    return [r.path_qs for r in app[REQUEST_LOG]]


async def test_discovers_every_form_and_respects_scope(sites, aredis, crawl_settings):
    spec = discovery_site(sites.base, sites.cdn_base)
    sites.routes(spec.routes, spec.cdn_routes)
    sink = ListSink()
    progress = []
    crawler = Crawler(sites.target(max_query_variants=10), crawl_settings,
                      frontier_for(aredis, crawl_settings), sink,
                      on_progress=progress.append, resolver=sites.resolver)
    stats = await crawler.run()

    assert sink.urls == spec.expected_images
    assert len(sink.images) == len(spec.expected_images)  # each handed on once
    by_url = {i.url: i for i in sink.images}
    assert by_url[sites.base + "/img/s2.jpg"].via == "srcset"
    assert by_url[sites.base + "/img/lazy.png"].via == "lazy"
    assert by_url[sites.cdn_base + "/cdn/og.jpg"].via == "og"
    assert by_url[sites.base + "/img/bg-import.png"].via == "css"
    assert by_url[sites.base + "/download/photo"].content_type == "image/png"
    assert by_url[sites.base + "/img/noext"].content_type == "image/jpeg"
    assert all(i.site_id == 7 and i.crawl_id == 1 for i in sink.images)

    site_paths, cdn_paths = paths(sites.site_app), paths(sites.cdn_app)
    for path in spec.never_requested:
        assert path not in site_paths, path
    for path in spec.never_requested_cdn:
        assert not any(p.startswith(path) for p in cdn_paths), path
    # Nothing fetched twice (robots.txt once per origin, too).
    assert len(site_paths) == len(set(site_paths))
    assert len(cdn_paths) == len(set(cdn_paths))
    # The calendar trap stops at max_query_variants.
    assert sum(p.startswith("/calendar") for p in site_paths) == 10
    ua = crawl_settings.user_agent
    assert all(r.user_agent == ua for r in sites.site_app[REQUEST_LOG])
    assert "spinneret" in ua.lower() and "http" in ua

    assert stats.images_sent == len(spec.expected_images)
    assert stats.images_skipped["not_image"] == 1  # /fake.jpg, HTML served as image/jpeg
    assert stats.images_skipped["timeout"] == 1
    assert stats.images_skipped["http_500"] == 1
    assert stats.images_skipped["too_large"] == 1
    assert stats.images_skipped["robots"] == 1  # /private/p.png
    assert stats.errors["timeout"] == 1 and stats.errors["http_500"] == 1
    assert stats.urls_skipped["robots"] == 1
    assert stats.urls_skipped["out_of_scope"] >= 2  # the CDN link and the redirect out
    assert stats.urls_skipped["proxy_url"] == 2
    assert stats.urls_skipped["query_trap"] >= 1
    assert stats.images_found == (stats.images_sent + sum(stats.images_skipped.values()))
    assert stats.pages_fetched >= 9 and stats.finished and stats.duration_s > 0
    assert not stats.start_skipped
    assert progress and progress[-1].images_sent == stats.images_sent


def chain_site(n_pages: int, images_per_page: int) -> tuple[dict[str, Route], set[str]]:
    routes: dict[str, Route] = {}
    images: set[str] = set()
    for i in range(n_pages):
        body = "".join(f'<img src="/img/{i}-{j}.png">' for j in range(images_per_page))
        body += f'<a href="/p/{i + 1}.html">next</a><a href="/p/{(i * 7) % n_pages}.html">x</a>'
        routes[f"/p/{i}.html"] = Route(body=html(body))
        for j in range(images_per_page):
            routes[f"/img/{i}-{j}.png"] = Route(body=png_bytes(i * 10 + j),
                                                content_type="image/png")
            images.add(f"/img/{i}-{j}.png")
    routes["/"] = Route(body=html('<a href="/p/0.html">start</a>'))
    return routes, images


async def test_resume_after_kill_fetches_nothing_twice(sites, aredis, crawl_settings):
    routes, images = chain_site(30, 4)
    sites.routes(routes)
    expected = {sites.base + p for p in images}
    first = ListSink(stall_after=40)
    target = sites.target(max_depth=100)
    task = asyncio.create_task(Crawler(target, crawl_settings, frontier_for(aredis, crawl_settings),
                                       first, resolver=sites.resolver).run())
    await asyncio.wait_for(first.stalled.wait(), 20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(first.urls) < len(expected)
    frontier = frontier_for(aredis, crawl_settings)
    in_flight = {urlsplit(item.url).path for item in await frontier.inflight()}
    # In flight in Redis: items being fetched (<= concurrency), the popped-ahead buffer
    # (<= one batch of `concurrency`) and finished items whose "done" mark rides on the next
    # pop (<= concurrency). The guarantee below is that only these are fetched again.
    assert len(in_flight) <= 3 * crawl_settings.crawl_concurrency

    second = ListSink()
    stats = await Crawler(target, crawl_settings, frontier, second,
                          resolver=sites.resolver).run()
    assert first.urls | second.urls == expected
    assert first.urls & second.urls <= {sites.base + p for p in in_flight}
    log = paths(sites.site_app)
    twice = {p for p in set(log) if log.count(p) > 1}
    assert twice <= in_flight | {"/robots.txt"}  # robots.txt is read once per run
    assert stats.finished and stats.images_sent == len(first.images) + len(second.images)


async def test_retry_after_is_honoured(sites, aredis, crawl_settings):
    sites.routes({
        "/": Route(body=html('<img src="/busy.png"><img src="/unavailable.png">')),
        "/busy.png": Route(body=png_bytes(1), content_type="image/png",
                           failures=[(429, {"Retry-After": "1"})]),
        "/unavailable.png": Route(body=png_bytes(2), content_type="image/png",
                                  failures=[(503, {"Retry-After": "1"})]),
    })
    sink = ListSink()
    await Crawler(sites.target(), crawl_settings, frontier_for(aredis, crawl_settings), sink,
                  resolver=sites.resolver).run()
    assert sink.urls == {sites.base + "/busy.png", sites.base + "/unavailable.png"}
    for path in ("/busy.png", "/unavailable.png"):
        times = [r.time for r in sites.site_app[REQUEST_LOG] if r.path == path]
        assert len(times) == 2
        assert times[1] - times[0] >= 0.95  # waited as told


async def test_backout_pauses_image_fetching(sites, aredis, crawl_settings):
    routes, images = chain_site(5, 2)
    sites.routes(routes)
    sink = ListSink(backout=True)
    task = asyncio.create_task(
        Crawler(sites.target(), crawl_settings, frontier_for(aredis, crawl_settings), sink,
                resolver=sites.resolver).run())
    for _ in range(500):
        if sum(p.startswith("/p/") for p in paths(sites.site_app)) >= 5:
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert not any(p.startswith("/img/") for p in paths(sites.site_app))
    assert not task.done()
    sink.backout = False
    stats = await asyncio.wait_for(task, 20)
    assert sink.urls == {sites.base + p for p in images} and stats.finished


async def test_limits_pages_depth_and_redirects(sites, aredis, crawl_settings):
    routes, _ = chain_site(20, 0)
    routes["/"] = Route(body=html('<a href="/p/0.html">start</a><a href="/loop0">loop</a>'))
    for i in range(10):
        routes[f"/loop{i}"] = Route(status=302, headers={"Location": f"/loop{i + 1}"})
    sites.routes(routes)
    stats = await Crawler(sites.target(max_pages=5), crawl_settings,
                          frontier_for(aredis, crawl_settings, 1), ListSink(),
                          resolver=sites.resolver).run()
    # max_pages counts pages attempted: the redirect loop failed, four pages were fetched
    assert stats.pages_fetched + stats.errors["too_many_redirects"] == 5
    assert stats.urls_skipped["max_pages"] >= 1
    page_requests = [p for p in paths(sites.site_app) if p.startswith("/p/") or p == "/"]
    assert len(page_requests) <= 5

    sites.site_app[REQUEST_LOG].clear()
    stats = await Crawler(sites.target(max_depth=2, crawl_id=2), crawl_settings,
                          frontier_for(aredis, crawl_settings, 2), ListSink(),
                          resolver=sites.resolver).run()
    # depth 0: "/", 1: /p/0.html and /loop0, 2: /p/1.html (and /p/0 again, seen)
    assert {p for p in paths(sites.site_app) if p.startswith("/p/")} == {"/p/0.html",
                                                                           "/p/1.html"}
    assert stats.errors["too_many_redirects"] == 1
    loops = [p for p in paths(sites.site_app) if p.startswith("/loop")]
    assert len(loops) == crawl_settings.max_redirects + 1


async def test_ignore_robots_flag(sites, aredis, crawl_settings):
    sites.routes({
        "/robots.txt": Route(body="User-agent: *\nDisallow: /\n", content_type="text/plain"),
        "/": Route(body=html('<img src="/a.png">')),
        "/a.png": Route(body=png_bytes(3), content_type="image/png"),
    })
    sink = ListSink()
    stats = await Crawler(sites.target(), crawl_settings, frontier_for(aredis, crawl_settings, 1),
                          sink, resolver=sites.resolver).run()
    assert paths(sites.site_app) == ["/robots.txt"] and stats.urls_skipped["robots"] == 1
    assert stats.start_skipped == {"robots": 1} and stats.pages_fetched == 0
    sink = ListSink()
    stats = await Crawler(sites.target(ignore_robots=True, crawl_id=2), crawl_settings,
                  frontier_for(aredis, crawl_settings, 2), sink, resolver=sites.resolver).run()
    assert sink.urls == {sites.base + "/a.png"} and not stats.start_skipped


@pytest.mark.parametrize(("start", "scope", "reason"), [
    ("redirect off the site", {}, "out_of_scope"),
    ("page", {"include": ("/blog/",)}, "not_included"),
    ("page", {"exclude": ("^http://site",)}, "excluded"),
    ("gone", {}, "http_404"),
])
async def test_a_start_url_not_fetched_says_why(sites, aredis, crawl_settings, start, scope,
                                                reason):
    sites.routes({"/": {
        "redirect off the site": Route(status=302, headers={"Location": sites.cdn_base + "/"}),
        "page": Route(body=html("home")),
        "gone": Route(status=404, body=b"gone"),
    }[start]}, {"/": Route(body=html("the CDN's home page"))})
    target = sites.target(scope=SiteScope(hosts=("site.test",), **scope))
    stats = await Crawler(target, crawl_settings, frontier_for(aredis, crawl_settings), ListSink(),
                          resolver=sites.resolver).run()
    assert stats.finished and stats.pages_fetched == 0
    assert stats.start_skipped == {reason: 1}
    assert stats.urls_skipped[reason] + stats.errors[reason] == 1
    assert paths(sites.cdn_app) == []  # a redirect off the site is not followed


# --- politeness, timed on the server (lower bounds only: a loaded machine is only slower) ---
JITTER_S = 0.15  # how much earlier a request may arrive than the client's turn allowed


def _request_times(sites: Sites, after: str | None = None) -> list[float]:
    log = sites.site_app[REQUEST_LOG]
    if after is not None:
        log = log[[r.path for r in log].index(after) + 1:]
    return sorted(r.time for r in log)


async def test_per_host_concurrency_limit(sites, aredis, crawl_settings):
    active, most = 0, 0

    async def slow_image(request: web.Request) -> web.Response:
        nonlocal active, most
        active += 1
        most = max(most, active)
        try:
            await asyncio.sleep(0.2)
        finally:
            active -= 1
        return web.Response(body=png_bytes(len(request.path)), content_type="image/png")

    routes = {f"/i{i}.png": Route(handler=slow_image) for i in range(12)}
    routes["/"] = Route(body=html("".join(f'<img src="{p}">' for p in routes)))
    sites.routes(routes)
    settings = CrawlSettings(**{**crawl_settings.__dict__, "per_host_concurrency": 2,
                                "crawl_concurrency": 16})
    sink = ListSink()
    await Crawler(sites.target(), settings, frontier_for(aredis, settings), sink,
                  resolver=sites.resolver).run()
    assert len(sink.images) == 12
    assert most <= 2  # never more than per_host_concurrency requests at once
    times = [r.time for r in sites.site_app[REQUEST_LOG] if r.path.startswith("/i")]
    assert max(times) - min(times) >= 5 * 0.2 - JITTER_S  # 6 rounds of 2 at most


async def test_site_rate_is_honoured(sites, aredis, crawl_settings):
    routes = {f"/i{i}.png": Route(body=png_bytes(i), content_type="image/png") for i in range(10)}
    routes["/"] = Route(body=html("".join(f'<img src="{p}">' for p in routes)))
    sites.routes(routes)
    rate = 4.0
    await Crawler(sites.target(rate_per_s=rate), crawl_settings,
                  frontier_for(aredis, crawl_settings), ListSink(), resolver=sites.resolver).run()
    times = _request_times(sites)
    assert len(times) == 12  # robots.txt, the page, 10 images: all through the limiter
    # A bucket of one second's worth: any n requests in a row span (n - rate) / rate.
    for i in range(len(times)):
        for j in range(i + int(rate), len(times)):
            n = j - i + 1
            assert times[j] - times[i] >= (n - rate) / rate - JITTER_S, (i, j)


async def test_robots_crawl_delay_spaces_every_request(sites, aredis, crawl_settings):
    delay = 0.5  # under a second, where spacing and a rate of 2/s (with a burst) differ
    routes = {f"/i{i}.png": Route(body=png_bytes(i), content_type="image/png") for i in range(5)}
    routes["/"] = Route(body=html("".join(f'<img src="{p}">' for p in routes)))
    routes["/robots.txt"] = Route(body=f"User-agent: *\nCrawl-delay: {delay}\n",
                                  content_type="text/plain")
    sites.routes(routes)
    sink = ListSink()
    await Crawler(sites.target(), crawl_settings, frontier_for(aredis, crawl_settings), sink,
                  resolver=sites.resolver).run()  # the site's own rate: 1000/s
    assert len(sink.images) == 5
    times = _request_times(sites, after="/robots.txt")
    assert len(times) == 6
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= delay - JITTER_S, gaps
    assert times[-1] - times[0] >= 5 * delay - JITTER_S


# --- SSRF ----------------------------------------------------------------------------------

@pytest.fixture
async def internal() -> AsyncIterator[TestServer]:
    """A "private service" on 127.0.0.1 that must never be reached."""
    app = build_site({"/secret.png": Route(body=png_bytes(9), content_type="image/png"),
                      "/secret.html": Route(body=html("internal"))})
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server
    await server.close()


async def test_ssrf_guard_refuses_private_addresses(aredis, crawl_settings, internal):
    # The public site is 127.0.0.2 (allowed as an exception); 127.0.0.1 stays forbidden.
    port = internal.port
    app = build_site({
        "/": Route(body=html(
            f'<a href="/to-internal">r</a>'
            f'<img src="/img-to-internal.png">'
            f'<img src="http://internal.test:{port}/secret.png">'
            f'<img src="http://localhost:{port}/secret.png?via=localhost">'
            f'<img src="http://2130706433:{port}/secret.png?via=decimal">'
            f'<img src="http://[::1]:{port}/secret.png?via=v6">'
            f'<img src="file:///etc/passwd"><img src="ftp://site.test/x.png">'
            f'<img src="/ok.png">')),
        "/to-internal": Route(status=302,
                              headers={"Location": f"http://127.0.0.1:{port}/secret.html"}),
        "/img-to-internal.png": Route(status=302,
                                      headers={"Location": f"http://127.0.0.1:{port}/secret.png"}),
        "/ok.png": Route(body=png_bytes(1), content_type="image/png"),
    })
    public = TestServer(app, host="127.0.0.2")
    await public.start_server()
    public_port = public.port
    try:
        settings = CrawlSettings(**{**crawl_settings.__dict__, "allow_private_networks": False,
                                    "allowed_networks": ("127.0.0.2/32",)})
        resolver = StaticResolver({"site.test": ["127.0.0.2"], "internal.test": ["127.0.0.1"]},
                                  fallback=DefaultResolver())
        target = CrawlTarget(site_id=1, crawl_id=1, scope=SiteScope(hosts=("site.test",)),
                             start_urls=(f"http://site.test:{public.port}/",))
        sink = ListSink()
        stats = await Crawler(target, settings, frontier_for(aredis, settings), sink,
                              resolver=resolver).run()
    finally:
        await public.close()
    assert internal.app[REQUEST_LOG] == []
    assert sink.urls == {f"http://site.test:{public_port}/ok.png"}
    # Every form fails the address check, the decimal one (2130706433) too
    assert stats.images_skipped["ssrf_blocked"] == 5
    assert stats.images_skipped["robots_unreachable"] == 0  # (the decimal form's, before)
    assert stats.urls_skipped["ssrf_blocked"] == 1  # the page redirected to 127.0.0.1
    assert stats.urls_skipped["scheme"] == 0  # file:/ftp: links are dropped at extraction
    assert "/to-internal" in paths(app)


async def test_ssrf_guard_refuses_loopback_target_by_default(aredis, settings, internal):
    strict = CrawlSettings.from_settings(settings, allow_private_networks=False,
                                         fetch_timeout_s=2)
    target = CrawlTarget.for_url(f"http://127.0.0.1:{internal.port}/secret.html")
    stats = await Crawler(target, strict, frontier_for(aredis, strict), ListSink()).run()
    assert internal.app[REQUEST_LOG] == []
    assert stats.pages_fetched == 0 and stats.urls_skipped["ssrf_blocked"] == 1
    assert stats.start_skipped == {"ssrf_blocked": 1}


class RebindingResolver(AbstractResolver):
    """A DNS rebinding attacker with a zero TTL: a name's first lookup answers `first`
    (public), every later lookup `later` (private)."""

    def __init__(self, first: str, later: str) -> None:
        self.first, self.later = first, later
        self.answers: list[tuple[str, int, str]] = []  # (host, port, address) per lookup

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        address = self.later if any(h == host for h, _, _ in self.answers) else self.first
        self.answers.append((host, port, address))
        return await StaticResolver({host: [address]}).resolve(host, port, family)

    async def close(self) -> None:
        pass


@pytest.fixture
async def private_listener() -> AsyncIterator[tuple[int, list[str]]]:
    """A raw TCP listener on 127.0.0.1 recording every connection made to it (the private
    service a rebinding attack aims at); yields (port, connections)."""
    connections: list[str] = []

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(str(writer.get_extra_info("peername")))
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1], connections
    server.close()
    await server.wait_closed()


async def test_dns_rebinding_never_reaches_the_private_address(aredis, crawl_settings,
                                                               private_listener):
    # rebind.test answers 127.0.0.2 (allowed, the "public" site) for its first lookup, then
    # 127.0.0.1. The page links to the same name on the private listener's port: a new
    # connection, so a new lookup, which now answers the private address.
    private_port, connections = private_listener
    app = build_site()
    public = TestServer(app, host="127.0.0.2")
    await public.start_server()
    base, other = f"http://rebind.test:{public.port}", f"http://rebind.test:{private_port}"
    app[ROUTES].update({"/": Route(body=html(
        f'<img src="/ok.png"><img src="{other}/secret.png"><a href="{other}/admin">x</a>')),
        "/ok.png": Route(body=png_bytes(1), content_type="image/png")})
    resolver = RebindingResolver("127.0.0.2", "127.0.0.1")
    settings = CrawlSettings(**{**crawl_settings.__dict__, "allow_private_networks": False,
                                "allowed_networks": ("127.0.0.2/32",)})
    target = CrawlTarget(site_id=1, crawl_id=1, start_urls=(base + "/",),
                         scope=SiteScope(hosts=("rebind.test",)))
    sink = ListSink()
    try:
        stats = await Crawler(target, settings, frontier_for(aredis, settings), sink,
                              resolver=resolver).run()
    finally:
        await public.close()
    assert connections == []  # not even a connection, let alone a request
    assert sink.urls == {base + "/ok.png"} and stats.pages_fetched == 1
    # The test did rebind: the name was looked up again and then answered privately.
    assert ("rebind.test", private_port, "127.0.0.1") in resolver.answers
    assert stats.images_skipped["ssrf_blocked"] == 1 and stats.urls_skipped["ssrf_blocked"] == 1


async def test_an_answer_mixing_public_and_private_addresses_is_refused(crawl_settings,
                                                                        private_listener):
    # 127.0.0.3 (allowed) has nothing listening: a connector falling back to the next address
    # of the answer would reach the private listener.
    private_port, connections = private_listener
    settings = CrawlSettings(**{**crawl_settings.__dict__, "allow_private_networks": False,
                                "allowed_networks": ("127.0.0.3/32",), "max_retries": 0})
    resolver = StaticResolver({"mixed.test": ["127.0.0.3", "127.0.0.1"]})
    async with Fetcher(settings, resolver=resolver) as fetcher:
        with pytest.raises(SsrfBlocked, match="resolves to 127.0.0.1"):
            await fetcher.fetch(f"http://mixed.test:{private_port}/secret.png")
    assert connections == []
