"""The project's Celery app: Redis (or RabbitMQ) broker, JSON/msgpack payloads, late acks.

`configure(settings, redis_url)` must run before tasks are sent or a worker starts;
`spinneret worker` and the producers (crawl, demo) do it.
"""

from __future__ import annotations

from celery import Celery
from kombu import Queue
from kombu import pools as kombu_pools

from config import Settings

IMAGES_QUEUE = "spinneret.images"
NOTICES_QUEUE = "spinneret.notices"

app = Celery("spinneret", include=["worker.tasks"])


def broker_url_for(settings: Settings, redis_url: str) -> str:
    return settings.broker_url or redis_url


def configure(settings: Settings, redis_url: str) -> Celery:
    broker = broker_url_for(settings, redis_url)
    # Drop pooled connections made under an earlier configuration (tests reconfigure):
    # kombu's global pools are keyed by URL alone, not by transport options.
    _drop_connection_pools()
    app.conf.update(
        broker_url=broker,
        # Results are recorded in SQL by the tasks themselves; the backend only serves
        # callers that wait on a task (tests, the demo).
        result_backend=redis_url,
        result_expires=3600,
        task_serializer="msgpack",
        result_serializer="json",
        accept_content=["msgpack", "json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_time_limit=settings.task_time_limit_s,
        task_soft_time_limit=settings.task_soft_time_limit_s,
        worker_max_memory_per_child=settings.worker_max_memory_kb,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout_s,
            "global_keyprefix": f"{settings.redis_key_prefix}:celery:",
        }
        if broker.startswith(("redis://", "rediss://", "unix://"))
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
                "task": "spinneret.notices.send",
                "schedule": settings.notice_send_interval_s,
                "options": {"expires": settings.notice_send_interval_s},
            },
            "recheck-notices": {
                "task": "spinneret.notices.recheck",
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


def queue_depth(client, settings: Settings, queue: str = IMAGES_QUEUE) -> int:
    """Messages waiting in a Redis-broker queue (0 when the broker is not Redis)."""
    return int(client.llen(f"{settings.redis_key_prefix}:celery:{queue}"))
