"""The composition root: builds Redis clients, the fingerprint store, the matcher and the
record repositories from settings. Used by the CLI, the API and the workers alike.
"""

from __future__ import annotations

import functools

import redis
import redis.asyncio as aioredis

from config import Settings, get_settings
from matcher.store import FingerprintStore
from records.db import Database
from spinneret import redis_clients
from spinneret.embedded_redis import EmbeddedRedis


class AppContext:
    """Lazily built shared parts. One per process (or per test)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    @functools.cached_property
    def redis_url(self) -> str:
        """`SPINNERET_REDIS_URL`, else the embedded server (started if needed)."""
        if self.settings.redis_url:
            return self.settings.redis_url
        return EmbeddedRedis(self.settings.data_dir).ensure_running()

    @property
    def redis_cluster(self) -> bool:
        """True when the store and frontier live on a Redis Cluster (see redis_clients)."""
        return redis_clients.is_cluster(self.redis_url, self.settings.redis_cluster)

    @functools.cached_property
    def redis(self) -> redis.Redis:
        """Synchronous client: a `redis.cluster.RedisCluster` when settings name a cluster."""
        return redis_clients.sync_client(self.redis_url, self.settings.redis_cluster)

    def new_async_redis(self) -> aioredis.Redis:
        """A fresh asyncio client (the caller closes it), a cluster one if settings say so."""
        return redis_clients.async_client(self.redis_url, self.settings.redis_cluster)

    @functools.cached_property
    def store(self) -> FingerprintStore:
        return FingerprintStore(self.redis, self.settings.redis_key_prefix)

    @functools.cached_property
    def db(self) -> Database:
        """The records database, migrated to the latest schema on first use."""
        database = Database.from_settings(self.settings)
        database.upgrade()
        return database

    def close(self) -> None:
        if "redis" in self.__dict__:
            self.redis.close()
        if "db" in self.__dict__:
            self.db.dispose()
