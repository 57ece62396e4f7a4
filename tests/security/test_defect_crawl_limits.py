"""Issue 18 items 1 and 3 (and issue 16: a crawled site cannot exhaust the crawler's memory):
gzip bombs and link floods from a hostile site on loopback.

Each crawl runs in a child process (this module run as a script), so its peak memory is its
own: the test reads the child's max RSS. The bombs are small (a few hundred KB compressed)
against small caps: the test proves the caps, not the machine's memory.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import resource
import sys
import uuid
import zlib
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.conftest import report

ROOT = Path(__file__).resolve().parents[2]
PEAK_RSS_LIMIT_MB = 300
CHILD_TIMEOUT_S = 240  # a hang guard, not a performance bound
# The child's address space is capped too, so that a crawler without the caps fails this
# test with a MemoryError instead of taking the (shared) machine's memory.
CHILD_ADDRESS_SPACE_BYTES = 3 << 30


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE_BYTES, CHILD_ADDRESS_SPACE_BYTES))


def gzip_zeros(n_bytes: int) -> bytes:
    """gzip of n_bytes zeros, made without holding them in memory (~1000:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(n_bytes >> 20)]
    parts += [compressor.compress(bytes(n_bytes & ((1 << 20) - 1))), compressor.flush()]
    return b"".join(parts)


def png_bytes() -> bytes:
    from tests.sites import png_bytes as make

    return make(3)


