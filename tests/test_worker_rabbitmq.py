"""The Celery pipeline with RabbitMQ as broker: the crawler's backpressure reads the queue
depth from RabbitMQ while a real `spinneret worker` drains it. (Crawl to match and the other
pipeline tests run on RabbitMQ in test_worker_pipeline_rabbitmq.py.)

Skipped, with the reason, when RabbitMQ does not answer (tests/rabbitmq.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from spinneret.crawler.types import FoundImage
from spinneret.records.crawls import CrawlRepository, image_counts
from spinneret.records.images import ImageRecorder
from spinneret.records.sites import SiteRepository
from spinneret.records.types import NewSite
from spinneret.runtime.celery_app import IMAGES_QUEUE, BrokerQueueDepth, configure
from spinneret.runtime.context import AppContext
from spinneret.runtime.sink import CelerySink, build_payload
from spinneret.worker.tasks import hash_and_match
from tests.rabbitmq import back_to_the_redis_broker
from tests.test_scale_out import _png
from tests.worker_helpers import WorkerProcess


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
    back_to_the_redis_broker(context)


def _start_worker(context, tmp_path, celery_app) -> WorkerProcess:
    worker = WorkerProcess.start(context.settings, tmp_path / "worker.log", concurrency=2)
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



def test_image_messages_are_transient_on_rabbitmq(context, celery_app):
    """RabbitMQ writes persistent messages to disk; messages carrying image bytes must stay
    in memory (Spinneret never stores image bytes)."""
    found = FoundImage(url="http://images.example.invalid/t.png", page_url="http://x.invalid/",
                       data=_png(1), content_type="image/png", site_id=1, crawl_id=1, via="img")
    hash_and_match.apply_async(args=[build_payload(found, context.settings, context.redis)])
    with celery_app.connection_for_write() as connection:
        channel = connection.default_channel
        message = None
        deadline = time.monotonic() + 10
        while message is None:
            assert time.monotonic() < deadline, "the task never reached RabbitMQ"
            message = channel.basic_get(IMAGES_QUEUE, no_ack=True)
            time.sleep(0.05)
        assert message.properties["delivery_mode"] == 1  # transient, not 2 (persistent)
