"""SSRF guard (issue 18 item 5, issue 16 "SSRF", issue 19 item 4): every spelling of a
refused address is refused as `ssrf_blocked` before any request; IPv6 forms that embed a
refused IPv4 address are refused; SPINNERET_ALLOWED_NETWORKS opens one network only; the
refusal names the settings that open it; `sites add` warns."""

from __future__ import annotations

import json

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from spinneret.config import Settings
from spinneret.config.netpolicy import NetworkPolicy
from spinneret.crawler import Crawler, CrawlSettings, CrawlTarget, RedisFrontier, SsrfBlocked
from spinneret.crawler.ssrf import SsrfPolicy, StaticResolver
from spinneret.runtime.crawling import START_REASONS

# Each embeds (or is) a refused IPv4 address.
REFUSED_IPV6 = [
    "2002:a9fe:a9fe::",  # 6to4 of 169.254.169.254 (the cloud metadata address)
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "::a9fe:a9fe",  # IPv4-compatible ::169.254.169.254
    "::127.0.0.1",  # IPv4-compatible, dotted
    "::ffff:169.254.169.254",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "2001:0:a9fe:a9fe::1",  # Teredo, server 169.254.169.254
    "64:ff9b:1::a9fe:a9fe",  # local-use NAT64 prefix (RFC 8215)
]
ALLOWED_IPV6 = ["2002:808:808::1", "64:ff9b::808:808", "2606:4700:4700::1111"]


@pytest.mark.parametrize("address", REFUSED_IPV6)
def test_ipv6_forms_of_refused_ipv4_addresses_are_refused(address):
    policy = SsrfPolicy()
    assert not policy.address_allowed(address)
    with pytest.raises(SsrfBlocked, match="SPINNERET_ALLOW_PRIVATE_NETWORKS"):
        policy.check_url(f"http://[{address}]/latest/meta-data/")


@pytest.mark.parametrize("address", ALLOWED_IPV6)
def test_ipv6_forms_of_public_ipv4_addresses_stay_allowed(address):
    assert SsrfPolicy().address_allowed(address)


# The legacy spellings getaddrinfo reads as IPv4: each is 127.0.0.1 (or 10.0.0.1).
LEGACY_FORMS = ["127.1", "2130706433", "0177.0.0.1", "0x7f.1", "0x7f000001", "127.0.1",
                "0177.1", "012.0.0.1", "167772161"]


@pytest.mark.parametrize("host", LEGACY_FORMS)
def test_legacy_ipv4_spellings_are_ip_literals_refused_by_the_guard(host):
    with pytest.raises(SsrfBlocked) as refused:
        SsrfPolicy().check_url(f"http://{host}/")
    assert refused.value.reason == "ssrf_blocked"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://127.0.0.1:6379/_INFO",
                                 "ftp://example.org/x", "dict://127.0.0.1:11211/stat",
                                 "javascript:alert(1)", "http:///nohost"])
def test_only_http_and_https_with_a_host(url):
    with pytest.raises(SsrfBlocked):
        SsrfPolicy(allow_private=True).check_url(url)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1",
                                     "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1",
                                     "fe80::1", "fc00::1", "224.0.0.1", "255.255.255.255"])
def test_private_loopback_link_local_and_reserved_are_refused(address):
    assert not NetworkPolicy().address_allowed(address)


def test_allowed_networks_open_one_network_and_nothing_else():
    policy = NetworkPolicy(allowed_networks=["10.20.0.0/16"])
    assert policy.address_allowed("10.20.3.4")
    assert policy.address_allowed("::ffff:10.20.3.4")
    assert not policy.address_allowed("10.21.0.1")
    assert not policy.address_allowed("127.0.0.1")
    assert not policy.address_allowed("169.254.169.254")


def test_allowed_networks_is_a_setting(monkeypatch):
    monkeypatch.setenv("SPINNERET_ALLOWED_NETWORKS", "10.20.0.0/16, 127.0.0.2")
    settings = Settings()
    assert settings.allowed_networks == ["10.20.0.0/16", "127.0.0.2/32"]
    assert CrawlSettings.from_settings(settings).allowed_networks == ("10.20.0.0/16",
                                                                       "127.0.0.2/32")
    assert NetworkPolicy.from_settings(settings).address_allowed("127.0.0.2")
    assert not NetworkPolicy.from_settings(settings).address_allowed("127.0.0.1")


def test_a_bad_allowed_network_is_one_clear_line(cli, monkeypatch):
    monkeypatch.setenv("SPINNERET_ALLOWED_NETWORKS", "10.0.0.0/8,intranet")
    from spinneret.config import reset_settings_cache

    reset_settings_cache()
    code, out, err = cli("config", "show")
    assert code != 0
    assert "'intranet' is not a network" in err + out
    assert "Traceback" not in err + out


def test_the_refusal_names_the_settings_that_open_it():
    with pytest.raises(SsrfBlocked) as refused:
        SsrfPolicy().check_url("http://10.0.0.5/")
    assert "SPINNERET_ALLOWED_NETWORKS" in str(refused.value)
    assert "SPINNERET_ALLOW_PRIVATE_NETWORKS" in str(refused.value)
    assert "SPINNERET_ALLOW_PRIVATE_NETWORKS" in START_REASONS["ssrf_blocked"]


