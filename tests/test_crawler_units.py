"""Pure unit tests of the crawler's parts (no network), plus the Redis frontier."""

from __future__ import annotations

import email.utils
import time

import pytest
import redis.asyncio as aioredis
from yarl import URL

from spinneret.crawler.errors import InvalidTarget, SkipUrl, SsrfBlocked
from spinneret.crawler.extract import css_urls, extract_html, extract_sitemap, parse_srcset
from spinneret.crawler.fetch import parse_retry_after
from spinneret.crawler.frontier import IMAGES, PAGES, QueueItem, RedisFrontier
from spinneret.crawler.robots import RobotsFile, parse_robots
from spinneret.crawler.scope import Scope, carries_url, url_key
from spinneret.crawler.sniff import sniff, sniff_image
from spinneret.crawler.ssrf import SsrfPolicy
from spinneret.crawler.types import CrawlTarget, SiteScope
from tests.sites import html, jpeg_bytes, png_bytes


def test_sniff_trusts_bytes_not_headers():
    assert sniff(png_bytes(), "text/plain") == "image/png"
    assert sniff(jpeg_bytes(), None) == "image/jpeg"
    assert sniff(b"GIF89a....", "text/html") == "image/gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ", None) == "image/webp"
    assert sniff(b"\x00\x00\x00\x1cftypavif", None) == "image/avif"
    assert sniff(html("hi").encode(), "image/jpeg") == "text/html"
    assert sniff(b"just text", "image/jpeg") == "application/octet-stream"
    assert sniff(b"body { }", "text/css; charset=utf-8") == "text/css"
    assert sniff_image(b"\xef\xbb\xbf  <svg xmlns='x'/>") == "image/svg+xml"
    assert sniff_image(b"<html>") is None


def test_srcset_every_candidate():
    assert parse_srcset("a.png 1x, b.png 2x") == ["a.png", "b.png"]
    assert parse_srcset(" a.png 100w,b.png   200w ,c.png") == ["a.png", "b.png", "c.png"]
    assert parse_srcset("img/c_fill,w_100/x.jpg 1x, y.jpg 2x") == ["img/c_fill,w_100/x.jpg",
                                                                   "y.jpg"]
    assert parse_srcset("") == []


def test_extract_html_forms():
    page = html(
        '<img src="a.png" srcset="b.png 1x, c.png 2x" data-src="d.png" data-srcset="e.png 2x">'
        '<picture><source srcset="f.webp 1x, g.webp 2x"><img src="h.jpg"></picture>'
        '<a href="i.JPEG">x</a><a href="page.html#frag">y</a><a href="javascript:void(0)">z</a>'
        '<p style="background-image:url(j.png)">s</p><video poster="k.png"></video>'
        '<style>.a{background:url("l.png")} @font-face{src:url(m.woff2)}</style>'
        '<link rel="stylesheet" href="site.css"><img src="data:image/png;base64,iVBORw0KGgo=">',
        head='<base href="/base/"><meta property="og:image" content="/og.png">'
             '<meta name="twitter:image" content="https://cdn.example/tw.png">')
    out = extract_html(page, "http://site.example/dir/index.html")
    got = {(link.url.replace("http://site.example", ""), link.kind, link.via)
           for link in out.links}
    assert got == {
        ("/base/a.png", "image", "img"), ("/base/b.png", "image", "srcset"),
        ("/base/c.png", "image", "srcset"), ("/base/d.png", "image", "lazy"),
        ("/base/e.png", "image", "lazy"), ("/base/f.webp", "image", "picture"),
        ("/base/g.webp", "image", "picture"), ("/base/h.jpg", "image", "img"),
        ("/base/i.JPEG", "image", "a"), ("/base/page.html", "page", "a"),
        ("/base/j.png", "image", "style"), ("/base/k.png", "image", "poster"),
        ("/base/l.png", "image", "css"), ("/base/site.css", "css", "css"),
        ("/og.png", "image", "og"), ("https://cdn.example/tw.png", "image", "og"),
    }
    assert [d.data for d in out.data_images] == [b"\x89PNG\r\n\x1a\n"]


def test_css_urls():
    css = ('@import url("a.css"); @import "b.css"; .x{background:url(c.png)}'
           '@media print{.y{background-image:image-set("d.png" 1x, url(e.png) 2x)}}'
           '@font-face{src:url(f.woff)} .z{background:url(g.woff2)}')
    assert css_urls(css) == [("a.css", "css"), ("b.css", "css"), ("c.png", "image"),
                             ("d.png", "image"), ("e.png", "image")]
    assert css_urls("body{color:red}") == []


def test_sitemap_pages_images_and_index():
    out = extract_sitemap(b'<urlset><url><loc> http://s/a?x=1&amp;y=2 </loc><image:image>'
                          b'<image:loc>http://cdn/i.png</image:loc></image:image></url></urlset>',
                          "http://s/sitemap.xml")
    assert [(x.url, x.kind) for x in out.links] == [("http://s/a?x=1&y=2", "page"),
                                                   ("http://cdn/i.png", "image")]
    index = extract_sitemap(b"<sitemapindex><sitemap><loc>http://s/s1.xml</loc></sitemap>"
                            b"</sitemapindex>", "http://s/sitemap.xml")
    assert [(x.url, x.kind) for x in index.links] == [("http://s/s1.xml", "sitemap")]


