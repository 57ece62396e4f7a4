"""Every image task sent but not yet recorded, kept in Redis so a lost one is sent again.

Celery's Redis transport pops a message with BRPOP: once the server has handed it over it
is gone from the queue, and a worker killed in the instant before it files the message as
unacked loses it for good. The ledger makes the pipeline at-least-once on any broker: the
producer writes the payload here before sending, the task crosses it off once its record
is committed, and a sweeper re-sends what stayed too long. Recording is idempotent, so a
task sent twice still records once.

The ledger also counts the starts of each task that never ended: a task whose worker is
killed under it (hard time limit, memory, crash) would otherwise be re-sent forever.
"""

from __future__ import annotations

import time

import msgpack
import redis

# Add ARGV[2] to the task's count of unended starts, if the task is on the ledger (else 0).
_COUNT_START = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
return redis.call('HINCRBY', KEYS[2], ARGV[1], ARGV[2])
"""


class TaskLedger:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        tag = "{" + prefix + ":ledger}"  # every key in one Redis Cluster slot
        self.due_key = f"{prefix}:ledger:{tag}:due"
        self.payloads_key = f"{prefix}:ledger:{tag}:payloads"
        self.starts_key = f"{prefix}:ledger:{tag}:starts"
        self.lock_key = f"{prefix}:ledger:{tag}:sweep"
        self._count_start = client.register_script(_COUNT_START)

    def add(self, task_id: str, payload: dict) -> None:
        pipe = self._client.pipeline(transaction=True)
        pipe.hset(self.payloads_key, task_id, msgpack.packb(payload, use_bin_type=True))
        pipe.zadd(self.due_key, {task_id: time.time()})
        pipe.execute()

    def done(self, task_id: str) -> None:
        pipe = self._client.pipeline(transaction=True)
        pipe.hdel(self.payloads_key, task_id)
        pipe.hdel(self.starts_key, task_id)
        pipe.zrem(self.due_key, task_id)
        pipe.execute()

    def started(self, task_id: str) -> int:
        """Count a start of the task; returns its starts that have not ended, this one
        included (0 for a task not on the ledger). A start that never ends is one whose
        worker was killed under it."""
        return int(self._count_start(keys=[self.payloads_key, self.starts_key],
                                     args=[task_id, 1]))

    def ended_alive(self, task_id: str) -> None:
        """The start ended without a record but not killed (a retry follows): uncount it."""
        self._count_start(keys=[self.payloads_key, self.starts_key], args=[task_id, -1])

    def pending(self) -> int:
        return int(self._client.zcard(self.due_key))

    def stale(self, older_than_s: float, limit: int = 500) -> list[tuple[str, dict]]:
        """Tasks sent more than `older_than_s` ago and not yet crossed off."""
        ids = self._client.zrangebyscore(self.due_key, 0, time.time() - older_than_s,
                                         start=0, num=limit)
        if not ids:
            return []
        raw = self._client.hmget(self.payloads_key, ids)
        out = []
        for task_id, packed in zip(ids, raw, strict=True):
            if packed is None:  # crossed off meanwhile
                self._client.zrem(self.due_key, task_id)
                continue
            out.append((task_id.decode(), msgpack.unpackb(packed, raw=False)))
        return out

    def touch(self, task_id: str) -> None:
        self._client.zadd(self.due_key, {task_id: time.time()}, xx=True)


def redeliver_stale(ledger: TaskLedger, client: redis.Redis, older_than_s: float) -> int:
    """Send again every task older than `older_than_s` (one sweeper at a time)."""
    from spinneret.runtime.celery_app import HASH_AND_MATCH_TASK, app

    lock = client.lock(ledger.lock_key, timeout=max(30.0, older_than_s), blocking=False)
    if not lock.acquire(blocking=False):
        return 0
    try:
        stale = ledger.stale(older_than_s)
        for task_id, payload in stale:
            app.send_task(HASH_AND_MATCH_TASK, args=[payload], task_id=task_id)
            ledger.touch(task_id)
        return len(stale)
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            pass
