"""Redis frontier of one crawl: page and image queues, the seen-set, in-flight items, stats.

Every key lives under `{prefix}:crawl:{<crawl_id>}:` (one hash tag per crawl, so the Lua
scripts work on Redis Cluster). An item is moved to the in-flight hash when popped and
removed from it when done; `requeue_inflight()` (called when a crawl starts or resumes)
puts back whatever a killed crawler was working on. Nothing else is ever fetched twice:
a URL enters a queue only if its canonical form was not yet in the seen-set.

Several crawler processes may work on one crawl: pops are atomic (a Lua script moves an
item from a queue to the in-flight hash), each process holds a lease in `owners`, in-flight
items are requeued only when no other live process could be working on them, and the crawl
is done when nothing is queued or in flight anywhere.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import redis.asyncio as aioredis
from yarl import URL

from spinneret.crawler.scope import url_key
from spinneret.crawler.types import CrawlStats

if TYPE_CHECKING:
    from spinneret.config import Settings

ItemKind = Literal["page", "image", "css", "sitemap"]
PAGES, IMAGES = 1, 2  # queue numbers: KEYS[1 + n] in the scripts

_ADD = """
local cap = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV, 4 do
  local status = 0
  if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
    status = 1
    if ARGV[i + 2] ~= '' then
      if redis.call('HINCRBY', KEYS[4], ARGV[i + 2], 1) > cap then status = 2 end
    end
    if status == 1 then
      redis.call('RPUSH', KEYS[1 + tonumber(ARGV[i + 1])], ARGV[i + 3])
    end
  end
  out[#out + 1] = status
end
return out
"""
_POP_BATCH = """
local n = tonumber(ARGV[1])
local d = tonumber(ARGV[2])
for i = 3, 2 + d do
  redis.call('HDEL', KEYS[1], ARGV[i])
end
local out = {}
for i = 3 + d, #ARGV do
  local q = tonumber(ARGV[i])
  while #out < n do
    local v = redis.call('LPOP', KEYS[1 + q])
    if not v then break end
    redis.call('HSET', KEYS[1], v, q)
    out[#out + 1] = v
  end
end
return out
"""
# KEYS: owners. ARGV: owner ('' = only count), now, lease_s. Renews the owner's lease, drops
# expired ones, returns how many OTHER owners hold a live lease.
_JOIN = """
local now = tonumber(ARGV[2])
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[3])) end
local items = redis.call('HGETALL', KEYS[1])
local others = 0
for i = 1, #items, 2 do
  if tonumber(items[i + 1]) < now then
    redis.call('HDEL', KEYS[1], items[i])
  elseif items[i] ~= ARGV[1] then
    others = others + 1
  end
end
return others
"""
# KEYS: pages, images, inflight. One consistent view: nothing queued and nothing in flight
# (anywhere, by any crawler) means the crawl is done.
_PENDING = """
return {redis.call('LLEN', KEYS[1]), redis.call('LLEN', KEYS[2]), redis.call('HLEN', KEYS[3])}
"""
_REQUEUE = """
local items = redis.call('HGETALL', KEYS[1])
for i = 1, #items, 2 do
  redis.call('LPUSH', KEYS[1 + tonumber(items[i + 1])], items[i])