@pytest.mark.parametrize("url", [
    "https://images.example/searchbyimage?image_url=http://site/a.jpg",
    "https://proxy.example/?u=https%3A%2F%2Fsite%2Fa.jpg",
    "https://proxy.example/?u=https%253A%252F%252Fsite%252Fa.jpg",
    "https://proxy.example/?u=//site.example/a.jpg",
    "https://res.example/image/fetch/https://site/a.jpg",
])
def test_proxy_urls_are_detected(url):
    assert carries_url(URL(url))


@pytest.mark.parametrize("url", [
    "https://site/_next/image?url=%2Fimg%2Fa.jpg&w=640", "https://site/a.jpg?v=2",
    "https://site/cal?month=2024-01", "https://site/a//b.png",
])
def test_ordinary_urls_are_not_proxies(url):
    assert not carries_url(URL(url))


def test_scope_rules():
    scope = Scope(SiteScope(hosts=("site.example", "*.blog.example"), include=(r"/pub/",),
                            exclude=(r"\.pdf$",)))
    scope.check_page(URL("http://site.example/pub/a.html"))
    scope.check_page(URL("http://x.blog.example/pub/"))
    scope.check_page(URL("http://blog.example/pub/"))
    for url, reason in [("http://other.example/pub/", "out_of_scope"),
                        ("http://site.example/priv/", "not_included"),
                        ("http://site.example/pub/a.pdf", "excluded"),
                        ("ftp://site.example/pub/", "scheme")]:
        with pytest.raises(SkipUrl) as info:
            scope.check_page(URL(url))
        assert info.value.reason == reason
    scope.check_fetchable(URL("https://cdn.example/img.png"))  # images: any host
    assert url_key("http://a/x?b=1&a=2#f") == url_key("http://a/x?a=2&b=1")


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "224.0.0.1",
    "240.0.0.1", "0.0.0.0", "100.64.0.1", "::1", "fe80::1", "fc00::1", "::ffff:127.0.0.1",
    "ff02::1", "not-an-ip",
])
def test_ssrf_policy_refuses_private(address):
    assert not SsrfPolicy().address_allowed(address)
    assert SsrfPolicy(allow_private=True).address_allowed(address) == (address != "not-an-ip")


def test_ssrf_policy_allows_public_and_exceptions():
    policy = SsrfPolicy(allowed_networks=["127.0.0.2/32"])
    assert policy.address_allowed("93.184.216.34") and policy.address_allowed("2606:4700::1111")
    assert policy.address_allowed("127.0.0.2") and not policy.address_allowed("127.0.0.1")
    for url in ("file:///etc/passwd", "ftp://x/y", "http://127.0.0.1/", "http://[::1]/"):
        with pytest.raises(SsrfBlocked):
            policy.check_url(url)
    policy.check_url("http://name.example/")  # names are checked when resolved


def test_retry_after_parsing():
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    now = time.time()
    later = email.utils.formatdate(now + 30, usegmt=True)
    assert 28 <= parse_retry_after(later, now=now) <= 31