# --- whole crawls against a loopback server: nothing reaches it ----------------------------
async def _server(host: str, content: dict) -> TestServer:
    """Serves content["page"] at "/", redirects /r/<i> to content["redirects"][i], records
    every request."""
    hits: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hits.append(request.path_qs)
        if request.path.startswith("/r/"):
            raise web.HTTPFound(content["redirects"][int(request.path.split("/")[2])])
        if request.path == "/":
            return web.Response(text=content["page"], content_type="text/html")
        return web.Response(text="internal secret", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    server = TestServer(app, host=host)
    await server.start_server()
    server.hits = hits
    return server


@pytest.fixture
async def internal():
    server = await _server("127.0.0.1", {"page": "<html><body>intranet home</body></html>"})
    yield server
    await server.close()


async def _crawl(url: str, settings: CrawlSettings, prefix: str, redis_url: str,
                 resolver=None):
    client = aioredis.Redis.from_url(redis_url)
    frontier = RedisFrontier(client, prefix, 1)

    class Sink:
        async def submit(self, image) -> None:
            pass

        def needs_backout(self) -> bool:
            return False

    try:
        target = CrawlTarget.for_url(url, site_id=1, crawl_id=1, ignore_robots=True)
        return await Crawler(target, settings, frontier, Sink(), resolver=resolver).run()
    finally:
        await frontier.clear()
        await client.aclose()


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0177.0.0.1", "0x7f.1"])
async def test_a_legacy_spelling_start_url_is_ssrf_blocked_without_a_request(
        internal, host, key_prefix, redis_server_url):
    stats = await _crawl(f"http://{host}:{internal.port}/", CrawlSettings(max_retries=0),
                         key_prefix, redis_server_url)
    assert internal.hits == []
    assert dict(stats.start_skipped) == {"ssrf_blocked": 1}
    assert dict(stats.urls_skipped) == {"ssrf_blocked": 1}


async def test_links_redirects_and_names_to_internal_addresses_are_never_fetched(
        internal, key_prefix, redis_server_url):
    port = internal.port
    internal_forms = [f"http://127.1:{port}/a", f"http://2130706433:{port}/b",
                      f"http://[::ffff:127.0.0.1]:{port}/c", f"http://[::1]:{port}/d",
                      f"http://intranet.test:{port}/e", f"http://0x7f.1:{port}/f",
                      f"http://[2002:7f00:1::]:{port}/g", f"http://0177.0.0.1:{port}/h"]
    content: dict = {}
    public = await _server("127.0.0.2", content)  # stands for a public site (allowed below)
    links = "".join(f'<a href="{u}">x</a><img src="{u}.png">' for u in internal_forms)
    content["redirects"] = internal_forms + [u + ".png" for u in internal_forms]
    n = len(internal_forms)
    redirects = "".join(f'<a href="/r/{i}">r</a><img src="/r/{n + i}">' for i in range(n))
    content["page"] = (f"<html><body>{links}{redirects}"
                       "<a href='file:///etc/passwd'>f</a></body></html>")
    resolver = StaticResolver({"public.test": ["127.0.0.2"], "intranet.test": ["127.0.0.1"]})
    settings = CrawlSettings(allowed_networks=("127.0.0.2/32",), max_retries=0)
    try:
        stats = await _crawl(f"http://public.test:{public.port}/", settings, key_prefix,
                             redis_server_url, resolver=resolver)
    finally:
        await public.close()
    assert internal.hits == []  # not one request reached the internal server
    assert stats.pages_fetched == 1 and len(public.hits) == 2 + 2 * n  # /, robots.txt, /r/*
    # Images (direct, and redirected): all refused by the guard, the name at resolution.
    # (The redirect to the name's image is the URL already refused: a duplicate.)
    assert stats.images_skipped == {"ssrf_blocked": 2 * n - 1, "duplicate": 1}, \
        json.dumps(stats.as_dict())
    # Pages: off-site links are out of scope; redirects refused by the guard at the hop
    # (the name, which passes the literal check, by the scope check after it).
    assert stats.urls_skipped["ssrf_blocked"] == n - 1, json.dumps(stats.as_dict())
    assert stats.urls_skipped["out_of_scope"] == n + 1, json.dumps(stats.as_dict())


async def test_allowed_networks_let_one_intranet_site_be_crawled(
        internal, key_prefix, redis_server_url):
    strict = CrawlSettings(max_retries=0)
    stats = await _crawl(f"http://127.0.0.1:{internal.port}/", strict, key_prefix,
                         redis_server_url)
    assert stats.pages_fetched == 0 and internal.hits == []
    opened = CrawlSettings.from_settings(
        Settings(allowed_networks=["127.0.0.1/32"]), max_retries=0)
    stats = await _crawl(f"http://127.0.0.1:{internal.port}/", opened, key_prefix,
                         redis_server_url)
    assert stats.pages_fetched == 1 and internal.hits == ["/robots.txt", "/"]


def test_sites_add_warns_on_a_url_the_crawler_will_refuse(cli, monkeypatch):
    from spinneret.config import reset_settings_cache

    monkeypatch.setenv("SPINNERET_ALLOW_PRIVATE_NETWORKS", "false")
    reset_settings_cache()
    code, out, err = cli("sites", "add", "http://10.1.2.3/", "--name", "intranet",
                         "--owner-email", "owner@example.org")
    assert code == 0, err
    assert "warning" in err and "10.1.2.3" in err
    assert "SPINNERET_ALLOWED_NETWORKS" in err and "SPINNERET_ALLOW_PRIVATE_NETWORKS" in err
    code, out, err = cli("sites", "add", "http://192.0.2.10/", "--name", "intranet2",
                         "--owner-email", "owner@example.org")
    assert code == 0 and "warning" in err  # TEST-NET-1 is reserved, not public
    monkeypatch.setenv("SPINNERET_ALLOWED_NETWORKS", "10.0.0.0/8")
    reset_settings_cache()
    code, out, err = cli("sites", "add", "http://10.9.9.9/", "--name", "intranet3",
                         "--owner-email", "owner@example.org")
    assert code == 0 and "warning" not in err
