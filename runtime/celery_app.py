"""The project's Celery app: Redis (or RabbitMQ) broker, JSON/msgpack payloads, late acks.

`configure(settings, redis_url)` must run before tasks are sent or a worker starts;
`spinneret worker` and the producers (crawl, demo) do it.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue
from kombu import pools as kombu_pools

from spinneret.config import Settings
from spinneret.runtime.redis_clients import broker_url_for, is_cluster, is_single_redis

IMAGES_QUEUE = "spinneret.images"
NOTICES_QUEUE = "spinneret.notices"

# Task names: producers send by name, so they never import the worker package.
HASH_AND_MATCH_TASK = "spinneret.hash_and_match"
SEND_NOTICES_TASK = "spinneret.notices.send"
RECHECK_TASK = "spinneret.notices.recheck"
REPORT_TASK = "spinneret.reports.fetch"  # one reported URL (runtime.reports)
RETRO_MATCH_TASK = "spinneret.lists.retro_match"

# worker.heartbeat: its Celery signal handlers make each worker process report its index.
app = Celery("spinneret", include=["spinneret.worker.tasks", "spinneret.worker.heartbeat"])


def result_backend_for(settings: Settings, redis_url: str, broker: str) -> str:
    """The store's Redis, unless that is a cluster: then the broker's Redis, or `rpc://`."""
    if not is_cluster(redis_url, settings.redis_cluster):
        return redis_url
    return broker if broker.startswith(("redis://", "rediss://")) else "rpc://"


def configure(settings: Settings, redis_url: str) -> Celery:
    broker = broker_url_for(settings, redis_url)
    # Drop pooled connections made under an earlier configuration (tests reconfigure):
    # kombu's global pools are keyed by URL alone, not by transport options.
    _drop_connection_pools()
    app.conf.update(
        broker_url=broker,
        # Results are recorded in SQL by the tasks themselves; the backend only serves
        # callers that wait on a task (tests, the demo).
        result_backend=result_backend_for(settings, redis_url, broker),
        result_expires=3600,
        task_serializer="msgpack",
        result_serializer="json",
        accept_content=["msgpack", "json"],
        # Messages carry image bytes: a broker that persists messages (RabbitMQ's default)
        # must keep them in memory only. A message lost with the broker is sent again from
        # the task ledger; notice jobs are re-derived from the SQL outbox by beat.
        task_default_delivery_mode="transient",
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.task_time_limit_s,
        task_soft_time_limit=settings.task_soft_time_limit_s,
        worker_max_memory_per_child=settings.worker_max_memory_kb,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout_s,
            # A worker killed while restoring unacked messages leaves this lock behind;
            # kombu's default (300 s) would hold back redelivery for five minutes.
            "unacked_mutex_expire": min(30.0, settings.broker_visibility_timeout_s),
            # Look for a dead worker's unacked tasks every few seconds (kombu's defaults
            # scan only every 10th 10 s tick, i.e. every 100 s).
            "unacked_restore_interval": max(1.0, min(10.0, settings.broker_visibility_timeout_s / 4)),
            "unacked_restore_throttle": 1,
            "global_keyprefix": f"{settings.redis_key_prefix}:celery:",
        }
        if is_single_redis(broker)
        else {},
        broker_connection_retry_on_startup=True,
        task_default_queue=IMAGES_QUEUE,
        task_queues=(Queue(IMAGES_QUEUE), Queue(NOTICES_QUEUE)),
        task_routes={"spinneret.notices.*": {"queue": NOTICES_QUEUE}},
        worker_hijack_root_logger=False,
        worker_send_task_events=True,
        task_send_sent_event=False,
        timezone="UTC",
        enable_utc=True,
        beat_schedule={
            "send-notices": {
                "task": SEND_NOTICES_TASK,
                "schedule": settings.notice_send_interval_s,
                "options": {"expires": settings.notice_send_interval_s},
            },
            "recheck-notices": {
                "task": RECHECK_TASK,
                "schedule": settings.recheck_poll_interval_s,
                "options": {"expires": settings.recheck_poll_interval_s},
            },
        },
    )
    return app


def _drop_connection_pools() -> None:
    kombu_pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
    app.__dict__.pop("control", None)  # its mailbox caches the old producer pool
    # The result backend is built once and kept: without this, a process reconfigured for
    # another Redis would still wait for results on the first one.
    backend = app._backend
    app._backend_cache = None
    if getattr(app._local, "backend", None) is not None:
        del app._local.backend
    if backend is not None:
        try:
            backend.client.close()  # a Redis backend; others have nothing to close here
        except Exception:  # noqa: BLE001 - the old backend may be gone already
            pass


def queue_depth(client, settings: Settings, queue: str = IMAGES_QUEUE) -> int:
    """Messages waiting in `queue` on the configured broker (Redis or RabbitMQ).

    `client` and `settings` are kept for callers of the earlier Redis-only version; the
    broker connection comes from the configured app, so a broker other than the store's
    Redis is counted correctly.
    """
    if not app.conf.broker_url:  # this process never configured the app (e.g. the API)
        if not settings.broker_url and settings.redis_url:  # the broker is the store's Redis
            return int(client.llen(f"{settings.redis_key_prefix}:celery:{queue}"))
        from spinneret.runtime.embedded_redis import EmbeddedRedis

        configure(settings, settings.redis_url or EmbeddedRedis(settings.data_dir).ensure_running())
    counter = BrokerQueueDepth()
    try:
        return counter(queue)
    finally:
        counter.close()


class BrokerQueueDepth:
    """Messages waiting in a broker queue: on AMQP a passive queue declare's message_count
    (the server counts), on Redis the transport's sum of the queue's priority lists. Keeps
    one broker connection; a queue not declared yet counts as empty."""

    def __init__(self, celery_app: Celery = app) -> None:
        self._app = celery_app
        self._connection = None

    def __call__(self, queue: str = IMAGES_QUEUE) -> int:
        for attempt in range(2):
            connection = self._connect()
            try:
                channel = connection.default_channel
                if connection.transport.driver_type == "redis":
                    # kombu's passive declare first checks EXISTS, which its Redis client
                    # does not prefix with global_keyprefix: every queue would look absent.
                    # Its size (LLEN over the priority lists) is prefixed correctly.
                    return int(channel._size(queue))
                ok = channel.queue_declare(queue=queue, passive=True)
                return int(ok.message_count)
            except connection.channel_errors:
                self.close()  # AMQP closes a channel whose passive declare failed
                return 0
            except connection.connection_errors:
                self.close()
                if attempt:
                    raise
        return 0

    def _connect(self):
        if self._connection is None:
            self._connection = self._app.connection_for_read()
            self._connection.ensure_connection(max_retries=3)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # closing a broken connection may fail; it is dropped anyway
                pass
            self._connection = None