def test_robots_statuses():
    ua = "SpinneretBot/0.1"
    assert parse_robots(RobotsFile(404), ua).allowed("http://s/x", ua)
    assert not parse_robots(RobotsFile(503), ua).allowed("http://s/x", ua)
    assert not parse_robots(RobotsFile(0), ua).allowed("http://s/x", ua)
    rules = parse_robots(RobotsFile(200, b"User-agent: *\nDisallow: /p/\nCrawl-delay: 2\n"
                                         b"Sitemap: http://s/sm.xml\n"), ua)
    assert not rules.allowed("http://s/p/a", ua) and rules.allowed("http://s/q", ua)
    assert rules.sitemaps == ("http://s/sm.xml",) and rules.crawl_delay_s == 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(start_urls=("ftp://x/",), scope=SiteScope(hosts=("x",))), "http(s)"),
    (dict(start_urls=(), scope=SiteScope(hosts=("x",))), "start URL"),
    (dict(start_urls=("http://x/",), scope=SiteScope(hosts=("x",)), max_pages=0), "max_pages"),
])
def test_bad_targets_are_refused_with_one_line(kwargs, message):
    with pytest.raises(InvalidTarget) as info:
        CrawlTarget(site_id=1, crawl_id=1, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_scope_patterns():
    with pytest.raises(InvalidTarget, match="invalid include pattern"):
        SiteScope(hosts=("x",), include=("(",))
    with pytest.raises(InvalidTarget, match="at least one host"):
        SiteScope(hosts=())
    with pytest.raises(InvalidTarget, match="invalid host"):
        SiteScope(hosts=("http://x/",))


async def test_frontier_queue_seen_inflight_and_traps(redis_server_url, key_prefix, redis_client):
    client = aioredis.Redis.from_url(redis_server_url)
    try:
        frontier = RedisFrontier(client, key_prefix, 5)
        assert frontier.k_seen == f"{key_prefix}:crawl:{{5}}:seen"
        items = [QueueItem("http://s/a", "page"), QueueItem("http://s/a#x", "page"),
                 QueueItem("http://s/i.png", "image", 1, "http://s/a", "img")]
        assert await frontier.add(items) == ["added", "seen", "added"]
        trap = [QueueItem(f"http://s/cal?m={i}", "page") for i in range(5)]
        assert await frontier.add(trap, max_query_variants=3) == ["added"] * 3 + ["query_trap"] * 2
        assert await frontier.queue_lengths() == (4, 1)
        [(item, raw)] = await frontier.pop_batch([IMAGES, PAGES], 1)
        assert item == items[2]
        assert await frontier.inflight() == [items[2]]
        assert await frontier.requeue_inflight() == 1
        [(item2, raw2)] = await frontier.pop_batch([IMAGES, PAGES], 1)
        assert item2 == items[2]
        # Marking done rides on the next pop (one round trip).
        batch = await frontier.pop_batch([PAGES], 2, [raw2])
        assert [i.url for i, _ in batch] == ["http://s/a", "http://s/cal?m=0"]
        assert set(await frontier.inflight()) == {i for i, _ in batch}
        await frontier.done_many([r for _, r in batch])
        assert await frontier.inflight() == []
        assert not await frontier.mark_seen("http://s/a") and await frontier.mark_seen("http://s/b")
        await frontier.add_stats({"pages_fetched": 2, "errors:timeout": 1, "duration_s": 1.5})
        stats = await frontier.load_stats()
        assert stats.pages_fetched == 2 and stats.errors["timeout"] == 1
        assert stats.duration_s == 1.5
    finally:
        await client.aclose()


def test_crawl_stats_count_by_group_and_read_back_from_the_stats_hash():
    from spinneret.crawler.tally import StatsTally
    from spinneret.crawler.types import CrawlStats

    tally = StatsTally()
    tally.count("urls_skipped", "robots")
    tally.count("urls_skipped", "robots", 2)
    tally.count("errors", "http_404")
    tally.add("pages_fetched")
    tally.add("duration_s", 0.25)
    deltas = tally.take_deltas()
    # The names stored in Redis stay "group:reason" and the total's name.
    assert deltas == {"urls_skipped:robots": 3, "errors:http_404": 1, "pages_fetched": 1,
                      "duration_s": 0.25}
    assert tally.take_deltas() == {}
    read = CrawlStats.from_fields(deltas)
    assert read.urls_skipped == {"robots": 3} and read.errors == {"http_404": 1}
    assert (read.pages_fetched, read.duration_s) == (1, 0.25)
    copy = read.snapshot()
    copy.count("urls_skipped", "robots")
    assert read.urls_skipped["robots"] == 3, "a snapshot shares no counter with its source"
    assert read.as_dict()["urls_skipped"] == {"robots": 3} and "pages_queued" not in read.as_dict()
    with pytest.raises(ValueError, match="not a crawl total"):
        read.add("urls_skipped")


def test_crawl_settings_defaults_are_the_configs():
    from spinneret.config import Settings
    from spinneret.crawler.types import CrawlSettings

    defaults, config = CrawlSettings(), CrawlSettings.from_settings(Settings(_env_file=None))
    for name in CrawlSettings.__dataclass_fields__:
        if name != "user_agent":  # the config's is a template (contact_url filled in)
            assert getattr(defaults, name) == getattr(config, name), name
    assert config.user_agent.startswith("SpinneretBot/")


async def test_hop_checks_run_in_order_and_only_redirects_are_rechecked(redis_client,
                                                                        redis_server_url,
                                                                        key_prefix):
    from spinneret.crawler.hops import HOP_CHECKS, HopContext, check_robots, hop_checker

    class Robots:  # the robots check's answer is not under test here: record the asks
        asked: list[str] = []

        async def check(self, url):
            self.asked.append(str(url))

    assert HOP_CHECKS[-1] is check_robots
    client = aioredis.Redis.from_url(redis_server_url)
    try:
        frontier = RedisFrontier(client, key_prefix, 9)
        assert await frontier.mark_seen("http://s/seen")
        ctx = HopContext(Scope(SiteScope(hosts=("s",))), frontier, Robots())
        check = hop_checker(ctx, page=True)
        await check(URL("http://s/seen"))  # the queued URL: already checked and seen
        with pytest.raises(SkipUrl) as skipped:
            await check(URL("http://elsewhere/"))  # a redirect off the site
        assert skipped.value.reason == "out_of_scope"
        with pytest.raises(SkipUrl) as skipped:
            await check(URL("http://s/seen"))  # a redirect to a URL already seen
        assert skipped.value.reason == "duplicate"
        await check(URL("http://s/new"))
        assert Robots.asked == ["http://s/seen", "http://s/new"]  # refused hops stop early
    finally:
        await frontier.clear()
        await client.aclose()
