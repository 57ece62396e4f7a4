"""Retro-match with the Celery pipeline: the import sends task "spinneret.lists.retro_match"
by name, a real `spinneret worker` process runs it (its following matcher, its database)
and keeps the outcome where the CLI and the API read it."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from spinneret.demo.edits import encode
from spinneret.demo.images import generate
from spinneret.matcher.hashing import HashOptions, hash_image
from spinneret.matcher.matching import Matcher, Thresholds
from spinneret.matcher.store import ListEntry
from spinneret.records.crawls import CrawlRepository
from spinneret.records.images import ImageRecorder
from spinneret.records.matches import MatchRepository
from spinneret.records.sites import SiteRepository
from spinneret.records.types import NewSite
from spinneret.runtime.celery_app import configure
from spinneret.runtime.context import AppContext
from spinneret.runtime.pipeline import ImageJob, ImageProcessor
from spinneret.runtime.retro_match import RetroResults, start_retro_match
from tests.api.served import free_port
from tests.worker_helpers import WorkerProcess


@pytest.fixture
def context(settings):
    ctx = AppContext(settings.model_copy(update={"pipeline": "celery",
                                                 "index_sync_interval_s": 0.2}))
    _ = ctx.db
    yield ctx
    ctx.close()


@pytest.fixture
def worker(context, tmp_path):
    proc = WorkerProcess.start(context.settings, tmp_path / "worker.log", concurrency=1,
                                SPINNERET_ALLOW_PRIVATE_NETWORKS="true")  # a loopback site
    proc.wait_ready(configure(context.settings, context.redis_url))
    yield proc
    proc.stop()


async def test_import_sends_the_task_and_a_worker_records_the_outcome(context, worker):
    data = encode(generate(51, (320, 240)))

    async def served(request: web.Request) -> web.Response:
        return web.Response(body=data, content_type="image/png")

    app = web.Application()
    app.router.add_get("/a.png", served)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        site_id = SiteRepository(context.db).add(NewSite(
            base_url=f"{base}/", name="celery", owner_email="owner@example.invalid")).id
        crawl_id = CrawlRepository(context.db).create(site_id).id
        ImageProcessor(Matcher(Thresholds.from_settings(context.settings)),
                       ImageRecorder(context.db), HashOptions.from_settings(context.settings)
                       ).process(ImageJob(crawl_id, site_id, f"{base}/", f"{base}/a.png"), data)
        pdq = hash_image(data, HashOptions(("pdq",))).get("pdq").hex
        imported = context.store.replace_list("X", [ListEntry("pdq", pdq, "a", "1")])
        queued = await asyncio.to_thread(start_retro_match, context, "X", imported.version)
        assert queued.summary == "v1 of list X: retro-match queued"
        results = RetroResults(context.store)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = results.get("X", imported.version)
            if found is not None and found.status in ("done", "failed"):
                break
            await asyncio.sleep(0.1)
        assert found.summary == "v1 of list X matched 1 images seen before", (
            worker.log_path.read_text()[-3000:])
        [match] = MatchRepository(context.db).list()
        assert (match.image_url, match.crawl_id, match.decision) == (f"{base}/a.png", None, "auto")
    finally:
        await runner.cleanup()
