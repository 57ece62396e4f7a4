"""The crawl-to-match pipeline through a real Celery worker process and a real Redis.

No eager mode: tasks cross the broker to `spinneret worker` processes.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from aiohttp import web

from spinneret.crawler.types import FoundImage
from spinneret.demo.run import demo_list_entries
from spinneret.demo.site import build_demo_site
from spinneret.matcher.hashing import hash_image
from spinneret.matcher.store import ListEntry
from spinneret.records.crawls import CrawlRepository, image_counts
from spinneret.records.images import ImageRecorder
from spinneret.records.matches import MatchRepository
from spinneret.records.sites import SiteRepository
from spinneret.records.types import NewSite
from spinneret.runtime.celery_app import configure
from spinneret.runtime.context import AppContext
from spinneret.runtime.ledger import TaskLedger
from spinneret.runtime.sink import build_payload, send_image_task
from spinneret.worker.tasks import hash_and_match
from tests.conftest import report
from tests.worker_helpers import WorkerProcess, crawl_on_loopback, photo_jpeg


@pytest.fixture
def pipeline_settings(settings):
    return settings.model_copy(update={
        "pipeline": "celery", "allow_private_networks": True,
        "index_sync_interval_s": 0.2, "broker_visibility_timeout_s": 4.0,
    })


@pytest.fixture
def context(pipeline_settings):
    ctx = AppContext(pipeline_settings)
    _ = ctx.db
    yield ctx
    ctx.close()


@pytest.fixture
def celery_app(context):
    return configure(context.settings, context.redis_url)


@pytest.fixture
def worker(context, celery_app, tmp_path):
    proc = WorkerProcess.start(context.settings, tmp_path / "worker.log", concurrency=2)
    proc.wait_ready(celery_app)
    yield proc
    proc.stop()



def _add_site(context: AppContext, base_url: str, name: str = "testsite"):
    return SiteRepository(context.db).add(NewSite(
        base_url=base_url, name=name, owner_email="owner@example.invalid", rate_per_s=1000,
    ))


def test_crawl_finds_every_listed_image_and_flags_no_unlisted(context, worker):
    context.store.replace_list("demo-authority", demo_list_entries(), source="demo")
    site = build_demo_site(unlisted=200, unlisted_size=(320, 240))

    summary = crawl_on_loopback(context, site.app())
    assert summary.crawl.status == "finished"
    assert summary.crawl.images_hashed == len(site.images) == 220

    matches = MatchRepository(context.db).list(crawl_id=summary.crawl.id, limit=10_000)
    flagged_paths = {m.image_url.split("127.0.0.1", 1)[1].split("/", 1)[1] for m in matches}
    listed_paths = {image.path.lstrip("/") for image in site.listed}
    assert flagged_paths == listed_paths, "every listed image found, no unlisted one flagged"
    assert {m.decision for m in matches} <= {"auto", "review"}


def test_worker_killed_mid_batch_every_image_recorded_exactly_once(
    context, celery_app, tmp_path
):
    site = _add_site(context, "http://images.example.invalid/")
    crawl = CrawlRepository(context.db).create(site.id)
    images = [photo_jpeg(seed) for seed in range(4)]
    total = 24
    ledger = TaskLedger(context.redis, context.settings.redis_key_prefix)
    first = WorkerProcess.start(context.settings, tmp_path / "w1.log", concurrency=2)
    first.wait_ready(celery_app)
    for n in range(total):
        found = FoundImage(
            url=f"http://images.example.invalid/{n}.jpg", page_url="http://images.example.invalid/",
            data=images[n % len(images)], content_type="image/jpeg", site_id=site.id,
            crawl_id=crawl.id, via="img",
        )
        send_image_task(build_payload(found, context.settings, context.redis), ledger)

    def recorded() -> int:
        with context.db.session() as session:
            hashed, skipped, _ = image_counts(session, crawl.id)
        return hashed + skipped

    deadline = time.monotonic() + 60
    while recorded() < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.kill_hard()
    at_kill = recorded()
    assert 0 < at_kill < total, f"the kill must land mid-batch (recorded {at_kill})"

    second = WorkerProcess.start(context.settings, tmp_path / "w2.log", concurrency=2)
    try:
        second.wait_ready(celery_app)
        deadline = time.monotonic() + 120
        while recorded() < total and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        second.stop()
    events = ImageRecorder(context.db).events(crawl.id)
    urls = [event.url for event in events]
    assert len(urls) == total and len(set(urls)) == total
    assert all(event.status == "hashed" for event in events)
    assert ledger.pending() == 0, "every task crossed off the ledger"
    report(f"kill -9 after {at_kill}/{total} images; after restart {len(urls)} recorded once each")


def test_list_imported_while_worker_runs_is_matched_within_two_seconds(
    context, worker, celery_app
):
    site = _add_site(context, "http://images.example.invalid/")
    crawl = CrawlRepository(context.db).create(site.id)
    data = photo_jpeg(4242, (640, 480))
    hashes = hash_image(data)

    def send(n: int) -> dict:
        found = FoundImage(
            url=f"http://images.example.invalid/probe-{n}.jpg", page_url="http://x.invalid/",
            data=data, content_type="image/jpeg", site_id=site.id, crawl_id=crawl.id, via="img",
        )
        payload = build_payload(found, context.settings, context.redis)
        return hash_and_match.apply_async(args=[payload], ignore_result=False).get(timeout=30)

    assert send(0)["matches"] == 0
    entries = [ListEntry(v.algorithm, v.hex, "probe") for v in hashes.values]
    imported_at = time.monotonic()
    context.store.replace_list("late-list", entries, source="test")
    n = 1
    while True:
        result = send(n)
        if result["matches"]:
            break
        n += 1
        assert time.monotonic() - imported_at < 10, "worker never picked up the new list"
    lag = time.monotonic() - imported_at
    report(f"index sync lag from list import to a matching task: {lag * 1000:.0f} ms")
    assert lag < 2.0


def test_list_imported_during_a_crawl_is_used_for_the_rest_of_it(context, worker):
    site = build_demo_site(unlisted=40, unlisted_size=(240, 180), listed_seeds=range(0))
    target = photo_jpeg(777, (640, 480))
    app = site.app(extra_index_html='<a href="/late.html">late</a>')
    release = threading.Event()

    async def late_page(_: web.Request) -> web.Response:
        # The page carrying the listed image is served only once the list was imported, and
        # 2 s later: the promise is that workers use a new list within 2 s.
        await asyncio.to_thread(release.wait, 30)
        await asyncio.sleep(2.0)
        return web.Response(text='<html><body><img src="/late.jpg"></body></html>',
                            content_type="text/html")

    async def late_jpeg(_: web.Request) -> web.Response:
        return web.Response(body=target, content_type="image/jpeg")

    app.router.add_get("/late.html", late_page)
    app.router.add_get("/late.jpg", late_jpeg)

    def on_progress(progress) -> None:
        if progress.stats.pages_fetched >= 1 and not release.is_set():
            entries = [ListEntry(v.algorithm, v.hex, "late") for v in hash_image(target).values]
            context.store.replace_list("mid-crawl", entries, source="test")
            release.set()

    summary = crawl_on_loopback(context, app, on_progress=on_progress)
    matches = MatchRepository(context.db).list(crawl_id=summary.crawl.id)
    assert release.is_set()
    assert {m.image_url.rsplit("/", 1)[1] for m in matches} == {"late.jpg"}
    assert {m.list_name for m in matches} == {"mid-crawl"}


def test_undecodable_images_are_recorded_as_skipped_and_the_worker_goes_on(context, worker):
    site = _add_site(context, "http://images.example.invalid/")
    crawl = CrawlRepository(context.db).create(site.id)
    good = photo_jpeg(31, (320, 240))
    cases = {
        "garbage.jpg": b"this is not an image at all",
        "truncated.jpg": good[: len(good) // 3],
        "empty.png": b"",
        "html-as-image.jpg": b"<!doctype html><html><body>hello</body></html>",
        "good.jpg": good,
    }
    results = {}
    for name, data in cases.items():
        found = FoundImage(
            url=f"http://images.example.invalid/{name}", page_url="http://x.invalid/",
            data=data, content_type=None, site_id=site.id, crawl_id=crawl.id, via="img",
        )
        payload = build_payload(found, context.settings, context.redis)
        results[name] = hash_and_match.apply_async(
            args=[payload], ignore_result=False).get(timeout=60)
    assert results["good.jpg"]["status"] == "hashed"
    events = {e.url.rsplit("/", 1)[1]: e for e in ImageRecorder(context.db).events(crawl.id)}
    assert set(events) == set(cases), "every image has its record"
    for name in ("garbage.jpg", "truncated.jpg", "empty.png", "html-as-image.jpg"):
        assert results[name]["status"] == "skipped"
        assert events[name].status == "skipped" and events[name].skip_reason
    # Bytes handed over through Redis that are gone by the time the task runs.
    found = FoundImage(url="http://images.example.invalid/expired.jpg", page_url="http://x.invalid/",
                       data=b"", content_type=None, site_id=site.id, crawl_id=crawl.id, via="img")
    payload = build_payload(found, context.settings, context.redis)
    payload.pop("data", None)
    payload["data_key"] = f"{context.settings.redis_key_prefix}:imgbytes:missing"
    expired = hash_and_match.apply_async(args=[payload], ignore_result=False).get(timeout=60)
    assert expired["status"] == "skipped" and "expired" in expired["reason"]
    assert worker.process.poll() is None, "the worker is still running"
