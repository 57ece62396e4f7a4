"""Scale-out: two crawler processes share one crawl; four worker processes drain one queue.

Both run real processes (`spinneret crawl`, `spinneret worker`) against the test Redis and
a loopback site; the site's own request log is the witness that nothing is fetched twice.
"""

from __future__ import annotations

import asyncio
import io
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from aiohttp import web

from spinneret.crawler.types import FoundImage
from spinneret.demo.images import generate
from spinneret.demo.site import serve_on_loopback
from spinneret.matcher.store import ListEntry
from spinneret.records.crawls import CrawlRepository, image_counts
from spinneret.records.images import ImageRecorder
from spinneret.records.sites import SiteRepository
from spinneret.records.types import NewSite
from spinneret.runtime.celery_app import configure
from spinneret.runtime.context import AppContext
from spinneret.runtime.sink import build_payload
from spinneret.worker.tasks import hash_and_match
from tests.conftest import report
from tests.worker_helpers import WorkerProcess, worker_env

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
    report(f"two crawlers: requests by agent {dict(agents)}")


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
    report(f"four workers: {len(busy)} of them took tasks; {total} images recorded once each")



async def _scrape(context, token: str) -> dict[tuple[str, tuple], float]:
    """The API's /metrics, scraped through the real app like Prometheus does."""
    from aiohttp.test_utils import TestClient, TestServer
    from prometheus_client.parser import text_string_to_metric_families

    from spinneret.api.app import create_app

    client = TestClient(TestServer(create_app(context)))
    await client.start_server()
    try:
        response = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200
        text = await response.text()
    finally:
        await client.close()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _workers(metrics: dict) -> dict[str, tuple[float, float]]:
    """worker id -> (index version, index entries)."""
    versions = {dict(labels)["worker"]: value for (name, labels), value in metrics.items()
                if name == "spinneret_worker_index_version"}
    return {worker: (version, metrics[("spinneret_worker_index_entries",
                                       (("worker", worker),))])
            for worker, version in versions.items()}


async def test_worker_heartbeats_export_each_index_version_and_expire(context, tmp_path):
    from spinneret.records.tokens import create_token

    pdqs = [f"{random.Random(n).getrandbits(256):064x}" for n in range(3)]
    md5s = [f"{random.Random(n).getrandbits(128):032x}" for n in range(4)]
    settings = context.settings
    token = create_token(context.db, "viewer", "prometheus", actor="test").secret
    store = context.store
    store.replace_list("first", [ListEntry("pdq", h, "x", f"p{i}") for i, h in enumerate(pdqs)])
    celery_app = configure(settings, context.redis_url)
    # A beats every 0.5 s (expires after 1.5 s); B every 10 s: only its goodbye removes it fast.
    workers = [WorkerProcess.start(settings, tmp_path / "a.log", concurrency=2,
                                   SPINNERET_WORKER_HEARTBEAT_S="0.5"),
               WorkerProcess.start(settings, tmp_path / "b.log", concurrency=1,
                                   SPINNERET_WORKER_HEARTBEAT_S="10")]

    async def wait_for(condition, what: str, timeout_s: float = 30) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            metrics = await _scrape(context, token)
            if condition(metrics):
                return metrics
            assert time.monotonic() < deadline, f"{what}: {metrics}"
            await asyncio.sleep(0.2)

    def at(version: int, entries: int, live: int):
        return lambda m: (m[("spinneret_store_version", ())] == version
                          and m[("spinneret_workers_live", ())] == live
                          and set(_workers(m).values()) == {(version, entries)})

    try:
        for worker in workers:
            await asyncio.to_thread(worker.wait_ready, celery_app, 90)
        first = store.version()
        metrics = await wait_for(at(first, 3, 3), "three worker processes at the store version")
        ids = set(_workers(metrics))
        assert len(ids) == 3 and all("/" in worker for worker in ids), ids

        store.replace_list("second", [ListEntry("md5", h, "y", f"m{i}")
                                      for i, h in enumerate(md5s)])
        started = time.monotonic()
        await wait_for(at(store.version(), 7, 3), "every index follows the new list", 5)
        followed_s = time.monotonic() - started

        workers[0].kill_hard()  # no goodbye: its two heartbeats expire (3 x 0.5 s)
        metrics = await wait_for(at(store.version(), 7, 1), "a killed worker drops out", 10)
        assert set(_workers(metrics)) < ids
        await asyncio.to_thread(workers[1].stop)  # a clean stop removes its heartbeat
        await wait_for(lambda m: m[("spinneret_workers_live", ())] == 0, "stopped", 3)
    finally:
        for worker in workers:
            worker.stop()
    report(f"worker heartbeats: indexes at the new store version {followed_s:.2f} s after it")