# --- the child: one crawl, stats and peak memory as JSON on stdout ---------------------
async def _child(config: dict) -> dict:
    import redis.asyncio as aioredis

    from spinneret.crawler import Crawler, CrawlSettings, CrawlTarget, RedisFrontier

    class CountingSink:
        def __init__(self) -> None:
            self.images: list[tuple[str, int]] = []

        async def submit(self, image) -> None:
            self.images.append((image.url, len(image.data)))

        def needs_backout(self) -> bool:
            return False

    known = CrawlSettings.__dataclass_fields__  # (run against older code: what it has)
    settings = CrawlSettings(allow_private_networks=True, default_rate_per_s=1000,
                             per_host_concurrency=8, crawl_concurrency=8, max_retries=0,
                             fetch_timeout_s=60, redis_key_prefix=config["prefix"],
                             **{k: v for k, v in config.get("settings", {}).items()
                                if k in known})
    client = aioredis.Redis.from_url(config["redis_url"])
    frontier = RedisFrontier(client, config["prefix"], config["crawl_id"])
    sink = CountingSink()
    target = CrawlTarget.for_url(config["url"], site_id=1, crawl_id=config["crawl_id"],
                                 max_pages=config.get("max_pages", 50),
                                 ignore_robots=config.get("ignore_robots", False))
    try:
        stats = await Crawler(target, settings, frontier, sink).run()
    finally:
        await frontier.clear()
        await client.aclose()
    return {"stats": stats.as_dict(), "images": sink.images,
            "maxrss_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """This process's peak RSS since its exec (VmHWM). Not ru_maxrss: Linux keeps that across
    execve, so a child of a large test process would report its parent's size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_child(config: dict) -> dict:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.security.test_defect_crawl_limits", json.dumps(config),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=_limit_memory,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), CHILD_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"the crawl did not end within {CHILD_TIMEOUT_S}s (hangs 'running')")
    assert proc.returncode == 0, err.decode()[-3000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    report(f"{config['url']}: crawl process peak RSS {result['maxrss_mb']:.0f} MB "
           f"(limit {PEAK_RSS_LIMIT_MB} MB)")
    return result


# --- the hostile site --------------------------------------------------------------------
async def serve(routes: dict[str, web.Response | bytes]) -> TestServer:
    async def handler(request: web.Request) -> web.StreamResponse:
        made = routes.get(request.path)
        if made is None:
            raise web.HTTPNotFound()
        return made() if callable(made) else made

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


def gzipped(body: bytes, content_type: str) -> callable:
    # aiohttp sets Content-Length (of the compressed body): the case that was not capped.
    return lambda: web.Response(body=body, content_type=content_type,
                                headers={"Content-Encoding": "gzip"})


def plain(body: bytes | str, content_type: str = "text/html") -> callable:
    data = body.encode() if isinstance(body, str) else body
    return lambda: web.Response(body=data, content_type=content_type)


@pytest.fixture
def child_config(redis_server_url, key_prefix) -> dict:
    return {"redis_url": redis_server_url, "prefix": key_prefix,
            "crawl_id": int(uuid.uuid4().int % 1_000_000)}


CAP = 2 * 1024 * 1024
BOMB = 256 * 1024 * 1024  # 256 MiB of zeros in about 250 KB


async def test_gzip_bombs_stop_at_the_cap_for_pages_images_css_and_sitemaps(child_config):
    bomb = gzip_zeros(BOMB)
    index = ('<html><head><link rel="stylesheet" href="/bomb.css"></head><body>'
             '<a href="/bomb.html">bomb</a> <a href="/ratio.html">ratio</a>'
             '<img src="/bomb.png"><img src="/ok.png"></body></html>')
    routes = {
        "/": plain(index),
        "/bomb.html": gzipped(bomb, "text/html"),
        "/bomb.png": gzipped(bomb, "image/png"),
        "/bomb.css": gzipped(bomb, "text/css"),
        # A .xml.gz file: gzip inside the body, no Content-Encoding.
        "/sitemap.xml.gz": plain(bomb, "application/gzip"),
        # Within the byte cap, past the ratio: 1.5 MiB of zeros from 1.5 KB.
        "/ratio.html": gzipped(gzip_zeros(3 << 19), "text/html"),
        "/ok.png": plain(png_bytes(), "image/png"),
    }
    server = await serve(routes)
    base = f"http://127.0.0.1:{server.port}"
    routes["/robots.txt"] = plain(f"User-agent: *\nAllow: /\nSitemap: {base}/sitemap.xml.gz\n",
                                  "text/plain")
    try:
        result = await run_child({**child_config, "url": base + "/",
                                  "settings": {"max_response_bytes": CAP}})
    finally:
        await server.close()
    stats = result["stats"]
    assert result["maxrss_mb"] < PEAK_RSS_LIMIT_MB, result
    assert stats["finished"]
    # page, ratio page, image, stylesheet, sitemap: each refused as too_large
    assert stats["errors"].get("too_large") == 5, json.dumps(stats)
    assert stats["images_skipped"].get("too_large") == 1, stats
    assert stats["urls_skipped"].get("too_large") == 4, stats
    assert "not_image" not in stats["images_skipped"]
    # The crawl went on: the good image was handed on, whole.
    assert result["images"] == [[base + "/ok.png", len(png_bytes())]]


async def test_a_robots_txt_bomb_is_too_large_not_a_memory_blow_up(child_config):
    server = await serve({
        "/": plain('<a href="/a.html">a</a>'),
        "/robots.txt": gzipped(gzip_zeros(BOMB), "text/plain"),
    })
    try:
        result = await run_child({**child_config, "url": f"http://127.0.0.1:{server.port}/"})
    finally:
        await server.close()
    stats = result["stats"]
    assert result["maxrss_mb"] < PEAK_RSS_LIMIT_MB, result
    assert stats["finished"] and stats["errors"].get("too_large") == 1, stats
    # Unreadable robots.txt disallows the site (RFC 9309), and the crawl says so.
    assert stats["start_skipped"] == {"robots_unreachable": 1}, stats


async def test_the_recheck_fetch_caps_a_bomb_too():
    from spinneret.crawler.conditional import ConditionalFetcher
    from spinneret.notices.recheck import verdict

    server = await serve({"/bomb.png": gzipped(gzip_zeros(BOMB), "image/png")})
    try:
        async with ConditionalFetcher(allow_private=True, timeout_s=30, max_bytes=CAP,
                                      max_redirects=2, user_agent="test") as fetcher:
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            result = await fetcher.fetch(f"http://127.0.0.1:{server.port}/bomb.png",
                                         etag=None, last_modified=None)
            grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    finally:
        await server.close()
    assert result.body is None and "too_large" in (result.error or ""), result
    assert grown_mb < 64, grown_mb  # the cap (2 MiB) plus buffers, not the 256 MiB bomb
    # "Cannot tell": the item stays open, it is neither present nor removed.
    assert verdict(result, previous="open", evidence=None,
                   still_matches=lambda body, evidence: True) == ("unknown", None)


def test_ordinary_gzip_bodies_still_decode():
    from spinneret.crawler.body import decode_bounded

    page = b"<html>" + b"<p>hello</p>" * 1000 + b"</html>"
    assert decode_bounded(gzip.compress(page), "u", max_bytes=CAP, max_ratio=200) == page
    two_members = gzip.compress(b"a" * 10) + gzip.compress(b"b" * 10)
    assert decode_bounded(two_members, "u", max_bytes=CAP, max_ratio=200) == b"a" * 10 + b"b" * 10


N_LINKS = 1_000_000
N_IMAGES = 200_000


async def test_a_page_with_a_million_links_is_bounded_and_the_crawl_ends(child_config):
    links = "".join(f'<a href="/p{i}">x</a>' for i in range(N_LINKS))
    images = "".join(f'<img src="/i{i}.png">' for i in range(N_IMAGES))
    flood = f"<html><body>{images}{links}</body></html>".encode()

    def small_page() -> web.Response:
        return web.Response(text="<html><body>a page</body></html>", content_type="text/html")

    routes: dict = {"/": plain(flood), "/robots.txt": plain("", "text/plain")}
    routes.update({f"/p{i}": small_page for i in range(200)})
    server = await serve(routes)
    try:
        result = await run_child({**child_config, "url": f"http://127.0.0.1:{server.port}/",
                                  "max_pages": 50,
                                  "settings": {"max_response_bytes": 64 << 20,
                                               "max_images_per_page": 50}})
    finally:
        await server.close()
    stats = result["stats"]
    assert result["maxrss_mb"] < PEAK_RSS_LIMIT_MB, result
    assert stats["finished"] and stats["pages_fetched"] == 50, stats
    # 10,000 links taken (the default max_links_per_page), every other one counted.
    assert stats["urls_skipped"]["too_many_links"] == N_LINKS - 10_000, stats
    assert stats["images_skipped"]["too_many_images"] == N_IMAGES - 50, stats
    assert stats["images_found"] == 50
    # Pages past max_pages are counted, not fetched.
    assert stats["urls_skipped"]["max_pages"] == 10_000 - 49, stats


async def test_an_endless_stylesheet_import_chain_ends(child_config):
    def css(request_path: str):
        n = int(request_path.rsplit("/", 1)[1].split(".")[0])
        return plain(f'@import "/c/{n + 1}.css"; body {{ background: url(/c/{n}.png) }}',
                     "text/css")

    routes: dict = {"/": plain('<link rel="stylesheet" href="/c/0.css">'),
                    "/robots.txt": plain("", "text/plain")}
    routes.update({f"/c/{n}.css": css(f"/c/{n}.css") for n in range(100)})
    server = await serve(routes)
    try:
        result = await run_child({**child_config, "url": f"http://127.0.0.1:{server.port}/",
                                  "max_pages": 5})
    finally:
        await server.close()
    stats = result["stats"]
    assert stats["finished"] and stats["urls_skipped"]["max_pages"] == 1, stats
    assert stats["images_found"] == 5  # one per stylesheet fetched: 5 of an endless chain


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_child(json.loads(sys.argv[1])))))
