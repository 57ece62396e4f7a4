"""Worker heartbeats in Redis: the key layout, writing a beat and reading the live ones.

Each worker process that holds a hash index writes `{prefix}:workers:{<prefix>}:hb:<worker>`
(JSON: worker id, host, pid, index version, entries per algorithm, time); the key expires
after a few intervals, so a killed worker disappears by itself. The ids are also kept in a
set, `...:live`, so readers find them without SCAN (one hash tag: one slot on a Redis
Cluster); readers drop ids whose key has expired. The beating thread is the worker's
(`spinneret.worker.heartbeat`); readers (the API's /metrics) only need this module.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field

import redis

log = logging.getLogger(__name__)


def _keys(prefix: str) -> tuple[str, str]:
    base = f"{prefix}:workers:{{{prefix}}}"
    return f"{base}:live", f"{base}:hb:"


@dataclass(frozen=True)
class WorkerBeat:
    worker: str
    host: str
    pid: int
    index_version: int
    index_size: dict[str, int] = field(default_factory=dict)
    at: float = 0.0

    @property
    def entries(self) -> int:
        return sum(self.index_size.values())


def write_beat(client: redis.Redis, prefix: str, beat: WorkerBeat, ttl_s: float) -> None:
    live, key = _keys(prefix)
    pipe = client.pipeline(transaction=False)
    pipe.set(key + beat.worker, json.dumps(dataclasses.asdict(beat)), px=max(1, int(ttl_s * 1000)))
    pipe.sadd(live, beat.worker)
    pipe.execute()


def remove_beat(client: redis.Redis, prefix: str, worker: str) -> None:
    live, key = _keys(prefix)
    pipe = client.pipeline(transaction=False)
    pipe.delete(key + worker)
    pipe.srem(live, worker)
    pipe.execute()


def live_workers(client: redis.Redis, prefix: str) -> list[WorkerBeat]:
    """Every worker process whose heartbeat has not expired, by worker id."""
    live, key = _keys(prefix)
    workers = sorted(m.decode() if isinstance(m, bytes) else m for m in client.smembers(live))
    if not workers:
        return []
    values = client.mget([key + worker for worker in workers])
    beats, gone = [], []
    for worker, value in zip(workers, values, strict=True):
        if value is None:
            gone.append(worker)
            continue
        try:
            beats.append(WorkerBeat(**json.loads(value)))
        except (TypeError, ValueError):
            log.warning("ignoring a malformed heartbeat of worker %s", worker)
    if gone:  # a live worker removed here by a race adds itself back at its next beat
        client.srem(live, *gone)
    return beats
