"""Retro-match with the Celery pipeline: the import sends task "spinneret.lists.retro_match"
by name, a real `spinneret worker` process runs it (its following matcher, its database)
and keeps the outcome where the CLI and the API read it."""

from __future__ import annotations

import asyncio
import time

import pytest

from spinneret.demo.edits import encode
from spinneret.demo.images import generate
from spinneret.matcher.hashing import HashOptions, hash_image
from spinneret.matcher.store import ListEntry
from spinneret.records.matches import MatchRepository
from spinneret.runtime.celery_app import configure
from spinneret.runtime.context import AppContext
from spinneret.runtime.retro_match import RetroResults, start_retro_match
from tests.sites import Route, build_site, serving
from tests.worker_helpers import WorkerProcess, crawled


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
    async with serving(build_site({"/a.png": Route(body=data, content_type="image/png")})
                       ) as base:
        crawled(context.db, context.settings, base, {"/a.png": data}, name="celery")
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
