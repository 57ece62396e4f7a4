"""Scale-out: two crawler processes share one crawl; four worker processes drain one queue.

Both run real processes (`spinneret crawl`, `spinneret worker`) against the test Redis and
a loopback site; the site's own request log is the witness that nothing is fetched twice.
"""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from aiohttp import web

from crawler.types import FoundImage
from records.crawls import CrawlRepository, image_counts
from records.images import ImageRecorder
from records.sites import SiteRepository
from records.types import NewSite
from spinneret.context import AppContext
from spinneret.demo.images import generate
from spinneret.demo.site import serve_on_loopback
from tests.worker_helpers import WorkerProcess, worker_env
from worker.celery_app import configure
from worker.sink import build_payload
from worker.tasks import hash_and_match

GALLERIES = 16
IMAGES_PER_GALLERY = 3


def _png(seed: int) -> bytes:
    buffer = io.BytesIO()
    generate(seed, (96, 72)).save(buffer, "PNG")
    return buffer.getvalue()


class LoggedSite:
    """A loopback site in a thread, logging (path, user agent) of every request. The start
    page is held until two crawler processes hold a lease on the crawl, so they share it."""

    def __init__(self, redis_client, prefix: str) -> None:
        self.requests: list[tuple[str, str]] = []
        self.images = {f"/img/{g}-{i}.png": _png(1000 + g * 10 + i)
                       for g in range(GALLERIES) for i in range(IMAGES_PER_GALLERY)}
        self._redis = redis_client
        self._prefix = prefix
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.url = ""

    def _two_crawlers(self) -> bool:
        for key in self._redis.scan_iter(match=f"{self._prefix}:crawl:*:owners"):
            if self._redis.hlen(key) >= 2:
                return True
        return False

    def app(self) -> web.Application:
        @web.middleware
        async def log(request: web.Request, handler):
            self.requests.append((request.path, request.headers.get("User-Agent", "")))
            await asyncio.sleep(0.03)  # slow enough that both crawlers get work
            return await handler(request)

        async def index(_: web.Request) -> web.Response:
            deadline = time.monotonic() + 30
            while not await asyncio.to_thread(self._two_crawlers):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
            links = "".join(f'<a href="/g/{g}.html">{g}</a>' for g in range(GALLERIES))
            return web.Response(text=f"<html><body>{links}</body></html>",
                                content_type="text/html")

        async def gallery(request: web.Request) -> web.Response:
            g = int(request.match_info["n"])
            imgs = "".join(f'<img src="/img/{g}-{i}.png">' for i in range(IMAGES_PER_GALLERY))
            nav = f'<a href="/g/{(g + 1) % GALLERIES}.html">next</a><a href="/">home</a>'
            return web.Response(text=f"<html><body>{imgs}{nav}</body></html>",
                                content_type="text/html")

        async def image(request: web.Request) -> web.Response:
            return web.Response(body=self.images[request.path], content_type="image/png")

        async def robots(_: web.Request) -> web.Response:
            return web.Response(text="User-agent: *\nDisallow:\n")

        app = web.Application(middlewares=[log])
        app.router.add_get("/", index)
        app.router.add_get("/g/{n:\\d+}.html", gallery)
        app.router.add_get("/img/{name}", image)
        app.router.add_get("/robots.txt", robots)
        return app

    def __enter__(self) -> LoggedSite:
        self._thread.start()
        self._runner, self.url = asyncio.run_coroutine_threadsafe(
            serve_on_loopback(self.app()), self._loop).result(10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture
def context(settings) -> Iterator[AppContext]:
    ctx = AppContext(settings)
    _ = ctx.db
    yield ctx
    ctx.close()


def test_two_crawler_processes_share_one_crawl_and_fetch_nothing_twice(context, redis_client):
    settings = context.settings
    with LoggedSite(redis_client, settings.redis_key_prefix) as site:
        SiteRepository(context.db).add(NewSite(
            base_url=site.url, name="shared", owner_email="o@example.invalid", rate_per_s=1000))
        procs = []
        for name in ("A", "B"):
            env = worker_env(settings, SPINNERET_USER_AGENT=f"SpinneretBot-{name}",
                             SPINNERET_ALLOW_PRIVATE_NETWORKS="true",
                             SPINNERET_HASH_PROCESSES="1", SPINNERET_CRAWL_CONCURRENCY="2",
                             SPINNERET_PER_HOST_CONCURRENCY="2")
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "spinneret", "crawl", "shared"], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
        try:
            outputs = [p.communicate(timeout=120)[0] for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    assert [p.returncode for p in procs] == [0, 0], outputs

    crawls = CrawlRepository(context.db).list(limit=10)
    assert len(crawls) == 1 and crawls[0].status == "finished", "one crawl, shared"
    fetched = Counter(path for path, _ in site.requests if path != "/robots.txt")
    twice = {path: n for path, n in fetched.items() if n > 1}
    assert not twice, f"fetched more than once: {twice}"
    assert set(fetched) == {"/", *(f"/g/{g}.html" for g in range(GALLERIES)), *site.images}
    agents = Counter(agent.split("/", 1)[0] for path, agent in site.requests
                     if path != "/robots.txt")
    assert agents["SpinneretBot-A"] and agents["SpinneretBot-B"], f"both crawled: {agents}"

    events = ImageRecorder(context.db).events(crawls[0].id)
    urls = [event.url.split("/", 3)[3] for event in events]
    assert sorted(urls) == sorted(path.lstrip("/") for path in site.images), "each image once"
    assert crawls[0].images_hashed == len(site.images)
    assert not redis_client.keys(f"{settings.redis_key_prefix}:crawl:*"), "frontier cleared"
    print(f"\ntwo crawlers: requests by agent {dict(agents)}")


def test_four_workers_drain_one_queue_recording_each_image_once(context, tmp_path):
    settings = context.settings
    celery_app = configure(settings, context.redis_url)
    site = SiteRepository(context.db).add(NewSite(
        base_url="http://images.example.invalid/", name="drain", owner_email="o@example.invalid"))
    crawl = CrawlRepository(context.db).create(site.id)
    total = 48
    workers = [WorkerProcess.start(settings, tmp_path / f"w{n}.log", concurrency=1)
               for n in range(4)]
    try:
        for worker in workers:
            worker.wait_ready(celery_app, timeout_s=90)
        for n in range(total):
            found = FoundImage(
                url=f"http://images.example.invalid/{n}.png", page_url="http://x.invalid/",
                data=_png(n), content_type="image/png", site_id=site.id, crawl_id=crawl.id,
                via="img")
            hash_and_match.apply_async(args=[build_payload(found, settings, context.redis)])
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with context.db.session() as session:
                hashed, skipped, _ = image_counts(session, crawl.id)
            if hashed + skipped >= total:
                break
            time.sleep(0.2)
    finally:
        for worker in workers:
            worker.stop()
    events = ImageRecorder(context.db).events(crawl.id)
    urls = [event.url for event in events]
    assert len(urls) == total and len(set(urls)) == total, "every image recorded exactly once"
    busy = [w for w in workers if "succeeded" in w.log_path.read_text(errors="replace")]
    assert len(busy) >= 2, "the queue was shared between worker processes"
    print(f"\nfour workers: {len(busy)} of them took tasks; {total} images recorded once each")