end
redis.call('DEL', KEYS[1])
return #items / 2
"""


@dataclass(frozen=True)
class QueueItem:
    url: str
    kind: ItemKind
    depth: int = 0
    page_url: str = ""
    via: str = ""

    def encode(self) -> str:
        return json.dumps([self.url, self.kind, self.depth, self.page_url, self.via],
                          separators=(",", ":"))

    @classmethod
    def decode(cls, raw: bytes | str) -> QueueItem:
        url, kind, depth, page_url, via = json.loads(raw)
        return cls(url, kind, depth, page_url, via)

    @property
    def queue(self) -> int:
        return IMAGES if self.kind == "image" else PAGES


def crawl_key_base(prefix: str, crawl_id: int | str) -> str:
    """The start of every key of one crawl (one hash tag: one Redis Cluster slot)."""
    return f"{prefix}:crawl:{{{crawl_id}}}"


def stats_key(prefix: str, crawl_id: int | str) -> str:
    """The hash of a crawl's running counters (`pages_fetched`, ...), summed over its runs
    and processes; readable by monitoring while the crawl runs."""
    return f"{crawl_key_base(prefix, crawl_id)}:stats"


class RedisFrontier:
    def __init__(self, client: aioredis.Redis, prefix: str, crawl_id: int | str, *,
                 owns_client: bool = False) -> None:
        self.client = client
        self._owns_client = owns_client
        self.crawl_id = crawl_id
        base = crawl_key_base(prefix, crawl_id)
        self.base = base
        self.k_seen = f"{base}:seen"
        self.k_pages = f"{base}:q:pages"
        self.k_images = f"{base}:q:images"
        self.k_inflight = f"{base}:inflight"
        self.k_variants = f"{base}:qvariants"
        self.k_stats = stats_key(prefix, crawl_id)
        self.k_meta = f"{base}:meta"
        self.k_owners = f"{base}:owners"
        self._add = client.register_script(_ADD)
        self._pop_batch = client.register_script(_POP_BATCH)
        self._requeue = client.register_script(_REQUEUE)
        self._join = client.register_script(_JOIN)
        self._pending = client.register_script(_PENDING)

    @classmethod
    def from_settings(cls, settings: Settings, crawl_id: int | str) -> RedisFrontier:
        if not settings.redis_url:
            raise ValueError("settings.redis_url is not set (start the embedded Redis first)")
        client = aioredis.Redis.from_url(settings.redis_url)
        return cls(client, settings.redis_key_prefix, crawl_id, owns_client=True)

    async def close(self) -> None:
        """Close the Redis client if this frontier created it (from_settings)."""
        if self._owns_client:
            await self.client.aclose()

    def keys(self) -> list[str]:
        return [self.k_seen, self.k_pages, self.k_images, self.k_inflight, self.k_variants,
                self.k_stats, self.k_meta, self.k_owners]

    async def add(self, items: Sequence[QueueItem], max_query_variants: int = 100) -> list[str]:
        """Queue the items whose URL was not seen before. Pages with a query string count
        against `max_query_variants` per (host, path); past it they are dropped.
        Returns one status per item: "added", "seen" or "query_trap"."""
        if not items:
            return []
        args: list[str | bytes | int] = [max_query_variants]
        for item in items:
            variant = ""
            if item.kind == "page" and "?" in item.url:
                parsed = URL(item.url)
                if parsed.raw_query_string:
                    variant = f"{parsed.host}:{parsed.port}{parsed.raw_path}"
            args += [url_key(item.url), item.queue, variant, item.encode()]
        statuses = await self._add(keys=[self.k_seen, self.k_pages, self.k_images,
                                         self.k_variants], args=args)
        return [("seen", "added", "query_trap")[int(status)] for status in statuses]

    async def mark_seen(self, url: str) -> bool:
        """Add a URL (e.g. a redirect target) to the seen-set; False if it was there."""
        return bool(await self.client.sadd(self.k_seen, url_key(url)))

    async def pop_batch(self, queues: Iterable[int], n: int, done: Sequence[bytes] = (),
                        ) -> list[tuple[QueueItem, bytes]]:
        """Mark `done` items done, then pop up to `n` items (queues in order of preference)
        into the in-flight set; one round trip."""
        args: list[int | bytes] = [n, len(done), *done, *queues]
        raws = await self._pop_batch(keys=[self.k_inflight, self.k_pages, self.k_images],
                                     args=args)
        return [(QueueItem.decode(raw), raw) for raw in raws]

    async def done_many(self, raws: Sequence[bytes]) -> None:
        if raws:
            await self.client.hdel(self.k_inflight, *raws)

    async def inflight(self) -> list[QueueItem]:
        return [QueueItem.decode(raw) for raw in await self.client.hkeys(self.k_inflight)]

    async def requeue_inflight(self) -> int:
        return int(await self._requeue(keys=[self.k_inflight, self.k_pages, self.k_images]))

    # --- several crawler processes on one crawl ------------------------------------
    async def join(self, owner: str, lease_s: float) -> int:
        """Register (or renew) `owner` as a crawler of this crawl for `lease_s`; returns how
        many other crawlers hold a live lease."""
        return int(await self._join(keys=[self.k_owners], args=[owner, time.time(), lease_s]))

    async def leave(self, owner: str) -> int:
        """Drop `owner`'s lease; returns how many other crawlers still hold one."""
        await self.client.hdel(self.k_owners, owner)
        return await self.live_owners()

    async def live_owners(self) -> int:
        return int(await self._join(keys=[self.k_owners], args=["", time.time(), 0]))

    async def pending(self) -> tuple[int, int, int]:
        """(pages queued, images queued, items in flight), read atomically."""
        pages, images, inflight = await self._pending(
            keys=[self.k_pages, self.k_images, self.k_inflight])
        return int(pages), int(images), int(inflight)

    async def queue_lengths(self) -> tuple[int, int]:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.llen(self.k_pages)
            pipe.llen(self.k_images)
            pages, images = await pipe.execute()
        return int(pages), int(images)

    # --- stats and state --------------------------------------------------------
    async def add_stats(self, deltas: dict[str, float]) -> None:
        if not deltas:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for name, value in deltas.items():
                if isinstance(value, float) and not value.is_integer():
                    pipe.hincrbyfloat(self.k_stats, name, value)
                else:
                    pipe.hincrby(self.k_stats, name, int(value))
            await pipe.execute()

    async def load_stats(self) -> CrawlStats:
        raw = await self.client.hgetall(self.k_stats)
        return CrawlStats.from_fields({key.decode(): float(value) for key, value in raw.items()})

    async def started(self) -> bool:
        return bool(await self.client.hexists(self.k_meta, "started_at"))

    async def set_meta(self, **values: str | float | int) -> None:
        await self.client.hset(self.k_meta, mapping={k: str(v) for k, v in values.items()})

    async def get_meta(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in (await self.client.hgetall(self.k_meta)).items()}

    async def clear(self) -> None:
        """Forget the crawl (queues, seen-set, stats). Call only when it will not resume."""
        await self.client.delete(*self.keys())
