"""Soak: crawl a generated N-page loopback site through the in-process pipeline while the
hash list is re-imported over and over and the API is queried, then check that the counts of
images found, hashed and recorded agree exactly, that exactly the listed images matched, and
that the memory of this process and its hashing children stayed under a bound.

    python bench/soak.py [--pages 10000] [--processes 2] [--rss-limit-mb 2000]

Needs a Redis (SPINNERET_REDIS_URL, else 127.0.0.1:6379 db 15) and writes SQLite into a temp
dir. Not a speed benchmark: the duration is printed for information. tests/fault/test_soak.py
runs a 1,000-page version by default and this one with SPINNERET_SLOW_TESTS=1. Prints a table
and writes bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import platform
import random
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
from aiohttp import web  # noqa: E402
from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from PIL import Image  # noqa: E402

from spinneret.config import Settings  # noqa: E402
from spinneret.matcher.store import ListEntry  # noqa: E402

RESULTS = REPO / "bench" / "results" / "soak.json"
PAGES_PER_INDEX = 100
LISTED = 50
FILLERS = 2000
API_PATHS = ("/api/v1/crawls", "/api/v1/matches?limit=50", "/api/v1/lists", "/api/v1/sites",
             "/metrics", "/healthz")


def image_bytes(n: int) -> bytes:
    """A distinct tiny PNG per n (n is written into the pixels)."""
    image = Image.new("RGB", (32, 32), ((n * 37) % 256, (n * 91) % 256, (n * 13) % 256))
    image.putpixel((0, 0), (n & 0xFF, (n >> 8) & 0xFF, (n >> 16) & 0xFF))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def listed_numbers(pages: int) -> set[int]:
    step = max(1, pages // LISTED)
    return set(range(0, pages, step))


def site_app(pages: int) -> web.Application:
    """/ lists index pages, each index lists PAGES_PER_INDEX pages, each page has one image."""
    indexes = (pages + PAGES_PER_INDEX - 1) // PAGES_PER_INDEX

    async def root(_request: web.Request) -> web.Response:
        links = "".join(f'<a href="/i/{k}.html">{k}</a>' for k in range(indexes))
        return web.Response(text=f"<html><body>{links}</body></html>", content_type="text/html")

    async def index(request: web.Request) -> web.Response:
        k = int(request.match_info["k"])
        first, last = k * PAGES_PER_INDEX, min(pages, (k + 1) * PAGES_PER_INDEX)
        links = "".join(f'<a href="/p/{n}.html">{n}</a>' for n in range(first, last))
        return web.Response(text=f"<html><body>{links}</body></html>", content_type="text/html")

    async def page(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        body = f'<html><head><title>Page {n}</title></head><body><img src="/img/{n}.png"></body>'
        return web.Response(text=body + "</html>", content_type="text/html")

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=image_bytes(int(request.match_info["n"])),
                            content_type="image/png")

    async def robots(_request: web.Request) -> web.Response:
        return web.Response(text="User-agent: *\nAllow: /\n", content_type="text/plain")

    app = web.Application()
    app.router.add_get("/", root)
    app.router.add_get("/robots.txt", robots)
    app.router.add_get(r"/i/{k:\d+}.html", index)
    app.router.add_get(r"/p/{n:\d+}.html", page)
    app.router.add_get(r"/img/{n:\d+}.png", image)
    return app


def list_version(pages: int, version: int) -> list[ListEntry]:
    """The listed images' MD5s (the same every version) and fillers that change each time."""
    entries = [ListEntry("md5", hashlib.md5(image_bytes(n)).hexdigest(), f"soak-{n}")
               for n in sorted(listed_numbers(pages))]
    rnd = random.Random(version)
    entries += [ListEntry("pdq", f"{rnd.getrandbits(256):064x}", f"filler-{version}")
                for _ in range(FILLERS)]
    return entries


@dataclass
class SoakResult:
    pages: int
    processes: int
    duration_s: float = 0.0
    images_served: int = 0
    images_found: int = 0
    images_hashed: int = 0
    images_skipped: int = 0
    events_recorded: int = 0
    distinct_event_urls: int = 0
    matched_images: int = 0
    listed_images: int = 0
    wrong_matches: int = 0
    list_reimports: int = 0
    api_requests: int = 0
    api_failures: int = 0
    peak_rss_mb: float = 0.0
    start_rss_mb: float = 0.0  # this process and its children when the soak began
    rss_limit_mb: float = 0.0  # bounds what the soak added: peak - start
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems()

    @property
    def added_rss_mb(self) -> float:
        """What the crawl, its children and the load added. Not the total: the caller's own
        size (a test run with every module loaded) is not the soak's."""
        return self.peak_rss_mb - self.start_rss_mb

    def problems(self) -> list[str]:
        out = list(self.errors)
        agree = {self.pages, self.images_served, self.images_found, self.images_hashed,
                 self.events_recorded, self.distinct_event_urls}
        if len(agree) != 1:
            out.append("counts disagree: pages, served, found, hashed, recorded, distinct = "
                       f"{self.pages}, {self.images_served}, {self.images_found}, "
                       f"{self.images_hashed}, {self.events_recorded}, "
                       f"{self.distinct_event_urls}")
        if self.images_skipped:
            out.append(f"{self.images_skipped} images skipped")
        if self.matched_images != self.listed_images or self.wrong_matches:
            out.append(f"matched {self.matched_images} of {self.listed_images} listed, "
                       f"{self.wrong_matches} unlisted matched")
        if self.api_failures:
            out.append(f"{self.api_failures} API requests failed")
        if self.list_reimports < 2:
            out.append("the list was not re-imported during the crawl")
        if self.added_rss_mb > self.rss_limit_mb:
            out.append(f"peak RSS {self.peak_rss_mb:.0f} MB, {self.added_rss_mb:.0f} MB over the "
                       f"{self.start_rss_mb:.0f} MB at the start: more than "
                       f"{self.rss_limit_mb:.0f} MB")
        return out


