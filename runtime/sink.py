"""The crawler's image sink that queues each image as a Celery `hash_and_match` task."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid

import redis

from spinneret.config import Settings
from spinneret.crawler.types import FoundImage
from spinneret.runtime.celery_app import HASH_AND_MATCH_TASK, BrokerQueueDepth, app
from spinneret.runtime.ledger import TaskLedger, redeliver_stale

BYTES_KEY_TTL_S = 6 * 3600
DEPTH_CHECK_INTERVAL_S = 0.2


class CelerySink:
    """Sends images to workers; small ones inline (msgpack), large ones via a Redis key."""

    def __init__(self, settings: Settings, client: redis.Redis) -> None:
        self._settings = settings
        self._client = client
        self.sent = 0
        self.sent_urls: set[str] = set()
        self._depth = 0
        self._depth_checked_at = 0.0
        self._sent_since_check = 0
        self._queue_depth = BrokerQueueDepth()
        self._ledger = TaskLedger(client, settings.redis_key_prefix)

    def redeliver_stale(self) -> int:
        """Send again the tasks a broker lost (see runtime/ledger.py)."""
        return redeliver_stale(self._ledger, self._client, self._settings.redeliver_after_s)

    async def submit(self, image: FoundImage) -> None:
        payload = build_payload(image, self._settings, self._client)
        # Redis and the broker are blocking socket I/O; keep the crawler's event loop free.
        await asyncio.to_thread(send_image_task, payload, self._ledger)
        self.sent += 1
        self._sent_since_check += 1
        self.sent_urls.add(image.url)

    def needs_backout(self) -> bool:
        now = time.monotonic()
        if now - self._depth_checked_at >= DEPTH_CHECK_INTERVAL_S:
            self._depth = self._queue_depth()
            self._depth_checked_at = now
            self._sent_since_check = 0
        # Images sent since the last reading count as queued: a burst of fetches between
        # two readings must not overshoot the bound.
        return self._depth + self._sent_since_check > self._settings.queue_max_depth

    def close(self) -> None:
        self._queue_depth.close()


def send_image_task(payload: dict, ledger: TaskLedger) -> str:
    """File the task in the ledger, then send it; returns its id."""
    task_id = uuid.uuid4().hex
    ledger.add(task_id, payload)
    app.send_task(HASH_AND_MATCH_TASK, args=[payload], task_id=task_id)
    return task_id


def build_payload(image: FoundImage, settings: Settings, client: redis.Redis) -> dict:
    payload: dict = {
        "crawl_id": image.crawl_id,
        "site_id": image.site_id,
        "page_url": image.page_url,
        "image_url": image.url,
        "via": image.via,
        "sha256": hashlib.sha256(image.data).hexdigest(),
    }
    if len(image.data) > settings.inline_bytes_max:
        key = f"{settings.redis_key_prefix}:imgbytes:{uuid.uuid4().hex}"
        client.set(key, image.data, ex=BYTES_KEY_TTL_S)
        payload["data_key"] = key
    else:
        payload["data"] = image.data
    return payload
