"""Redis restarted under a running crawl and under a list import: the crawl finishes with
every image recorded exactly once, and the import is either whole or absent."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from spinneret.config import Settings
from spinneret.demo.site import build_demo_site, serve_on_loopback
from spinneret.matcher.store import FingerprintStore
from spinneret.records.images import ImageRecorder
from spinneret.records.sites import SiteRepository
from spinneret.records.types import NewSite
from spinneret.runtime.celery_app import configure
from spinneret.runtime.context import AppContext
from spinneret.runtime.crawling import run_crawl
from spinneret.runtime.ledger import TaskLedger
from spinneret.runtime.sink import build_payload, send_image_task
from tests.conftest import report, run_cli
from tests.fault.redis_server import OwnRedis
from tests.worker_helpers import (
    WorkerProcess,
    found_image,
    new_crawl,
    photo_jpeg,
    pipeline_context,
)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path / "own-redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_settings(own_redis: OwnRedis, data_dir: Path, test_database_url) -> Settings:
    return Settings(
        data_dir=data_dir, redis_url=own_redis.url, redis_key_prefix="fault",
        allow_private_networks=True, database_url=test_database_url,
        pipeline="inprocess", hash_processes=1,
    )


async def test_redis_restarted_mid_crawl_every_image_recorded_once(own_redis, own_settings):
    images = 60
    site = build_demo_site(listed_seeds=range(0), unlisted=images, unlisted_size=(160, 120))
    context = AppContext(own_settings)
    runner, base_url = await serve_on_loopback(site.app())
    try:
        SiteRepository(context.db).add(NewSite(base_url=base_url, name="restart",
                                               owner_email="owner@example.invalid",
                                               rate_per_s=25))
        crawl = asyncio.create_task(run_crawl(context, "restart"))
        while sum(1 for path in site.requests if path.startswith("/img/")) < 15:
            assert not crawl.done(), "the crawl ended before Redis could be restarted"
            await asyncio.sleep(0.02)
        fetched_at_restart = sum(1 for path in site.requests if path.startswith("/img/"))
        await asyncio.to_thread(own_redis.restart, 1.0)
        summary = await asyncio.wait_for(crawl, 180)
    finally:
        await runner.cleanup()
        context.close()
    assert fetched_at_restart < images, "the restart must land mid-crawl"
    assert summary.crawl.status == "finished", summary.crawl.failure_reason
    events = ImageRecorder(context.db).events(summary.crawl.id)
    urls = [event.url for event in events]
    assert len(urls) == len(set(urls)) == images, "every image recorded, and only once"
    assert summary.crawl.images_hashed == images
    report(f"redis restarted after {fetched_at_restart}/{images} image fetches; "
           f"crawl finished with {len(urls)} images recorded once each")


def _pdq_rows(seed: int, count: int) -> list[str]:
    rnd = random.Random(seed)
    return [f"pdq,{rnd.getrandbits(256):064x},label-{n}" for n in range(count)]


def test_redis_restarted_mid_list_import_list_is_whole_or_absent(own_redis, own_settings,
                                                                  tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPINNERET_")}
    env.update(SPINNERET_DATA_DIR=str(own_settings.data_dir),
               SPINNERET_REDIS_URL=own_redis.url, SPINNERET_REDIS_KEY_PREFIX="fault")
    old_rows, new_rows = _pdq_rows(1, 1000), _pdq_rows(2, 120_000)
    old_file, new_file = tmp_path / "old.csv", tmp_path / "new.csv"
    old_file.write_text("algorithm,hash,label\n" + "\n".join(old_rows) + "\n")
    new_file.write_text("algorithm,hash,label\n" + "\n".join(new_rows) + "\n")
    assert run_cli("lists", "import", str(old_file), "--list", "big", env=env).returncode == 0

    client = redis.Redis.from_url(own_redis.url)
    importing = subprocess.Popen(
        [sys.executable, "-m", "spinneret", "lists", "import", str(new_file), "--list", "big"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    aside_pattern = "fault:list:{big}:e:*"
    written = 0
    deadline = time.monotonic() + 120
    while written < 20_000 and time.monotonic() < deadline:
        keys = list(client.scan_iter(match=aside_pattern))
        written = max([0, *(client.hlen(k) for k in keys if client.hlen(k) != len(old_rows))])
        assert importing.poll() is None, "the import ended before Redis could be restarted"
        time.sleep(0.01)
    client.close()
    own_redis.restart(1.0)
    out, err = importing.communicate(timeout=300)

    store = FingerprintStore(redis.Redis.from_url(own_redis.url), "fault")
    stored = {(e.hash, e.label) for e in store.entries("big")}
    expected_new = {tuple(row.split(",")[1:]) for row in new_rows}
    expected_old = {tuple(row.split(",")[1:]) for row in old_rows}
    if importing.returncode == 0:
        assert stored == expected_new and store.get_list("big").counts == {"pdq": 120_000}
        outcome = "finished after the restart: the new list whole"
    else:
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
        assert stored == expected_old and store.get_list("big").version == 1
        outcome = f"failed with one line ({err.strip()}): the old list whole"
    report(f"redis restarted {written:,} entries into a 120,000-entry import; {outcome}")


def test_cli_against_a_stopped_redis_says_so_in_one_line(own_redis, own_settings, tmp_path):
    own_redis.stop()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPINNERET_")}
    env.update(SPINNERET_DATA_DIR=str(own_settings.data_dir),
               SPINNERET_REDIS_URL=own_redis.url, SPINNERET_REDIS_KEY_PREFIX="fault")
    result = run_cli("lists", "ls", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: Redis unreachable: ")
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_redis_restarted_under_a_celery_worker_every_image_recorded_once(
        own_redis, own_settings, tmp_path):
    """The broker, task ledger, image bytes and store all on the restarted server: the worker
    reconnects, and every task sent before the restart is recorded exactly once."""
    context = pipeline_context(own_settings.model_copy(update={"pipeline": "celery"}))
    celery_app = configure(context.settings, context.redis_url)
    worker = WorkerProcess.start(context.settings, tmp_path / "worker.log", concurrency=1)
    total = 40
    try:
        worker.wait_ready(celery_app)
        crawl = new_crawl(context)
        ledger = TaskLedger(context.transit_redis, context.settings.redis_key_prefix)
        photos = [photo_jpeg(seed, (2048, 1536)) for seed in range(6)]
        for n in range(total):
            image = found_image(crawl, f"{n}.jpg", photos[n % len(photos)])
            send_image_task(build_payload(image, context.settings, context.transit_redis),
                            ledger)

        def recorded() -> int:
            return len(ImageRecorder(context.db).events(crawl.id))

        deadline = time.monotonic() + 120
        while recorded() < 3:
            assert time.monotonic() < deadline, worker.log_path.read_text()[-3000:]
            time.sleep(0.05)
        at_restart = recorded()
        own_redis.restart(1.0)
        deadline = time.monotonic() + 240
        while recorded() < total and time.monotonic() < deadline:
            time.sleep(0.2)
        urls = [event.url for event in ImageRecorder(context.db).events(crawl.id)]
    finally:
        worker.stop()
        context.close()
    assert at_restart < total, "the restart must land mid-batch"
    assert len(urls) == len(set(urls)) == total, (len(urls), len(set(urls)))
    report(f"redis restarted under a Celery worker after {at_restart}/{total} images; "
           f"{len(urls)} recorded once each")