class _RssSampler:
    """Peak resident memory of this process plus its children (the hashing pool)."""

    def __init__(self) -> None:
        self.peak = 0
        self.start = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.peak = max(self.peak, self._sample())

    def __enter__(self) -> _RssSampler:
        self.peak = self.start = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.peak = max(self.peak, self._sample())


async def soak(settings: Settings, pages: int, processes: int = 2,
               rss_limit_mb: float = 2000) -> SoakResult:
    from spinneret.api.app import create_app
    from spinneret.demo.site import serve_on_loopback
    from spinneret.records.images import ImageRecorder
    from spinneret.records.matches import MatchRepository
    from spinneret.records.sites import SiteRepository
    from spinneret.records.tokens import create_token
    from spinneret.records.types import NewSite
    from spinneret.runtime.context import AppContext
    from spinneret.runtime.crawling import run_crawl

    result = SoakResult(pages=pages, processes=processes, rss_limit_mb=rss_limit_mb)
    context = AppContext(settings.model_copy(update={
        "pipeline": "inprocess", "hash_processes": processes, "allow_private_networks": True,
        "per_host_concurrency": 16}))
    store = context.store
    store.replace_list("soak", list_version(pages, 0), source="soak")
    served = set()
    app = site_app(pages)

    @web.middleware
    async def count_images(request, handler):
        if request.path.startswith("/img/"):
            served.add(request.path)
        return await handler(request)

    app.middlewares.append(count_images)
    runner, base_url = await serve_on_loopback(app)
    api = TestClient(TestServer(create_app(context)))
    await api.start_server()
    token = create_token(context.db, "viewer", "soak", actor="soak").secret
    crawling = asyncio.Event()
    crawling.set()
    stop_reimport = threading.Event()

    def reimport() -> None:
        version = 0
        while not stop_reimport.wait(1.0):
            version += 1
            try:
                store.replace_list("soak", list_version(pages, version), source="soak")
                result.list_reimports += 1
            except Exception as exc:  # noqa: BLE001 - reported, and the soak fails
                result.errors.append(f"re-import {version}: {exc}")

    async def query_api() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        n = 0
        while crawling.is_set():
            path = API_PATHS[n % len(API_PATHS)]
            n += 1
            response = await api.get(path, headers=headers)
            await response.read()
            result.api_requests += 1
            if response.status != 200:
                result.api_failures += 1
                result.errors.append(f"GET {path}: {response.status}")
            await asyncio.sleep(0.05)

    started = time.monotonic()
    try:
        SiteRepository(context.db).add(NewSite(
            base_url=base_url, name="soak", owner_email="owner@example.invalid",
            rate_per_s=100_000, max_pages=pages + pages // PAGES_PER_INDEX + 10, max_depth=3))
        reimporter = threading.Thread(target=reimport, daemon=True)
        with _RssSampler() as rss:
            reimporter.start()
            querying = asyncio.create_task(query_api())
            try:
                summary = await run_crawl(context, "soak")
            finally:
                crawling.clear()
                stop_reimport.set()
                await querying
                reimporter.join(timeout=30)
        result.duration_s = time.monotonic() - started
        result.peak_rss_mb = rss.peak / 2**20
        result.start_rss_mb = rss.start / 2**20
        crawl = summary.crawl
        result.images_served = len(served)
        result.images_found = crawl.images_found
        result.images_hashed = crawl.images_hashed
        result.images_skipped = crawl.images_skipped
        events = ImageRecorder(context.db).events(crawl.id)
        result.events_recorded = len(events)
        result.distinct_event_urls = len({event.url for event in events})
        listed = {f"{base_url}img/{n}.png" for n in listed_numbers(pages)}
        matched = {m.image_url for m in MatchRepository(context.db).list(crawl_id=crawl.id,
                                                                          limit=100_000)}
        result.listed_images = len(listed)
        result.matched_images = len(matched & listed)
        result.wrong_matches = len(matched - listed)
    finally:
        await api.close()
        await runner.cleanup()
        context.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rss-limit-mb", type=float, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spinneret-soak-") as data_dir:
        settings = Settings(
            data_dir=Path(data_dir),
            redis_url=os.environ.get("SPINNERET_REDIS_URL", "redis://127.0.0.1:6379/15"),
            redis_key_prefix=f"soak-{uuid.uuid4().hex[:8]}", allow_private_networks=True)
        result = asyncio.run(soak(settings, args.pages, args.processes, args.rss_limit_mb))
        _cleanup(settings)
    rows = [(name, value) for name, value in asdict(result).items() if name != "errors"]
    width = max(len(name) for name, _ in rows)
    print(f"soak on {platform.machine()} with {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}")
    for name, value in rows:
        print(f"{name:<{width}}  {value:.1f}" if isinstance(value, float)
              else f"{name:<{width}}  {value}")
    problems = result.problems()
    print("OK" if not problems else "FAILED: " + "; ".join(problems))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**asdict(result), "ok": not problems,
                                   "problems": problems}, indent=2) + "\n")
    sys.exit(0 if not problems else 1)


def _cleanup(settings: Settings) -> None:
    import redis

    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(match=f"{settings.redis_key_prefix}*", count=1000):
        client.delete(key)
    client.close()


if __name__ == "__main__":
    main()
