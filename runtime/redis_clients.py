"""Redis clients from settings: a single server, or a Redis Cluster.

A cluster is named by `redis+cluster://host:port[,...]` (or `rediss+cluster://`) in
`SPINNERET_REDIS_URL`, or by a plain `redis://` URL of one node with
`SPINNERET_REDIS_CLUSTER=true`. Every key the store and the frontier write carries a hash
tag, so their scripts and pipelines never span two slots.

The Celery broker, and with it every image's bytes on their way to a worker, may be
another server: `broker_url_for` and `transit_url_for` say which.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from spinneret.runtime.errors import SpinneretError

if TYPE_CHECKING:
    from spinneret.config import Settings

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

#: A Redis restart (or failover) takes seconds; redis-py's default retries (jittered, often
#: under a second in all) fail a crawl or an import over it. These ride out about 6 s
#: (0.05 s doubling to 1 s), short enough that a command against a dead server still fails soon.
RESTART_RETRIES = 10
_RETRY_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError,
                 TimeoutError, ConnectionError)


def _restart_backoff() -> ExponentialBackoff:
    return ExponentialBackoff(cap=1.0, base=0.05)


class RedisConfigError(SpinneretError):
    """The Redis settings name no usable server or cluster."""


def is_cluster(url: str, cluster_flag: bool = False) -> bool:
    return cluster_flag or url.split("://", 1)[0].lower() in CLUSTER_SCHEMES


def node_url(url: str) -> str:
    """The plain `redis://` URL of the (first) node a cluster URL names."""
    scheme, _, rest = url.partition("://")
    plain = CLUSTER_SCHEMES.get(scheme.lower(), scheme)
    hosts, slash, path = rest.partition("/")
    creds, at, hostlist = hosts.rpartition("@")
    first = hostlist.split(",", 1)[0]
    return f"{plain}://{creds}{at}{first}{slash}{path}"


def startup_nodes(url: str) -> list[tuple[str, int]]:
    """Every host:port a cluster URL lists (`redis+cluster://a:7000,b:7001`)."""
    rest = url.partition("://")[2].partition("/")[0].rpartition("@")[2]
    nodes = []
    for part in rest.split(","):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            raise RedisConfigError(f"bad Redis Cluster node {part!r} in {url!r} (use host:port)")
        nodes.append((host.strip("[]"), int(port)))
    return nodes


def sync_client(url: str, cluster_flag: bool = False) -> redis.Redis | RedisCluster:
    if not is_cluster(url, cluster_flag):
        return single_client(url)
    from redis.cluster import ClusterNode

    nodes = [ClusterNode(host, port) for host, port in startup_nodes(url)]
    return RedisCluster.from_url(node_url(url), startup_nodes=nodes)


def single_client(url: str) -> redis.Redis:
    """A client of one server that rides out its restart (see `RESTART_RETRIES`)."""
    return redis.Redis.from_url(url, retry=Retry(_restart_backoff(), RESTART_RETRIES,
                                                 _RETRY_ERRORS))


def async_client(url: str, cluster_flag: bool = False) -> aioredis.Redis | AsyncRedisCluster:
    if not is_cluster(url, cluster_flag):
        return aioredis.Redis.from_url(
            url, retry=AsyncRetry(_restart_backoff(), RESTART_RETRIES, _RETRY_ERRORS))
    from redis.asyncio.cluster import ClusterNode

    nodes = [ClusterNode(host, port) for host, port in startup_nodes(url)]
    return AsyncRedisCluster.from_url(node_url(url), startup_nodes=nodes)


def broker_url_for(settings: Settings, redis_url: str) -> str:
    """The Celery broker: `SPINNERET_BROKER_URL`; else, on the embedded default, its
    memory-only server (started if needed); else the store's Redis at `redis_url`."""
    if settings.broker_url:
        return settings.broker_url
    if not settings.redis_url:
        from spinneret.runtime.embedded_redis import EmbeddedRedis

        return EmbeddedRedis.broker(settings.data_dir).ensure_running()
    if is_cluster(redis_url, settings.redis_cluster):
        # Celery's Redis transport does not speak Redis Cluster.
        raise RedisConfigError(
            "the store is on a Redis Cluster: set SPINNERET_BROKER_URL to a plain Redis "
            "(redis://...) or RabbitMQ (amqp://...) broker"
        )
    return redis_url


def transit_url_for(settings: Settings, redis_url: str) -> str:
    """Where image bytes wait for a worker beside their Celery messages (the task ledger,
    imgbytes keys): `SPINNERET_TRANSIT_REDIS_URL`; else the broker's Redis when the broker is
    one; else the store's Redis."""
    if settings.transit_redis_url:
        return settings.transit_redis_url
    try:
        broker = broker_url_for(settings, redis_url)
    except RedisConfigError:
        return redis_url
    return broker if is_single_redis(broker) else redis_url


def is_single_redis(url: str) -> bool:
    """A URL of one Redis server (not a cluster, not another broker such as RabbitMQ)."""
    return url.split("://", 1)[0].lower() in ("redis", "rediss", "unix")
