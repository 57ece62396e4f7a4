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
from spinneret.runtime.pipeline_sink import PendingUrls, RecordedAmong
from spinneret.runtime.task_payload import ImageTaskPayload

BYTES_KEY_TTL_S = 6 * 3600
DEPTH_CHECK_INTERVAL_S = 0.2


class CelerySink:
    """A `PipelineSink` that sends images to workers; small ones inline (msgpack), large ones
    via a Redis key.

    `recorded_among` (which of these URLs have a record) lets `sent_urls` drop what workers
    have recorded; without it the set keeps every URL sent.
    """

    def __init__(self, settings: Settings, client: redis.Redis, *,
                 recorded_among: RecordedAmong | None = None) -> None:
        self._settings = settings
        self._client = client
        self.sent = 0
        self.sent_urls = PendingUrls()
        self._recorded_among = recorded_among
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
        # Redis, the broker and SQL are blocking I/O; keep the crawler's event loop free.
        await asyncio.to_thread(send_image_task, payload, self._ledger)
        self.sent += 1
        self._sent_since_check += 1
        self.sent_urls.add(image.url)
        if self._recorded_among is not None and self.sent_urls.due_for_pruning():
            await self._prune_recorded()

    async def _prune_recorded(self) -> None:
        pending = self.sent_urls
        pending.pruning = True
        try:
            recorded = await asyncio.to_thread(self._recorded_among, set(pending))
        finally:
            pending.pruning = False
        pending.forget(recorded)

    def needs_backout(self) -> bool:
        now = time.monotonic()
        if now - self._depth_checked_at >= DEPTH_CHECK_INTERVAL_S:
            self._depth = self._queue_depth()
            self._depth_checked_at = now
            self._sent_since_check = 0
        # Images sent since the last reading count as queued: a burst of fetches between
        # two readings must not overshoot the bound.
        return self._depth + self._sent_since_check > self._settings.queue_max_depth

    async def drain(self) -> None:
        """Nothing to wait for: `submit` returns once the task is with the broker."""

    def close(self) -> None:
        self._queue_depth.close()


def send_image_task(payload: dict, ledger: TaskLedger) -> str:
    """File the task in the ledger, then send it; returns its id."""
    task_id = uuid.uuid4().hex
    ledger.add(task_id, payload)
    app.send_task(HASH_AND_MATCH_TASK, args=[payload], task_id=task_id)
    return task_id


def build_payload(image: FoundImage, settings: Settings, client: redis.Redis) -> dict:
    """The task message for `image`; bytes over `inline_bytes_max` go through a Redis key."""
    data_key = None
    if len(image.data) > settings.inline_bytes_max:
        data_key = f"{settings.redis_key_prefix}:imgbytes:{uuid.uuid4().hex}"
        client.set(data_key, image.data, ex=BYTES_KEY_TTL_S)
    return ImageTaskPayload(
        crawl_id=image.crawl_id, site_id=image.site_id, page_url=image.page_url,
        image_url=image.url, via=image.via, sha256=hashlib.sha256(image.data).hexdigest(),
        data=None if data_key else image.data, data_key=data_key,
    ).to_message()
