"""Worker heartbeats: each worker process that holds a hash index says in Redis which store
version its index is at, so the API can export live workers and lagging indexes.

A process writes `{prefix}:workers:{<prefix>}:hb:<worker>` (JSON: worker id, host, pid, index
version, entries per algorithm, time) every `worker_heartbeat_s`, and at once when its index
changes; the key expires after three intervals, so a killed worker disappears by itself. The
ids are also kept in a set, `...:live`, so readers find them without SCAN (one hash tag: one
slot on a Redis Cluster); readers drop ids whose key has expired.

Started by Celery signals (this module is in the app's `include`): in every prefork child
and the solo pool's process (`worker_process_init`), in the threads pool's worker process
(`worker_ready`). The thread only reads the process's worker state, never builds it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import redis
from celery import signals

from spinneret.runtime.heartbeats import WorkerBeat, remove_beat, write_beat
from spinneret.runtime.redis_clients import sync_client

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 0.5  # how often the index version is looked at (a change is sent at once)
TTL_INTERVALS = 3


class Heartbeat:
    """The beating thread of one worker process."""

    def __init__(self, worker: str, state_getter=None) -> None:
        from spinneret.runtime.worker_state import current_worker_state

        self.worker = worker
        self._state = state_getter or current_worker_state
        self._stop = threading.Event()
        self._client: redis.Redis | None = None
        self._prefix = ""
        self._thread = threading.Thread(target=self._run, name="spinneret-heartbeat",
                                        daemon=True)

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def _run(self) -> None:
        sent, sent_at = None, 0.0
        while not self._stop.wait(CHECK_INTERVAL_S):
            state = self._state()
            if state is None:  # no index in this process yet
                continue
            settings = state.context.settings
            try:
                if self._client is None:  # its own client: the state's closes at shutdown
                    self._client = sync_client(state.context.redis_url, settings.redis_cluster)
                    self._prefix = settings.redis_key_prefix
                now = (state.matcher.version, state.matcher.size())
                if now != sent or time.monotonic() - sent_at >= settings.worker_heartbeat_s:
                    write_beat(self._client, self._prefix, WorkerBeat(
                        self.worker, socket.gethostname(), os.getpid(), now[0], now[1],
                        time.time()), TTL_INTERVALS * settings.worker_heartbeat_s)
                    sent, sent_at = now, time.monotonic()
            except redis.RedisError as exc:
                log.warning("worker heartbeat: %s; retrying", exc)
            except Exception:  # never let the thread die silently
                log.exception("worker heartbeat failed; retrying")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._client is not None:
            try:
                remove_beat(self._client, self._prefix, self.worker)
            except redis.RedisError:
                pass  # the key expires anyway
            self._client.close()


_beat: Heartbeat | None = None


def start_heartbeat(nodename: str | None) -> None:
    global _beat
    if _beat is None:
        _beat = Heartbeat(f"{nodename or socket.gethostname()}/{os.getpid()}").start()


def stop_heartbeat() -> None:
    global _beat
    if _beat is not None:
        _beat.stop()
        _beat = None


@signals.worker_process_init.connect
def _beat_in_pool_process(sender=None, **_: object) -> None:
    start_heartbeat(sender)


@signals.worker_ready.connect
def _beat_in_threads_pool(sender=None, **_: object) -> None:
    pool = getattr(sender, "pool", None)
    if type(pool).__module__ == "celery.concurrency.thread":  # tasks run in this process
        start_heartbeat(getattr(sender, "hostname", None))


@signals.worker_process_shutdown.connect
@signals.worker_shutdown.connect
def _stop_beating(**_: object) -> None:
    stop_heartbeat()
