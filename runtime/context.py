"""The composition root: builds Redis clients, the fingerprint store, the matcher and the
record repositories from settings. Used by the CLI, the API and the workers alike.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import TYPE_CHECKING

import redis
import redis.asyncio as aioredis

from spinneret.config import Settings, get_settings
from spinneret.config.secrets import install_log_masking
from spinneret.matcher.store import FingerprintStore
from spinneret.runtime import redis_clients
from spinneret.runtime.embedded_redis import EmbeddedRedis

if TYPE_CHECKING:
    from spinneret.matcher.following import FollowingMatcher
    from spinneret.records.db import Database


class AppContext:
    """Lazily built shared parts. One per process (or per test)."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        # Whatever this process logs from now on, its secrets are masked in it.
        install_log_masking(self.settings.secret_values())

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

    @functools.cached_property
    def broker_url(self) -> str:
        """The Celery broker (on the embedded default, its memory-only server)."""
        return redis_clients.broker_url_for(self.settings, self.redis_url)

    @functools.cached_property
    def transit_redis(self) -> redis.Redis:
        """The Redis where image bytes wait for a worker (task ledger, imgbytes keys), as
        `redis_clients.transit_url_for` chooses it: never the persistent store unless the
        settings leave no other Redis."""
        url = redis_clients.transit_url_for(self.settings, self.redis_url)
        return self.redis if url == self.redis_url else redis_clients.single_client(url)

    def new_async_redis(self) -> aioredis.Redis:
        """A fresh asyncio client (the caller closes it), a cluster one if settings say so."""
        return redis_clients.async_client(self.redis_url, self.settings.redis_cluster)

    @functools.cached_property
    def store(self) -> FingerprintStore:
        return FingerprintStore(self.redis, self.settings.redis_key_prefix)

    def following_matcher(self) -> FollowingMatcher:
        """A new matcher loaded from the store and started (its thread applies the store's
        changes), with the settings' thresholds, dihedral matching and sync interval: what
        every worker process and the API match with. The caller stops it."""
        # Imported here: numpy and the index kernels only for the processes that match.
        from spinneret.matcher.following import FollowingMatcher
        from spinneret.matcher.matching import Thresholds

        settings = self.settings
        return FollowingMatcher(
            self.store, Thresholds.from_settings(settings), dihedral=settings.match_dihedral,
            poll_interval_s=settings.index_sync_interval_s,
        ).start()

    @functools.cached_property
    def db(self) -> Database:
        """The records database, migrated to the latest schema on first use."""
        from spinneret.records.db import (
            Database,  # SQLAlchemy: only for the commands that use records
        )

        database = Database.from_settings(self.settings)
        database.upgrade()
        return database

    def close(self) -> None:
        for client in ("redis", "transit_redis"):
            if client in self.__dict__:
                self.__dict__[client].close()
        if "db" in self.__dict__:
            self.db.dispose()


@contextlib.contextmanager
def app_context(settings: Settings | None = None) -> Iterator[AppContext]:
    """An `AppContext` closed when the block ends: `with app_context() as context:`."""
    context = AppContext(settings)
    try:
        yield context
    finally:
        context.close()
