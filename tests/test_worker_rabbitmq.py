"""The Celery pipeline with RabbitMQ as broker: a real `spinneret worker` consuming from a real
RabbitMQ (127.0.0.1:5672, guest/guest, or SPINNERET_TEST_AMQP_URL), crawl to match, and the
crawler's backpressure reading the queue depth from RabbitMQ.

Each test module run gets its own vhost when `rabbitmqctl` can make one; else the default
vhost is used. Skipped, with the reason, when RabbitMQ does not answer.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from crawler.types import FoundImage
from records.crawls import CrawlRepository, image_counts
from records.images import ImageRecorder
from records.matches import MatchRepository
from records.sites import SiteRepository
from records.types import NewSite
from spinneret.context import AppContext
from spinneret.demo.run import demo_list_entries
from spinneret.demo.site import build_demo_site
from tests.test_scale_out import _png
from tests.worker_helpers import WorkerProcess, crawl_on_loopback
from worker.celery_app import BrokerQueueDepth, configure
from worker.sink import CelerySink, build_payload
from worker.tasks import hash_and_match

DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672//"


def _answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 5672), timeout=1):
            return True
    except OSError:
        return False


def _rabbitmqctl(*args: str) -> bool:
    if not shutil.which("rabbitmqctl"):
        return False
    try:
        return subprocess.run(["rabbitmqctl", *args], capture_output=True,
                              timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="module")
def amqp_url() -> Iterator[str]:
    base = os.environ.get("SPINNERET_TEST_AMQP_URL", DEFAULT_AMQP)
    if not _answers(base):
        pytest.skip(f"RabbitMQ does not answer at {base}")
    vhost = f"spinneret-test-{uuid.uuid4().hex[:8]}"
    user = urlsplit(base).username or "guest"
    if _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl(
            "set_permissions", "-p", vhost, user, ".*", ".*", ".*"):
        parts = urlsplit(base)
        yield f"{parts.scheme}://{parts.netloc}/{vhost}"
        _rabbitmqctl("delete_vhost", vhost)
    else:
        yield base


@pytest.fixture
def context(settings, amqp_url) -> Iterator[AppContext]:
    ctx = AppContext(settings.model_copy(update={
        "pipeline": "celery", "broker_url": amqp_url, "index_sync_interval_s": 0.2,
        "queue_max_depth": 3,
    }))
    _ = ctx.db
    yield ctx
    ctx.close()


@pytest.fixture
def celery_app(context):
    app = configure(context.settings, context.redis_url)
    yield app
    configure(context.settings.model_copy(update={"broker_url": None}), context.redis_url)


def _start_worker(context, tmp_path, celery_app) -> WorkerProcess:
    worker = WorkerProcess.start(context.settings, tmp_path / "worker.log", concurrency=2,
                                 SPINNERET_BROKER_URL=context.settings.broker_url)
    worker.wait_ready(celery_app, timeout_s=90)
    return worker


def test_queue_depth_and_backpressure_on_rabbitmq(context, celery_app, tmp_path):
    site = SiteRepository(context.db).add(NewSite(
        base_url="http://images.example.invalid/", name="rabbit", owner_email="o@example.invalid"))
    crawl = CrawlRepository(context.db).create(site.id)
    depth = BrokerQueueDepth()
    sink = CelerySink(context.settings, context.redis)
    try:
        assert depth() == 0, "a queue nobody declared yet counts as empty"
        for n in range(6):
            found = FoundImage(
                url=f"http://images.example.invalid/{n}.png", page_url="http://x.invalid/",
                data=_png(n), content_type="image/png", site_id=site.id, crawl_id=crawl.id,
                via="img")
            hash_and_match.apply_async(args=[build_payload(found, context.settings,
                                                           context.redis)])
        deadline = time.monotonic() + 10
        while depth() < 6:
            assert time.monotonic() < deadline, f"RabbitMQ reports {depth()} messages"
            time.sleep(0.1)
        assert sink.needs_backout(), "6 waiting > queue_max_depth 3: the crawler backs out"

        worker = _start_worker(context, tmp_path, celery_app)
        try:
            deadline = time.monotonic() + 60
            while True:
                with context.db.session() as session:
                    hashed, skipped, _ = image_counts(session, crawl.id)
                if hashed + skipped >= 6:
                    break
                assert time.monotonic() < deadline, "worker did not drain the queue"
                time.sleep(0.2)
        finally:
            worker.stop()
        assert depth() == 0
        time.sleep(0.25)  # the sink reads the depth at most every 0.2 s
        assert not sink.needs_backout()
        urls = [event.url for event in ImageRecorder(context.db).events(crawl.id)]
        assert len(urls) == len(set(urls)) == 6
    finally:
        depth.close()
        sink.close()


def test_crawl_to_match_through_a_worker_on_rabbitmq(context, celery_app, tmp_path):
    context.store.replace_list("demo-authority", demo_list_entries(), source="demo")
    site = build_demo_site(unlisted=30, unlisted_size=(240, 180))
    worker = _start_worker(context, tmp_path, celery_app)

    try:
        summary = crawl_on_loopback(context, site.app(), "rabbitsite")
    finally:
        worker.stop()
    assert summary.crawl.status == "finished"
    assert summary.crawl.images_hashed == len(site.images)
    matches = MatchRepository(context.db).list(crawl_id=summary.crawl.id, limit=10_000)
    flagged = {m.image_url.split("/", 3)[3] for m in matches}
    assert flagged == {image.path.lstrip("/") for image in site.listed}
